"""Which side answers a conversation: the owner or the rollover handler (SPEC R3, R4.2).

``place`` applies a policy at an instant; ``backup_rollover`` decides, for an owner-first
placement with backup, whether it is time to give the conversation to the handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from routing.directory import RolloverMode, RolloverPolicy, Skill, SkillRef
from routing.hours import describe, window_at


@dataclass(frozen=True)
class Placement:
    """Where the policy sends a conversation now, and why (recorded in the timeline, R3.6)."""

    mode: RolloverMode
    to_handler: bool
    backup: bool  # owner first, handler when no owner agent is online or accepts in time
    rule: str
    reason: str
    handler: SkillRef | None = None
    backup_window: float | None = None

    def backup_deadline(self, now: datetime) -> datetime | None:
        return now + timedelta(seconds=self.backup_window) if self.backup and self.backup_window else None


def in_schedule(policy: RolloverPolicy, owner_skill: Skill, tz: ZoneInfo, now: datetime) -> tuple[bool, str]:
    """Is ``now`` inside the rollover schedule? Returns the answer and the reason text."""
    when = describe(now, tz)
    if policy.schedule == "off_hours":
        window = window_at(owner_skill.hours, owner_skill.holiday_set, tz, now)
        if window is None:
            return True, f"{when} is outside {owner_skill.id} working hours"
        return False, f"{when} is inside {owner_skill.id} working hours {window.label}"
    window = window_at(policy.schedule, frozenset(), tz, now)
    if now.astimezone(tz).date() in policy.holiday_set:
        return True, f"{when} is a rollover holiday"
    if window is not None:
        return True, f"{when} is inside {window.label}"
    return False, f"{when} is outside the rollover schedule"


def place(policy: RolloverPolicy | None, owner_skill: Skill, tz: ZoneInfo, now: datetime,
          *, rolled_back: bool = False) -> Placement:
    """Apply ``policy`` at ``now`` in the owner's time zone ``tz``."""
    if rolled_back and policy and policy.mode is not RolloverMode.NONE:
        return Placement(policy.mode, False, False, "R4.2",
                         f"rolled back: the {policy.mode.value} policy does not apply again")
    if policy is None or policy.mode is RolloverMode.NONE:
        return Placement(RolloverMode.NONE, False, False, "R3.1", "none: stays with the owner")
    mode, handler = policy.mode, policy.handler
    if mode is RolloverMode.FULLY_MANAGED:
        return Placement(mode, True, False, "R3.2", f"fully_managed: always to {handler}", handler)
    if mode is RolloverMode.BACKUP:
        return Placement(mode, False, True, "R3.3",
                         f"backup: owner first, {handler} if nobody accepts within "
                         f"{policy.backup_window:g}s", handler, policy.backup_window)
    inside, why = in_schedule(policy, owner_skill, tz, now)
    if inside:
        return Placement(mode, True, False, "R3.4" if mode is RolloverMode.SCHEDULE else "R3.5",
                         f"{mode.value}: {why}", handler)
    if mode is RolloverMode.SCHEDULE:
        return Placement(mode, False, False, "R3.4", f"schedule: {why}; stays with the owner")
    return Placement(mode, False, True, "R3.5",
                     f"hybrid: {why}; owner first with backup to {handler}", handler, policy.backup_window)


def backup_rollover(*, owner_online: int, now: datetime, deadline: datetime | None) -> str | None:
    """The reason to roll an owner-first conversation over now, or None to keep trying the owner."""
    if deadline is None:
        return None
    if owner_online == 0:
        return "backup: no owner agent of the skill is online"
    if now >= deadline:
        return "backup: no owner agent accepted within the backup window"
    return None
