"""Weekly working hours, holidays, time zones and DST (CONTRACT "Directory file"; SPEC R3.4, R3.6, R6.3).

Pure rules, no server: ``routing.hours`` is checked against examples and against an independent
oracle that reads the same wall-clock semantics straight from the contract.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.hours import DAYS, Window, describe, is_open, next_opening, parse_hours, window_at, zone

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SALES = {"mon-fri": "09:00-17:00", "sat": "10:00-14:00"}  # the CONTRACT example skill
XMAS = frozenset({date(2026, 12, 25)})
NONE: frozenset[date] = frozenset()


def local(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    """An aware instant given as local wall time in ``tz``."""
    return datetime(*args, tzinfo=tz, fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def days_of(hours_spec: dict) -> dict[int, list[tuple[int, int]]]:
    windows = parse_hours(hours_spec).windows
    result: dict[int, list[tuple[int, int]]] = {}
    for w in windows:
        result.setdefault(w.day, []).append((w.start, w.end))
    return result


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "days"), [
    ("mon", [0]),
    ("sun", [6]),
    ("mon-fri", [0, 1, 2, 3, 4]),
    ("sat-sun", [5, 6]),
    ("mon-sun", [0, 1, 2, 3, 4, 5, 6]),
    ("fri-mon", [0, 4, 5, 6]),  # a range may wrap past Sunday
    ("sun-tue", [0, 1, 6]),
    ("mon,wed", [0, 2]),
    ("mon, wed,fri", [0, 2, 4]),
    ("Mon-Fri", [0, 1, 2, 3, 4]),
    ("sat,mon-tue", [0, 1, 5]),
])
def test_day_keys(key: str, days: list[int]) -> None:
    hours = parse_hours({key: "09:00-17:00"})
    assert sorted({w.day for w in hours.windows}) == days
    assert all((w.start, w.end) == (540, 1020) for w in hours.windows)


def test_several_spans_for_one_key_are_a_list() -> None:
    hours = parse_hours({"sat": ["10:00-12:00", "13:00-15:30"], "mon-fri": "09:00-17:00"})
    assert [(w.start, w.end) for w in hours.on(5)] == [(600, 720), (780, 930)]
    assert [w.label for w in hours.on(5)] == ["Sat 10:00-12:00", "Sat 13:00-15:30"]
    assert hours.on(6) == []
    assert hours.spec == {"sat": ["10:00-12:00", "13:00-15:30"], "mon-fri": ["09:00-17:00"]}


def test_24_00_is_allowed_as_an_end() -> None:
    hours = parse_hours({"sat-sun": "00:00-24:00"})
    assert days_of({"sat-sun": "00:00-24:00"}) == {5: [(0, 1440)], 6: [(0, 1440)]}
    assert is_open(hours, NONE, NY, local(NY, 2026, 11, 28, 23, 59, 59))
    assert not is_open(hours, NONE, NY, local(NY, 2026, 11, 30, 0, 0))  # Monday


def test_overnight_window_runs_past_midnight_into_the_next_day() -> None:
    hours = parse_hours({"mon": "17:00-09:00"})
    assert days_of({"mon": "17:00-09:00"}) == {0: [(1020, 1440)], 1: [(0, 540)]}
    # Both halves keep the label the window was written with, for reasons in the timeline.
    assert {w.label for w in hours.windows} == {"Mon 17:00-09:00"}
    assert window_at(hours, NONE, NY, local(NY, 2026, 11, 24, 8, 59)).label == "Mon 17:00-09:00"
    assert not is_open(hours, NONE, NY, local(NY, 2026, 11, 24, 9, 0))
    assert not is_open(hours, NONE, NY, local(NY, 2026, 11, 23, 8, 0))  # Monday morning: Sunday has none


def test_overnight_window_on_sunday_wraps_to_monday() -> None:
    assert days_of({"sun": "22:00-06:00"}) == {6: [(1320, 1440)], 0: [(0, 360)]}


def test_overnight_to_midnight_has_no_next_day_part() -> None:
    assert days_of({"fri": "17:00-00:00"}) == {4: [(1020, 1440)]}


def test_weekday_overnight_and_whole_weekend_together() -> None:
    spec = {"mon-fri": "17:00-09:00", "sat-sun": "00:00-24:00"}
    hours = parse_hours(spec)
    assert is_open(hours, NONE, BERLIN, local(BERLIN, 2026, 11, 27, 23, 0))  # Fri night
    assert is_open(hours, NONE, BERLIN, local(BERLIN, 2026, 11, 28, 8, 0))  # Sat, both cover it
    assert is_open(hours, NONE, BERLIN, local(BERLIN, 2026, 11, 29, 23, 59))  # Sun
    # An overnight window belongs to the day it starts: nothing runs from Sunday into Monday.
    assert not is_open(hours, NONE, BERLIN, local(BERLIN, 2026, 11, 30, 8, 0))
    assert is_open(hours, NONE, BERLIN, local(BERLIN, 2026, 12, 1, 8, 0))  # Tue, from Mon 17:00
    assert not is_open(hours, NONE, BERLIN, local(BERLIN, 2026, 12, 1, 12, 0))


@pytest.mark.parametrize(("spec", "named"), [
    ({"monday": "09:00-17:00"}, "'monday'"),
    ({"mon-xyz": "09:00-17:00"}, "'mon-xyz'"),
    ({"mon,": "09:00-17:00"}, "'mon,'"),
    ({"": "09:00-17:00"}, "''"),
    ({"mon": "9:00-17:00"}, "'9:00-17:00'"),
    ({"mon": "9-17"}, "'9-17'"),
    ({"mon": "09:00 - 17:00x"}, "'09:00 - 17:00x'"),
    ({"mon": "09:00-25:00"}, "'09:00-25:00'"),
    ({"mon": "09:60-10:00"}, "'09:60-10:00'"),
    ({"mon": "24:00-09:00"}, "'24:00-09:00'"),  # 24:00 only as an end
    ({"mon": "09:00-24:30"}, "'09:00-24:30'"),
    ({"mon": "09:00-09:00"}, "'09:00-09:00'"),  # empty
    ({"mon": ["09:00-12:00", "13:00-1700"]}, "'13:00-1700'"),
    ({"mon": []}, "'mon'"),
    ({"mon": 9}, "'mon'"),
    ({"mon": None}, "'mon'"),
])
def test_bad_hours_are_refused_naming_the_value(spec: dict, named: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_hours(spec)
    assert named in str(info.value)


@pytest.mark.parametrize("spec", [{}, "Mon-Fri 9-17", ["09:00-17:00"], None])
def test_hours_must_be_a_non_empty_mapping(spec: object) -> None:
    with pytest.raises(ValueError, match="mapping"):
        parse_hours(spec)


def test_zone_names_an_unknown_time_zone() -> None:
    assert zone("America/New_York") == NY
    for bad in ("Mars/Olympus_Mons", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="unknown time zone"):
            zone(bad)


# --- is_open / window_at ---------------------------------------------------------------------


def test_open_inside_and_closed_outside_the_windows() -> None:
    hours = parse_hours(SALES)
    monday = (2026, 11, 23)
    assert not is_open(hours, NONE, NY, local(NY, *monday, 8, 59, 59))
    assert window_at(hours, NONE, NY, local(NY, *monday, 9, 0)) == Window(0, 540, 1020, "Mon 09:00-17:00")
    assert is_open(hours, NONE, NY, local(NY, *monday, 16, 59, 59))
    assert not is_open(hours, NONE, NY, local(NY, *monday, 17, 0))  # the end is exclusive
    saturday = (2026, 11, 28)
    assert window_at(hours, NONE, NY, local(NY, *saturday, 13, 0)).label == "Sat 10:00-14:00"
    assert not is_open(hours, NONE, NY, local(NY, *saturday, 14, 0))
    assert not is_open(hours, NONE, NY, local(NY, 2026, 11, 29, 12, 0))  # Sunday


def test_hours_are_read_in_the_account_time_zone() -> None:
    hours = parse_hours({"mon-fri": "09:00-17:00"})
    instant = utc(2026, 11, 23, 15, 0)  # Mon 10:00 in New York, 16:00 in Berlin, 15:00 in London
    assert is_open(hours, NONE, NY, instant)
    assert is_open(hours, NONE, BERLIN, instant)
    assert not is_open(hours, NONE, ZoneInfo("Asia/Tokyo"), instant)  # Tue 00:00 there
    assert not is_open(hours, NONE, NY, utc(2026, 11, 23, 13, 59))  # 08:59 in New York


def test_a_holiday_closes_the_whole_local_date() -> None:
    hours = parse_hours(SALES)
    assert not is_open(hours, XMAS, NY, local(NY, 2026, 12, 25, 10, 0))  # a Friday
    assert window_at(hours, XMAS, NY, local(NY, 2026, 12, 25, 10, 0)) is None
    assert is_open(hours, XMAS, NY, local(NY, 2026, 12, 24, 10, 0))
    assert is_open(hours, XMAS, NY, local(NY, 2026, 12, 26, 10, 0))  # Saturday hours


def test_no_hours_is_always_open_except_holidays_in_local_time() -> None:
    assert is_open(None, NONE, NY, utc(2026, 12, 25, 12, 0))
    assert window_at(None, NONE, NY, utc(2026, 12, 25, 12, 0)).label == "always open"
    # 03:00 UTC on the 26th is still the 25th in New York, and the 25th is the holiday there.
    assert not is_open(None, XMAS, NY, utc(2026, 12, 26, 3, 0))
    assert is_open(None, XMAS, NY, utc(2026, 12, 25, 3, 0))  # still the 24th in New York
    assert is_open(None, XMAS, BERLIN, utc(2026, 12, 26, 3, 0))


def test_an_overnight_window_is_closed_on_a_holiday_morning() -> None:
    hours = parse_hours({"thu": "17:00-09:00"})
    assert is_open(hours, NONE, NY, local(NY, 2026, 12, 25, 8, 0))
    assert not is_open(hours, XMAS, NY, local(NY, 2026, 12, 25, 8, 0))
    assert is_open(hours, XMAS, NY, local(NY, 2026, 12, 24, 23, 0))


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(None, NONE, NY, datetime(2026, 11, 23, 10, 0))


def test_describe_names_local_day_time_and_zone() -> None:
    assert describe(utc(2026, 11, 28, 23, 5), NY) == "Sat 18:05 America/New_York"
    assert describe(utc(2026, 11, 28, 23, 5), BERLIN) == "Sun 00:05 Europe/Berlin"


# --- next_opening (SPEC R6.3 names the next opening time) --------------------------------------


def test_next_opening_is_now_when_open() -> None:
    now = local(NY, 2026, 11, 23, 10, 30)
    assert next_opening(parse_hours(SALES), NONE, NY, now) == now


@pytest.mark.parametrize(("now", "opening"), [
    (local(NY, 2026, 11, 23, 7, 0), local(NY, 2026, 11, 23, 9, 0)),  # Mon early
    (local(NY, 2026, 11, 27, 18, 0), local(NY, 2026, 11, 28, 10, 0)),  # Fri evening -> Sat
    (local(NY, 2026, 11, 28, 15, 0), local(NY, 2026, 11, 30, 9, 0)),  # Sat afternoon -> Mon
    (local(NY, 2026, 11, 29, 23, 59), local(NY, 2026, 11, 30, 9, 0)),
    (local(NY, 2026, 11, 23, 17, 0), local(NY, 2026, 11, 24, 9, 0)),  # the end is closed
])
def test_next_opening(now: datetime, opening: datetime) -> None:
    assert next_opening(parse_hours(SALES), XMAS, NY, now) == opening


def test_next_opening_skips_a_holiday() -> None:
    # Thu Dec 24 evening; Fri Dec 25 is a holiday; Saturday opens at 10:00.
    assert next_opening(parse_hours(SALES), XMAS, NY, local(NY, 2026, 12, 24, 18, 0)) == \
        local(NY, 2026, 12, 26, 10, 0)


def test_next_opening_skips_a_holiday_and_a_weekend() -> None:
    hours = parse_hours({"mon-fri": "09:00-17:00"})
    holidays = frozenset({date(2026, 12, 25), date(2026, 12, 28)})
    assert next_opening(hours, holidays, NY, local(NY, 2026, 12, 24, 17, 30)) == local(NY, 2026, 12, 29, 9, 0)


def test_next_opening_without_hours_is_the_midnight_after_the_holidays() -> None:
    holidays = frozenset({date(2026, 12, 25), date(2026, 12, 26)})
    assert next_opening(None, holidays, NY, local(NY, 2026, 12, 25, 12, 0)) == local(NY, 2026, 12, 27, 0, 0)


def test_next_opening_inside_an_overnight_window_after_midnight() -> None:
    hours = parse_hours({"fri": "22:00-06:00"})
    assert next_opening(hours, NONE, NY, local(NY, 2026, 11, 28, 3, 0)) == local(NY, 2026, 11, 28, 3, 0)
    assert next_opening(hours, NONE, NY, local(NY, 2026, 11, 28, 6, 0)) == local(NY, 2026, 12, 4, 22, 0)


def test_next_opening_is_none_when_holidays_cover_every_window() -> None:
    hours = parse_hours({"mon": "09:00-10:00"})
    start = date(2026, 1, 1)
    holidays = frozenset(start + timedelta(days=i) for i in range(500))
    assert next_opening(hours, holidays, NY, local(NY, 2026, 1, 1, 12, 0)) is None


# --- DST: windows are wall-clock times (CONTRACT "in the account's time zone") -------------------

DST_DAYS = [
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
]


@pytest.mark.parametrize(("zone_name", "change"), DST_DAYS)
def test_dst_window_stays_at_local_wall_time(zone_name: str, change: date) -> None:
    tz = ZoneInfo(zone_name)
    hours = parse_hours({"mon-sun": "09:00-17:00"})
    offsets = set()
    for day in (change - timedelta(days=1), change, change + timedelta(days=1)):
        at = lambda h, m: local(tz, day.year, day.month, day.day, h, m)  # noqa: E731
        assert not is_open(hours, NONE, tz, at(8, 59)), day
        assert is_open(hours, NONE, tz, at(9, 0)), day
        assert is_open(hours, NONE, tz, at(16, 59)), day
        assert not is_open(hours, NONE, tz, at(17, 0)), day
        assert window_at(hours, NONE, tz, at(12, 0)).label.endswith("09:00-17:00")
        offsets.add(at(9, 0).utcoffset())
    assert len(offsets) == 2  # the same wall time really is a different UTC instant across the change


def test_dst_new_york_opening_in_utc_moves_by_an_hour() -> None:
    hours = parse_hours({"mon-fri": "09:00-17:00"})
    # Friday 2026-03-06 evening (EST) -> Monday 2026-03-09 09:00 EDT = 13:00 UTC (14:00 UTC before).
    opening = next_opening(hours, NONE, NY, local(NY, 2026, 3, 6, 18, 0))
    assert opening == utc(2026, 3, 9, 13, 0)
    assert opening.astimezone(NY).hour == 9
    assert is_open(hours, NONE, NY, utc(2026, 3, 6, 14, 0))
    assert not is_open(hours, NONE, NY, utc(2026, 3, 9, 12, 59))
    # Fall back: Friday 2026-10-30 09:00 EDT is 13:00 UTC; Monday 2026-11-02 09:00 EST is 14:00 UTC.
    assert next_opening(hours, NONE, NY, local(NY, 2026, 10, 30, 18, 0)) == utc(2026, 11, 2, 14, 0)


def test_dst_berlin_overnight_window_spans_the_change() -> None:
    hours = parse_hours({"sat": "22:00-06:00"})
    # Sat 2026-03-28 22:00 CET to Sun 06:00 CEST: seven hours of real time, not eight.
    opens, closes = local(BERLIN, 2026, 3, 28, 22, 0), local(BERLIN, 2026, 3, 29, 6, 0)
    assert closes.astimezone(UTC) - opens.astimezone(UTC) == timedelta(hours=7)
    assert is_open(hours, NONE, BERLIN, closes - timedelta(minutes=1))
    assert not is_open(hours, NONE, BERLIN, closes)
    # Sat 2026-10-24 22:00 CEST to Sun 06:00 CET: nine hours.
    assert is_open(hours, NONE, BERLIN, utc(2026, 10, 25, 4, 59))
    assert not is_open(hours, NONE, BERLIN, utc(2026, 10, 25, 5, 0))


def test_dst_next_opening_for_a_window_starting_inside_the_skipped_hour() -> None:
    # New York skips 02:00-03:00 on 2026-03-08: a window written 02:30-04:00 opens at 03:00 EDT.
    hours = parse_hours({"sun": "02:30-04:00"})
    opening = next_opening(hours, NONE, NY, local(NY, 2026, 3, 8, 1, 0))
    assert opening == utc(2026, 3, 8, 7, 0)
    assert opening.astimezone(NY).strftime("%H:%M") == "03:00"
    assert is_open(hours, NONE, NY, opening)


def test_dst_a_window_inside_the_skipped_hour_does_not_exist_that_day() -> None:
    hours = parse_hours({"sun": "02:10-02:50"})
    opening = next_opening(hours, NONE, NY, local(NY, 2026, 3, 8, 1, 0))
    assert opening == local(NY, 2026, 3, 15, 2, 10)


def test_dst_next_opening_for_the_repeated_hour() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01: 01:15-01:45 happens twice, EDT then EST.
    hours = parse_hours({"sun": "01:15-01:45"})
    between = local(NY, 2026, 11, 1, 1, 50)  # first (EDT) pass, after the window
    assert not is_open(hours, NONE, NY, between)
    opening = next_opening(hours, NONE, NY, between)
    # Compare in UTC: Python never finds a fold=1 instant equal to one in another zone.
    assert opening.astimezone(UTC) == utc(2026, 11, 1, 6, 15)
    assert opening.astimezone(NY).strftime("%H:%M %Z") == "01:15 EST"


def test_dst_next_opening_when_the_clock_falls_back_into_a_window() -> None:
    # 00:00-01:30 closes at 01:30 EDT and opens again when the clock falls back to 01:00 EST.
    hours = parse_hours({"sun": "00:00-01:30"})
    opening = next_opening(hours, NONE, NY, local(NY, 2026, 11, 1, 1, 45))
    assert opening.astimezone(UTC) == utc(2026, 11, 1, 6, 0)
    assert opening.astimezone(NY).strftime("%H:%M %Z") == "01:00 EST"


# --- properties --------------------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
         "America/Santiago", "Asia/Kolkata", "Pacific/Chatham", "America/Los_Angeles"]
START, END = datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 12, 31, 23, 59, tzinfo=UTC)


def _transitions(name: str) -> list[datetime]:
    """Instants, to the minute, when ``name`` changes its UTC offset, 2025-2028."""
    tz, found, at = ZoneInfo(name), [], START
    while at < END:
        low, high = at, at + timedelta(days=1)
        if low.astimezone(tz).utcoffset() != high.astimezone(tz).utcoffset():
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) // 2
                same = middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            found.append(high.replace(second=0, microsecond=0))
        at += timedelta(days=1)
    return found


CHANGES = [(name, t) for name in ZONES for t in _transitions(name)]

instants = st.one_of(
    st.datetimes(min_value=START.replace(tzinfo=None), max_value=END.replace(tzinfo=None),
                 timezones=st.just(UTC)),
    # Bias towards DST weeks, where wall time and real time part.
    st.builds(lambda change, m: change[1] + timedelta(minutes=m), st.sampled_from(CHANGES),
              st.integers(-4 * 1440, 4 * 1440)),
)
zones = st.sampled_from(ZONES).map(ZoneInfo)

day_keys = st.one_of(
    st.sampled_from(DAYS),
    st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)).map("-".join),
    st.lists(st.sampled_from(DAYS), min_size=2, max_size=3, unique=True).map(",".join),
)
minutes = st.one_of(st.integers(0, 96).map(lambda q: q * 15), st.integers(0, 1440))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


spans = st.tuples(minutes.filter(lambda m: m < 1440), minutes).filter(lambda se: se[0] != se[1]).map(
    lambda se: f"{_hhmm(se[0])}-{_hhmm(se[1])}")
hours_specs = st.dictionaries(day_keys, st.one_of(spans, st.lists(spans, min_size=1, max_size=3)),
                              min_size=1, max_size=4)


def _key_days(key: str) -> set[int]:
    """The oracle's reading of a day key: a day, a (wrapping) range, or a comma list."""
    result: set[int] = set()
    for part in key.split(","):
        first, _, last = part.partition("-")
        day = DAYS.index(first)
        result.add(day)
        while last and DAYS[day] != last:
            day = (day + 1) % 7
            result.add(day)
    return result


def _span(text: str) -> tuple[int, int]:
    start, end = text.split("-")
    return int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:])


OracleWindow = tuple[set[int], int, int]


def oracle_windows(spec: dict | None) -> list[OracleWindow] | None:
    """The oracle's reading of an hours spec: (days, start, end) as written; None means no hours."""
    if spec is None:
        return None
    return [(_key_days(key), *_span(text)) for key, value in spec.items()
            for text in (value if isinstance(value, list) else [value])]


def oracle_open(windows: list[OracleWindow] | None, holidays: frozenset[date], tz: ZoneInfo,
                instant: datetime) -> bool:
    """Open iff the local date is no holiday and the local weekday/minute is inside a window.

    A window whose end is before its start runs from its day into the next one.
    """
    wall = instant.astimezone(tz)
    if wall.date() in holidays:
        return False
    if windows is None:
        return True
    weekday, minute = wall.weekday(), wall.hour * 60 + wall.minute + wall.second / 60
    yesterday = (weekday - 1) % 7
    for days, start, end in windows:
        if start < end and weekday in days and start <= minute < end:
            return True
        if start > end and ((weekday in days and minute >= start) or (yesterday in days and minute < end)):
            return True
    return False


@st.composite
def holidays_near(draw: st.DrawFn, instant: datetime, tz: ZoneInfo) -> frozenset[date]:
    """A few holidays around the instant's local date, so they actually matter."""
    today = instant.astimezone(tz).date()
    return frozenset(today + timedelta(days=d) for d in draw(st.lists(st.integers(-1, 9), max_size=3)))


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(spec=hours_specs, tz=zones, instant=instants, data=st.data())
def test_property_is_open_matches_local_wall_time(spec: dict, tz: ZoneInfo, instant: datetime,
                                                  data: st.DataObject) -> None:
    holidays = data.draw(holidays_near(instant, tz))
    hours = parse_hours(spec)
    expected = oracle_open(oracle_windows(spec), holidays, tz, instant)
    assert is_open(hours, holidays, tz, instant) is expected
    window = window_at(hours, holidays, tz, instant)
    assert (window is not None) is expected
    if window is not None:
        assert window.day == instant.astimezone(tz).weekday()


@settings(max_examples=50, deadline=None)
@given(tz=zones, instant=instants, data=st.data())
def test_property_no_hours_is_always_open_except_holidays(tz: ZoneInfo, instant: datetime,
                                                          data: st.DataObject) -> None:
    holidays = data.draw(holidays_near(instant, tz))
    assert is_open(None, holidays, tz, instant) is (instant.astimezone(tz).date() not in holidays)


SCAN = 300  # minutes checked after ``t`` and before the opening: enough to catch a late or early answer


def _assert_is_next_opening(spec: dict | None, holidays: frozenset[date], tz: ZoneInfo, t: datetime) -> None:
    hours, windows = parse_hours(spec) if spec is not None else None, oracle_windows(spec)
    opening = next_opening(hours, holidays, tz, t)
    assert opening is not None
    opening = opening.astimezone(UTC)  # compare in UTC (see test_dst_next_opening_for_the_repeated_hour)
    assert opening >= t
    assert is_open(hours, holidays, tz, opening)
    assert oracle_open(windows, holidays, tz, opening)
    if opening == t:
        return
    assert not oracle_open(windows, holidays, tz, t)
    first = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    probes = [first + timedelta(minutes=i) for i in range(SCAN)]
    probes += [opening - timedelta(minutes=i) for i in range(1, SCAN)]
    for probe in probes:
        if t < probe < opening:
            assert not oracle_open(windows, holidays, tz, probe), f"open at {probe} before {opening}"


@PROPERTY
@given(spec=hours_specs, tz=zones, instant=instants, data=st.data())
def test_property_next_opening_is_the_first_open_instant(spec: dict, tz: ZoneInfo, instant: datetime,
                                                         data: st.DataObject) -> None:
    _assert_is_next_opening(spec, data.draw(holidays_near(instant, tz)), tz, instant)


@settings(max_examples=60, deadline=None)
@given(tz=zones, instant=instants, data=st.data())
def test_property_next_opening_without_hours(tz: ZoneInfo, instant: datetime, data: st.DataObject) -> None:
    _assert_is_next_opening(None, data.draw(holidays_near(instant, tz)), tz, instant)


@PROPERTY
@given(change=st.sampled_from(CHANGES), start=st.integers(-150, 150), length=st.integers(1, 240),
       at=st.integers(-300, 300))
def test_property_next_opening_around_a_dst_change(change: tuple[str, datetime], start: int, length: int,
                                                   at: int) -> None:
    """A window written within hours of a DST change, and instants around it."""
    name, moment = change
    tz = ZoneInfo(name)
    before = (moment - timedelta(minutes=1)).astimezone(tz)
    begin = min(max(before.hour * 60 + before.minute + start, 0), 1439)
    end = (begin + length) % 1440 or 1440
    spec = {DAYS[before.weekday()]: f"{_hhmm(begin)}-{_hhmm(end)}"}
    _assert_is_next_opening(spec, NONE, tz, moment + timedelta(minutes=at))
