"""May this transfer happen now, and where does it fall back to? (SPEC R6)

Pure: the store reads the rows, these functions decide. Every refusal names what is wrong in
words an agent can act on ("skill parts/service is closed; it opens Mon 09:00 Europe/Berlin").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from routing.directory import Skill, SkillRef
from routing.errors import Refusal
from routing.hours import describe, is_open, next_opening
from routing.model import Origin
from routing.selection import Candidate
from routing.visibility import Party, Relation, Where, relation


def may_transfer(party: Party, where: Where) -> bool:
    """R6.1, R6.7: the assignee (agent or bot), or a manager of an account involved, or an admin."""
    if party.role == "admin":
        return True
    if party.role == "manager":
        return relation(party, where) is not Relation.NONE
    return where.assignee == party.id


def check_allowed(source: SkillRef, allowed: list[SkillRef], target: SkillRef, origin: Origin | None,
                  agent: str | None) -> str:
    """R6.1, R6.5: a target in another account must be allowed; returns why it is."""
    if target.account == source.account:
        return "inside the account"
    if target in allowed:
        return f"{target} is a transfer target of {source}"
    if origin is not None and (target == origin.skill or (agent is not None and agent == origin.agent)):
        return f"back to where it came from ({origin.skill})"
    listed = ", ".join(str(t) for t in allowed) or "none"
    raise Refusal("TransferNotAllowed", f"transfer: {target} is not a transfer target of {source} "
                                        f"(allowed: {listed})", field="skill")


def check_open(target: SkillRef, skill: Skill, tz: ZoneInfo, now: datetime) -> None:
    """R6.3: only into a skill inside its working hours; the refusal names the next opening."""
    if not skill.enabled:
        raise Refusal("SkillDisabled", f"transfer: skill {target} is disabled", field="skill")
    if is_open(skill.hours, skill.holiday_set, tz, now):
        return
    opens = next_opening(skill.hours, skill.holiday_set, tz, now)
    when = f"it opens {describe(opens, tz)}" if opens else "it has no opening hours"
    raise Refusal("SkillClosed", f"transfer: skill {target} is closed at {describe(now, tz)}; {when}", field="skill")


def check_agent(agent: Candidate | None, agent_id: str, target: SkillRef, *, member: bool) -> None:
    """R6.7: a named agent must be of the target account, active, online and have room."""
    if agent is None:
        raise Refusal("UnknownAgent", f"transfer: agent {agent_id!r} is not in account {target.account!r}",
                      field="agent")
    problem = ("is deactivated" if not agent.active else "is not online" if not agent.online
               else "is at capacity" if not agent.has_room else None if member
               else f"is not in skill {target.skill!r}")
    if problem:
        raise Refusal("AgentUnavailable", f"transfer: agent {agent_id!r} {problem}", field="agent")


def fallback_for(target: SkillRef, skill: Skill, source: SkillRef) -> SkillRef:
    """R6.4: the destination's fallback skill, or back to the sending skill when it has none."""
    return SkillRef(account=target.account, skill=skill.fallback_skill) if skill.fallback_skill else source
