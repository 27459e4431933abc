"""Which side answers a conversation: the owner or the rollover handler (SPEC R3, R4.2).

Pure rules, no server: ``routing.rollover.place`` and ``backup_rollover`` at chosen instants, and
properties over random instants (DST weeks included) in several time zones.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.directory import RolloverMode, RolloverPolicy, Skill, SkillRef
from routing.hours import is_open
from routing.rollover import Placement, backup_rollover, in_schedule, place

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
HANDLER = SkillRef(account="bpo", skill="acme-sales")
# The CONTRACT example skill: weekdays 09-17, Saturday 10-14, closed on Christmas.
SALES = Skill(id="sales", hours={"mon-fri": "09:00-17:00", "sat": "10:00-14:00"}, holidays=["2026-12-25"])
ALWAYS_OPEN = Skill(id="phone")
NIGHTS_AND_WEEKENDS = {"mon-fri": "17:00-09:00", "sat-sun": "00:00-24:00"}  # examples/directory.yaml
EVENINGS = {"mon-sat": "17:00-24:00"}

MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=NY)
SAT_18_05 = datetime(2026, 11, 28, 18, 5, tzinfo=NY)
SAT_12 = datetime(2026, 11, 28, 12, 0, tzinfo=NY)
XMAS_10 = datetime(2026, 12, 25, 10, 0, tzinfo=NY)


def policy(mode: str, **fields: object) -> RolloverPolicy:
    if mode != "none":
        fields.setdefault("handler", HANDLER)
    return RolloverPolicy(mode=mode, **fields)


def recorded(p: Placement) -> str:
    """The reason as the timeline records it (routing/plan.py): the rule, then the reason."""
    return f"{p.rule} {p.reason}"


# --- R3.1 none -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rollover", [None, RolloverPolicy(mode="none")])
def test_r3_1_none_stays_with_the_owner(rollover: RolloverPolicy | None) -> None:
    for now in (MON_10, SAT_18_05, XMAS_10):
        p = place(rollover, SALES, NY, now)
        assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode.NONE, False, False, "R3.1")
        assert p.handler is None
        assert p.backup_deadline(now) is None
        assert recorded(p).startswith("R3.1 none:")


# --- R3.2 fully managed --------------------------------------------------------------------------


@pytest.mark.parametrize("now", [MON_10, SAT_18_05, XMAS_10])
def test_r3_2_fully_managed_always_goes_to_the_handler(now: datetime) -> None:
    p = place(policy("fully_managed"), SALES, NY, now)
    assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode.FULLY_MANAGED, True, False, "R3.2")
    assert p.handler == HANDLER
    assert p.backup_deadline(now) is None
    assert "fully_managed" in p.reason and "bpo/acme-sales" in p.reason


# --- R3.3 backup ---------------------------------------------------------------------------------


def test_r3_3_backup_is_owner_first_with_a_deadline() -> None:
    p = place(policy("backup", backup_window="90s"), SALES, NY, MON_10)
    assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode.BACKUP, False, True, "R3.3")
    assert p.handler == HANDLER
    assert p.backup_window == 90
    assert p.backup_deadline(MON_10) == MON_10 + timedelta(seconds=90)
    assert "backup" in p.reason and "bpo/acme-sales" in p.reason and "90s" in p.reason


def test_r3_3_backup_applies_whatever_the_hours() -> None:
    for now in (MON_10, SAT_18_05, XMAS_10):
        p = place(policy("backup"), SALES, NY, now)
        assert (p.to_handler, p.backup, p.backup_window) == (False, True, 60.0)


def test_r3_3_backup_rolls_over_when_no_owner_agent_online() -> None:
    deadline = MON_10 + timedelta(seconds=60)
    reason = backup_rollover(owner_online=0, now=MON_10, deadline=deadline)
    assert reason is not None and "backup" in reason and "online" in reason


def test_r3_3_backup_rolls_over_when_nobody_accepts_within_the_window() -> None:
    deadline = MON_10 + timedelta(seconds=60)
    assert backup_rollover(owner_online=2, now=deadline - timedelta(seconds=1), deadline=deadline) is None
    for now in (deadline, deadline + timedelta(minutes=5)):
        reason = backup_rollover(owner_online=2, now=now, deadline=deadline)
        assert reason is not None and "backup window" in reason


def test_r3_3_no_deadline_means_no_backup_rollover() -> None:
    assert backup_rollover(owner_online=0, now=MON_10, deadline=None) is None
    assert backup_rollover(owner_online=3, now=MON_10, deadline=None) is None


# --- R3.4 schedule -------------------------------------------------------------------------------


def test_r3_4_schedule_off_hours_goes_to_the_handler_outside_owner_hours() -> None:
    p = place(policy("schedule", schedule="off_hours"), SALES, NY, SAT_18_05)
    assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode.SCHEDULE, True, False, "R3.4")
    assert p.handler == HANDLER
    assert "Sat 18:05 America/New_York" in p.reason and "outside sales working hours" in p.reason


def test_r3_4_schedule_off_hours_stays_with_the_owner_inside_owner_hours() -> None:
    p = place(policy("schedule", schedule="off_hours"), SALES, NY, SAT_12)
    assert (p.to_handler, p.backup, p.rule) == (False, False, "R3.4")
    assert "Sat 12:00 America/New_York" in p.reason
    assert "Sat 10:00-14:00" in p.reason  # the owner window that keeps it
    assert "stays with the owner" in p.reason


def test_r3_4_schedule_off_hours_on_an_owner_holiday_goes_to_the_handler() -> None:
    p = place(policy("schedule", schedule="off_hours"), SALES, NY, XMAS_10)
    assert p.to_handler
    assert "Fri 10:00 America/New_York" in p.reason


def test_r3_4_schedule_off_hours_of_an_always_open_skill_never_rolls_over() -> None:
    p = place(policy("schedule", schedule="off_hours"), ALWAYS_OPEN, NY, SAT_18_05)
    assert not p.to_handler and not p.backup


def test_r3_4_schedule_off_hours_uses_the_owner_time_zone() -> None:
    instant = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon 10:00 New York, Mon 16:00 Berlin
    skill = Skill(id="sales", hours={"mon-fri": "09:00-12:00"})
    assert not place(policy("schedule", schedule="off_hours"), skill, NY, instant).to_handler
    assert place(policy("schedule", schedule="off_hours"), skill, BERLIN, instant).to_handler


@pytest.mark.parametrize(("now", "inside", "window"), [
    (datetime(2026, 11, 23, 18, 0, tzinfo=NY), True, "Mon 17:00-09:00"),  # Mon evening
    (datetime(2026, 11, 24, 8, 59, tzinfo=NY), True, "Mon 17:00-09:00"),  # overnight into Tuesday
    (datetime(2026, 11, 24, 9, 0, tzinfo=NY), False, None),
    (datetime(2026, 11, 24, 16, 59, tzinfo=NY), False, None),
    (datetime(2026, 11, 27, 23, 0, tzinfo=NY), True, "Fri 17:00-09:00"),
    (SAT_18_05, True, "Sat 00:00-24:00"),
    (datetime(2026, 11, 29, 23, 59, tzinfo=NY), True, "Sun 00:00-24:00"),
    # An overnight window belongs to the day it starts, and Sunday has none: Monday 08:00 is outside.
    (datetime(2026, 11, 30, 8, 0, tzinfo=NY), False, None),
])
def test_r3_4_schedule_with_weekly_windows(now: datetime, inside: bool, window: str | None) -> None:
    p = place(policy("schedule", schedule=NIGHTS_AND_WEEKENDS), SALES, NY, now)
    assert (p.to_handler, p.backup, p.rule) == (inside, False, "R3.4")
    if inside:
        assert window in p.reason
    else:
        assert "outside the rollover schedule" in p.reason and "stays with the owner" in p.reason


def test_r3_4_explicit_schedule_ignores_the_owner_hours() -> None:
    # Inside the owner's hours but also inside the schedule: the schedule decides.
    skill = Skill(id="sales", hours={"mon-sun": "00:00-24:00"})
    assert place(policy("schedule", schedule=EVENINGS), skill, NY, SAT_18_05).to_handler


def test_r3_4_schedule_holidays_roll_over_all_day() -> None:
    rollover = policy("schedule", schedule=EVENINGS, holidays=["2026-12-25"])
    p = place(rollover, SALES, NY, XMAS_10)
    assert p.to_handler and "holiday" in p.reason
    assert not place(rollover, SALES, NY, datetime(2026, 12, 24, 10, 0, tzinfo=NY)).to_handler


def test_r3_4_schedule_in_berlin_across_dst() -> None:
    rollover = policy("schedule", schedule={"mon-fri": "17:00-09:00"})
    skill = Skill(id="orders", hours={"mon-fri": "09:00-17:00"})
    # Before the change: Friday 2026-03-27 17:00 CET is 16:00 UTC.
    assert place(rollover, skill, BERLIN, datetime(2026, 3, 27, 16, 0, tzinfo=UTC)).to_handler
    assert not place(rollover, skill, BERLIN, datetime(2026, 3, 27, 15, 59, tzinfo=UTC)).to_handler
    # Monday 2026-03-30 after the change: 17:00 CEST is 15:00 UTC.
    assert place(rollover, skill, BERLIN, datetime(2026, 3, 30, 15, 0, tzinfo=UTC)).to_handler
    assert not place(rollover, skill, BERLIN, datetime(2026, 3, 30, 14, 59, tzinfo=UTC)).to_handler
    # Tuesday 09:00 CEST is 07:00 UTC.
    assert place(rollover, skill, BERLIN, datetime(2026, 3, 31, 6, 59, tzinfo=UTC)).to_handler
    assert not place(rollover, skill, BERLIN, datetime(2026, 3, 31, 7, 0, tzinfo=UTC)).to_handler


# --- R3.5 hybrid ---------------------------------------------------------------------------------


def test_r3_5_hybrid_inside_the_schedule_goes_to_the_handler() -> None:
    p = place(policy("hybrid", schedule=NIGHTS_AND_WEEKENDS, backup_window="45s"), SALES, NY, SAT_18_05)
    assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode.HYBRID, True, False, "R3.5")
    assert p.backup_deadline(SAT_18_05) is None
    assert p.reason.startswith("hybrid:")


def test_r3_5_hybrid_outside_the_schedule_is_backup() -> None:
    p = place(policy("hybrid", schedule=NIGHTS_AND_WEEKENDS, backup_window="45s"), SALES, NY, MON_10)
    assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode.HYBRID, False, True, "R3.5")
    assert p.handler == HANDLER and p.backup_window == 45
    assert p.backup_deadline(MON_10) == MON_10 + timedelta(seconds=45)
    assert "backup" in p.reason and "bpo/acme-sales" in p.reason


def test_r3_5_hybrid_off_hours() -> None:
    rollover = policy("hybrid", schedule="off_hours")
    assert place(rollover, SALES, NY, SAT_18_05).to_handler
    inside = place(rollover, SALES, NY, SAT_12)
    assert (inside.to_handler, inside.backup) == (False, True)


# --- R3.6 reasons --------------------------------------------------------------------------------


def test_r3_6_reason_names_mode_rule_and_window() -> None:
    p = place(policy("schedule", schedule=EVENINGS), SALES, NY, SAT_18_05)
    assert recorded(p) == "R3.4 schedule: Sat 18:05 America/New_York is inside Sat 17:00-24:00"
    p = place(policy("hybrid", schedule=EVENINGS), SALES, NY, SAT_18_05)
    assert recorded(p) == "R3.5 hybrid: Sat 18:05 America/New_York is inside Sat 17:00-24:00"


def test_r3_6_reason_names_the_overnight_window_as_written() -> None:
    tuesday_morning = datetime(2026, 11, 24, 7, 30, tzinfo=NY)
    p = place(policy("schedule", schedule=NIGHTS_AND_WEEKENDS), SALES, NY, tuesday_morning)
    assert "Tue 07:30 America/New_York" in p.reason and "Mon 17:00-09:00" in p.reason


def test_r3_6_reason_uses_the_workflow_clock_in_the_account_zone() -> None:
    instant = datetime(2026, 11, 28, 23, 5, tzinfo=UTC)  # the workflow clock is UTC
    p = place(policy("schedule", schedule=EVENINGS), SALES, NY, instant)
    assert "Sat 18:05 America/New_York" in p.reason
    p = place(policy("schedule", schedule=EVENINGS), SALES, BERLIN, instant)
    assert "Sun 00:05 Europe/Berlin" in p.reason and not p.to_handler


@pytest.mark.parametrize("mode", ["none", "fully_managed", "backup", "schedule", "hybrid"])
def test_r3_6_every_reason_names_its_mode_and_rule(mode: str) -> None:
    rollover = policy(mode, schedule=EVENINGS) if mode in ("schedule", "hybrid") else policy(mode)
    for now in (MON_10, SAT_18_05):
        p = place(rollover, SALES, NY, now)
        assert p.reason.startswith(f"{mode}:")
        assert p.rule.startswith("R3.")


def test_in_schedule_answers_and_explains() -> None:
    inside, why = in_schedule(policy("schedule", schedule=EVENINGS), SALES, NY, SAT_18_05)
    assert inside and "Sat 17:00-24:00" in why
    inside, why = in_schedule(policy("schedule", schedule=EVENINGS), SALES, NY, SAT_12)
    assert not inside and "outside" in why


# --- R4.2 rolled back ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fully_managed", "backup", "schedule", "hybrid"])
def test_r4_2_rolled_back_is_not_rolled_over_again(mode: str) -> None:
    rollover = policy(mode, schedule="off_hours") if mode in ("schedule", "hybrid") else policy(mode)
    for now in (MON_10, SAT_18_05):
        p = place(rollover, SALES, NY, now, rolled_back=True)
        assert (p.mode, p.to_handler, p.backup, p.rule) == (RolloverMode(mode), False, False, "R4.2")
        assert p.backup_deadline(now) is None
        assert "rolled back" in p.reason and mode in p.reason


def test_r4_2_rolled_back_without_a_policy_is_just_none() -> None:
    assert place(None, SALES, NY, MON_10, rolled_back=True).rule == "R3.1"
    assert place(RolloverPolicy(mode="none"), SALES, NY, MON_10, rolled_back=True).rule == "R3.1"


# --- properties ----------------------------------------------------------------------------------

ZONES = ["America/New_York", "Europe/Berlin", "America/Chicago", "Australia/Sydney", "UTC"]
# Weeks around the 2026 DST changes in New York and Berlin, and a random spread over 2025-2028.
DST_WEEKS = [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC),
             datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]
instants = st.one_of(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.builds(lambda t, m: t + timedelta(minutes=m), st.sampled_from(DST_WEEKS), st.integers(-5 * 1440, 5 * 1440)),
)
zones = st.sampled_from(ZONES).map(ZoneInfo)
holiday_lists = st.lists(st.dates(min_value=date(2026, 3, 1), max_value=date(2026, 11, 30)), max_size=3)


def inside_nights_and_weekends(tz: ZoneInfo, instant: datetime) -> bool:
    """The oracle for NIGHTS_AND_WEEKENDS, read off the local wall clock."""
    wall = instant.astimezone(tz)
    day, minute = wall.weekday(), wall.hour * 60 + wall.minute
    return day >= 5 or (day <= 4 and minute >= 17 * 60) or (1 <= day <= 5 and minute < 9 * 60)


PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(tz=zones, now=instants)
def test_property_r3_4_schedule_goes_to_the_handler_iff_inside(tz: ZoneInfo, now: datetime) -> None:
    p = place(policy("schedule", schedule=NIGHTS_AND_WEEKENDS), SALES, tz, now)
    assert p.to_handler is inside_nights_and_weekends(tz, now)
    assert not p.backup
    assert (p.handler == HANDLER) if p.to_handler else True


@PROPERTY
@given(tz=zones, now=instants, holidays=holiday_lists)
def test_property_r3_4_off_hours_goes_to_the_handler_iff_owner_closed(tz: ZoneInfo, now: datetime,
                                                                      holidays: list[date]) -> None:
    skill = Skill(id="sales", hours={"mon-fri": "09:00-17:00", "sat": "10:00-14:00"}, holidays=holidays)
    p = place(policy("schedule", schedule="off_hours"), skill, tz, now)
    assert p.to_handler is not is_open(skill.hours, skill.holiday_set, tz, now)
    assert not p.backup


@PROPERTY
@given(tz=zones, now=instants)
def test_property_r3_5_hybrid_is_schedule_inside_and_backup_outside(tz: ZoneInfo, now: datetime) -> None:
    p = place(policy("hybrid", schedule=NIGHTS_AND_WEEKENDS), SALES, tz, now)
    inside = inside_nights_and_weekends(tz, now)
    assert (p.to_handler, p.backup) == (inside, not inside)
    assert p.handler == HANDLER
    assert (p.backup_deadline(now) is None) is inside


@PROPERTY
@given(tz=zones, now=instants, mode=st.sampled_from(["fully_managed", "backup", "none"]))
def test_property_r3_1_to_r3_3_ignore_the_clock(tz: ZoneInfo, now: datetime, mode: str) -> None:
    p = place(policy(mode), SALES, tz, now)
    assert p.to_handler is (mode == "fully_managed")
    assert p.backup is (mode == "backup")


@PROPERTY
@given(tz=zones, now=instants, mode=st.sampled_from(["fully_managed", "backup", "schedule", "hybrid"]))
def test_property_r4_2_rolled_back_stays_with_the_owner(tz: ZoneInfo, now: datetime, mode: str) -> None:
    rollover = policy(mode, schedule=NIGHTS_AND_WEEKENDS) if mode in ("schedule", "hybrid") else policy(mode)
    p = place(rollover, SALES, tz, now, rolled_back=True)
    assert (p.to_handler, p.backup, p.rule) == (False, False, "R4.2")


@PROPERTY
@given(owner_online=st.integers(0, 5), now=instants, elapsed=st.integers(-600, 600), has_deadline=st.booleans())
def test_property_r3_3_backup_rollover(owner_online: int, now: datetime, elapsed: int, has_deadline: bool) -> None:
    deadline = now - timedelta(seconds=elapsed) if has_deadline else None
    reason = backup_rollover(owner_online=owner_online, now=now, deadline=deadline)
    expected = deadline is not None and (owner_online == 0 or now >= deadline)
    assert (reason is not None) is expected
