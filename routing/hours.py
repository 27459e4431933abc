"""Weekly working hours, holidays and time zones.

Windows are wall-clock times in the account's time zone, so "09:00-17:00" stays 09:00-17:00
across a daylight-saving change. A window whose end is before its start runs past midnight
("17:00-09:00" on Monday is Monday 17:00 to Tuesday 09:00). Holidays close a whole local
calendar date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_LABEL = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, order=True)
class Window:
    """Open on ``day`` (0 = Monday) from ``start`` to ``end`` minutes after local midnight.

    ``label`` is the window as it was written ("Mon 17:00-09:00"), kept for reasons in the
    timeline even when an overnight window is split into two calendar days.
    """

    day: int
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class WeeklyHours:
    """A week of opening windows; ``spec`` is the mapping it was parsed from."""

    windows: tuple[Window, ...]
    spec: dict[str, list[str]]

    def on(self, day: int) -> list[Window]:
        return [w for w in self.windows if w.day == day]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``ValueError`` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder such as "America"
        raise ValueError(f"unknown time zone {name!r}") from exc


def _days(key: str) -> list[int]:
    days: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"{key!r} is not a day, a day range or a list of days")
            i, j = DAYS.index(first), DAYS.index(last)
            days.extend((i + k) % 7 for k in range((j - i) % 7 + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise ValueError(f"{key!r} is not a day, a day range or a list of days")
    return days


def _minutes(hh: str, mm: str, span: str, *, end: bool) -> int:
    hours, minutes = int(hh), int(mm)
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ValueError(f"{span!r} is not a time span HH:MM-HH:MM (24:00 only as an end)")
    return hours * 60 + minutes


def parse_hours(spec: object) -> WeeklyHours:
    """Parse ``{"mon-fri": "09:00-17:00", "sat": ["10:00-12:00", "13:00-15:00"]}``."""
    if not isinstance(spec, dict) or not spec:
        raise ValueError("hours must be a mapping of days to HH:MM-HH:MM spans")
    windows: list[Window] = []
    normalized: dict[str, list[str]] = {}
    for key, value in spec.items():
        spans = value if isinstance(value, list) else [value]
        if not spans or not all(isinstance(s, str) for s in spans):
            raise ValueError(f"hours for {key!r} must be HH:MM-HH:MM or a list of them")
        normalized[str(key)] = list(spans)
        for day in _days(str(key)):
            for span in spans:
                windows.extend(_split(day, span.strip()))
    return WeeklyHours(tuple(sorted(windows)), normalized)


def _split(day: int, span: str) -> list[Window]:
    match = _SPAN.match(span)
    if not match:
        raise ValueError(f"{span!r} is not a time span HH:MM-HH:MM")
    start = _minutes(match.group(1), match.group(2), span, end=False)
    end = _minutes(match.group(3), match.group(4), span, end=True)
    label = f"{_DAY_LABEL[day]} {span}"
    if start == end:
        raise ValueError(f"{span!r} is empty; use 00:00-24:00 for a whole day")
    if start < end:
        return [Window(day, start, end, label)]
    overnight = [Window(day, start, _MINUTES_PER_DAY, label)]
    if end:
        overnight.append(Window((day + 1) % 7, 0, end, label))
    return overnight


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(tz)


def window_at(hours: WeeklyHours | None, holidays: frozenset[date], tz: ZoneInfo,
              instant: datetime) -> Window | None:
    """The window open at ``instant``, or None when closed (always None on a holiday)."""
    local = _local(instant, tz)
    if local.date() in holidays:
        return None
    if hours is None:
        return Window(local.weekday(), 0, _MINUTES_PER_DAY, "always open")
    minute = local.hour * 60 + local.minute + local.second / 60
    for window in hours.on(local.weekday()):
        if window.start <= minute < window.end:
            return window
    return None


def is_open(hours: WeeklyHours | None, holidays: frozenset[date], tz: ZoneInfo,
            instant: datetime) -> bool:
    """Is a skill with these hours open at ``instant``? No hours means always open."""
    return window_at(hours, holidays, tz, instant) is not None


def _at(day: date, minute: int, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The instant of local ``day`` + ``minute``; a time skipped by DST moves forward.

    ``fold=1`` picks the second pass of a wall time that a DST change repeats.
    """
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=tz, fold=fold).astimezone(timezone.utc).astimezone(tz)


def _utc(instant: datetime) -> datetime:
    """``instant`` in UTC, for comparing: aware datetimes sharing a tzinfo compare and subtract as
    wall times, blind to DST (the two passes of a repeated hour look equal)."""
    return instant.astimezone(timezone.utc)


def _offset_change(day: date, tz: ZoneInfo) -> datetime | None:
    """The instant, to the minute, when DST changes the UTC offset during local ``day``; or None."""
    start, end = _at(day, 0, tz), _at(day + timedelta(days=1), 0, tz)
    if start.utcoffset() == end.utcoffset():
        return None
    low, high, minute = _utc(start), _utc(end), timedelta(minutes=1)
    while high - low > minute:
        middle = low + (high - low) // 2 // minute * minute
        low, high = (middle, high) if middle.astimezone(tz).utcoffset() == start.utcoffset() else (low, middle)
    return high.astimezone(tz)


def _openings(hours: WeeklyHours | None, day: date, tz: ZoneInfo) -> list[datetime]:
    """Instants on local ``day`` when the skill may open.

    The local clock reaches each window start once, twice when DST repeats the hour (both folds),
    or never when DST skips it; a DST change can also move the clock into a window.
    """
    starts = [w.start for w in hours.on(day.weekday())] if hours else [0]
    found = [_at(day, minute, tz, fold) for minute in starts for fold in (0, 1)]
    change = _offset_change(day, tz)
    return found + [change] if change else found


def next_opening(hours: WeeklyHours | None, holidays: frozenset[date], tz: ZoneInfo,
                 instant: datetime) -> datetime | None:
    """The first instant at or after ``instant`` when the skill is open; None if it never is."""
    if is_open(hours, holidays, tz, instant):
        return instant
    local = _local(instant, tz)
    for offset in range(0, 7 * 60):  # a year of holidays cannot hide every window for longer
        day = local.date() + timedelta(days=offset)
        openings = [t for t in _openings(hours, day, tz) if _utc(t) > _utc(instant)
                    and is_open(hours, holidays, tz, t)]
        if openings:
            return min(openings, key=_utc)
    return None


def describe(instant: datetime, tz: ZoneInfo) -> str:
    """``Sat 18:05 America/New_York``: an instant as a reason in the timeline shows it."""
    local = _local(instant, tz)
    return f"{_DAY_LABEL[local.weekday()]} {local:%H:%M} {tz.key}"
