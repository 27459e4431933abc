"""Dedicated hero: who gets a customer's conversation first, and where it goes when the hero is
away (SPEC R7). Pure: the store reads the hero, the agent and the account, this decides.

The hero's inbox (R7.2, R7.6) is the ``inbox`` of the hero entry when it names one (a hero team,
or an agent hero's own team); otherwise the hero agent's first skill in the directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routing.model import MESSAGING_CHANNELS
from routing.selection import Candidate

ASSIGNED_ANYWAY = ("email", "voicemail")  # R7.2: assigned to the hero whatever their availability


@dataclass(frozen=True)
class HeroPlan:
    """``offer``: offer to the hero agent; ``assign``: assign to the hero at once; ``skill``: route
    in ``skill`` like any conversation, with that skill's rollover policy (R7.7)."""

    kind: Literal["offer", "assign", "skill"]
    skill: str | None
    agent: str | None
    reason: str


def hero_inbox(inbox: str | None, agent_skills: list[str]) -> str | None:
    return inbox or (agent_skills[0] if agent_skills else None)


def unavailable(agent: Candidate | None) -> str | None:
    """Why the hero agent cannot take an offer now, or None when they can."""
    if agent is None or not agent.active:
        return "is deactivated"
    if not agent.online:
        return "is not online"
    if not agent.has_room:
        return "is at capacity"
    return None


def plan(*, hero_agent: str | None, agent: Candidate | None, inbox: str | None, channel: str,
         default_voice_skill: str | None, passed: bool = False) -> HeroPlan:
    """Where a conversation of a customer with a hero goes first (R7.1, R7.2).

    ``passed``: the hero already declined or let an offer expire in this conversation.
    """
    if hero_agent is None:
        return HeroPlan("skill", inbox, None, f"R7.1 hero inbox {inbox}")
    why = "passed on it" if passed else unavailable(agent)
    if why is None:
        return HeroPlan("offer", inbox, hero_agent, f"R7.1 offered to hero {hero_agent} first")
    away = f"R7.2 hero {hero_agent} {why}"
    if channel in ASSIGNED_ANYWAY and agent is not None and agent.active:
        return HeroPlan("assign", inbox, hero_agent, f"{away}; {channel} is assigned to the hero anyway")
    if channel == "voice" and default_voice_skill:
        return HeroPlan("skill", default_voice_skill, None, f"{away}; voice goes to the default voice skill "
                                                             f"{default_voice_skill}")
    kind = "messaging" if channel in MESSAGING_CHANNELS else channel
    return HeroPlan("skill", inbox, None, f"{away}; {kind} goes to the next available agent of the hero inbox {inbox}")
