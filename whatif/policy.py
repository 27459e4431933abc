"""``--policy ACCOUNT/SKILL=MODE[:WINDOW]``: the same directory with another rollover policy on one
owner skill, for a what-if run. The handler and schedule stay the skill's (or its account's)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from routing.directory import Directory, RolloverMode, RolloverPolicy, SkillRef
from routing.durations import parse_duration
from routing.limits import quote

_SPEC = re.compile(r"^([^/=\s]+)/([^=\s]+)=([a-z_]+)(?::(.+))?$")
MODES = ", ".join(m.value for m in RolloverMode)


class PolicyError(ValueError):
    """A ``--policy`` value that cannot apply; the message names it and why."""


@dataclass(frozen=True)
class PolicyChange:
    skill: SkillRef
    mode: RolloverMode
    window: float | None
    text: str


def parse_policy(text: str) -> PolicyChange:
    match = _SPEC.match(text.strip())
    if not match:
        raise PolicyError(f"--policy {quote(text)}: expected ACCOUNT/SKILL=MODE[:WINDOW], e.g. acme/sales=backup:60s")
    account, skill, mode, window = match.groups()
    try:
        parsed = RolloverMode(mode)
    except ValueError:
        raise PolicyError(f"--policy {quote(text)}: unknown mode {mode!r}; one of {MODES}") from None
    seconds = None
    if window is not None:
        if parsed not in (RolloverMode.BACKUP, RolloverMode.HYBRID):
            raise PolicyError(f"--policy {quote(text)}: only backup and hybrid have a window")
        try:
            seconds = parse_duration(window)
        except ValueError as exc:
            raise PolicyError(f"--policy {quote(text)}: window {exc}") from None
    return PolicyChange(SkillRef(account=account, skill=skill), parsed, seconds, text.strip())


def apply(directory: Directory, changes: list[PolicyChange]) -> Directory:
    """``directory`` with each change on its skill, validated as a directory file would be."""
    data = directory.model_dump(mode="json", exclude_unset=True)  # unset stays unset: policy_for needs it
    for change in changes:
        account = directory.account(change.skill.account)
        skill = account.skill(change.skill.skill) if account else None
        if skill is None:
            raise PolicyError(f"--policy {quote(change.text)}: the directory has no skill {change.skill}")
        current = account.policy_for(skill)
        policy: dict = {"mode": change.mode.value}
        if change.mode is not RolloverMode.NONE:
            if current is None or current.handler is None:
                raise PolicyError(f"--policy {quote(change.text)}: {change.skill} has no rollover handler in the "
                                  "directory to roll over to; give it a policy with a handler first")
            policy["handler"] = current.handler.model_dump()
            policy["backup_window"] = change.window or current.backup_window
            if change.mode in (RolloverMode.SCHEDULE, RolloverMode.HYBRID):
                policy["schedule"] = _schedule(current)
                policy["holidays"] = [d.isoformat() for d in current.holidays]
        i = directory.accounts.index(account)
        j = account.skills.index(skill)
        data["accounts"][i]["skills"][j]["rollover"] = policy
    try:
        return Directory.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"--policy: {exc.errors()[0]['msg']}") from None


def _schedule(current: RolloverPolicy) -> object:
    """The skill's own schedule if it has one, else "outside the owner skill's working hours"."""
    if current.schedule is None:
        return "off_hours"
    return current.schedule if isinstance(current.schedule, str) else current.schedule.spec
