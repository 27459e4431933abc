"""The simulated side of the directory: agents with presence, load and answer behaviour, and the
skills' queues, as the store keeps them (``store.capacity``, ``store.routing``), in memory.

The rules are the engine's own: ``routing.selection`` ranks who gets an offer, orders the queue,
and says which queued conversations a newcomer must not overtake or a freed agent wakes.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from routing.directory import Agent, SkillRef, Status
from routing.selection import Candidate, first_ahead, heads, ranked, room
from whatif.traffic import Answer

QUEUE_LOOKAHEAD = 20  # as store.routing: queued conversations ahead of a newcomer that are asked
WAKE_LIMIT = 5  # as store.capacity: conversations woken per freed agent with unlimited capacity


@dataclass(eq=False)
class SimAgent:
    """An agent as ``store.capacity`` keeps them: presence, load, idle since; plus how they answer."""

    agent: Agent
    account: str
    skills: list[SkillRef]
    answer: Answer
    rng: random.Random
    online: bool
    load: int = 0
    idle_since: datetime | None = None
    candidate: Candidate = field(init=False)
    online_since: float | None = None
    spans: list[tuple[float, float]] = field(default_factory=list)  # (from, to) online, simulated seconds

    def __post_init__(self) -> None:
        self.refresh()

    @property
    def id(self) -> str:
        return self.agent.id

    def refresh(self) -> None:
        """The selection rules' view of this agent, rebuilt only when presence or load changes."""
        self.candidate = Candidate(id=self.agent.id, load=self.load, capacity=self.agent.capacity,
                                   idle_since=self.idle_since, online=self.online, active=self.agent.active)

    def take(self) -> None:
        self.load += 1
        self.refresh()

    def respond(self, timeout: float) -> tuple[str, float]:
        """How this agent answers an offer that expires after ``timeout``: ``accept`` or
        ``decline`` after some seconds, or ``expire`` (no answer in time)."""
        u = self.rng.random()
        after = self.answer.time.draw(self.rng) if self.answer.time else 0.0
        if u < self.answer.no_answer or after >= timeout:
            return "expire", timeout
        return ("decline" if u < self.answer.no_answer + self.answer.decline else "accept"), after

    def give_back(self, now: datetime) -> None:
        """``store.capacity.free``: the slot back; idle from now (R2.1)."""
        if self.load > 0:
            self.load -= 1
        self.idle_since = now
        self.refresh()


@dataclass(eq=False)
class SimSkill:
    """A skill's members and its queue, kept in ``routing.selection.queue_order``."""

    ref: SkillRef
    agents: list[SimAgent] = field(default_factory=list)
    queue: list[tuple[tuple, Any]] = field(default_factory=list)  # (queue_order key, a whatif Conversation)

    def pool(self) -> list[Candidate]:
        return [a.candidate for a in self.agents if a.agent.active]

    def enqueue(self, key: tuple, conversation: Any) -> None:
        bisect.insort(self.queue, (key, conversation), key=lambda entry: entry[0])

    def remove(self, key: tuple) -> None:
        i = bisect.bisect_left(self.queue, key, key=lambda entry: entry[0])
        if i < len(self.queue) and self.queue[i][0] == key:
            del self.queue[i]

    def ahead_of(self, key: tuple) -> Any | None:
        """``store.routing._ahead``: the queued conversation before ``key`` that would take an
        agent with room, so the newcomer must not overtake it (R2.3)."""
        if not self.queue or self.queue[0][0] >= key:
            return None
        ahead = [(c, c.excluded) for k, c in self.queue[:QUEUE_LOOKAHEAD] if k < key]
        free = [c for c in self.pool() if c.online and c.has_room]
        return first_ahead(ahead, free) if free else None


def best(pool: list[Candidate], excluded: list[str]) -> Candidate | None:
    """``store.capacity.reserve`` without races: the best eligible agent by the selection rules."""
    chosen = ranked(pool, excluded)
    return chosen[0] if chosen else None


def to_wake(agent: SimAgent, skills: dict[SkillRef, SimSkill]) -> list[Any]:
    """``store.capacity.heads_for``: queued conversations, across the agent's skills in queue
    order, that this agent with room may take."""
    if not agent.online or not agent.agent.active:
        return []
    free = room(agent.candidate, WAKE_LIMIT)
    if free <= 0:
        return []
    queued = sorted((entry for ref in agent.skills for entry in skills[ref].queue[:free * 4]),
                    key=lambda entry: entry[0])
    return heads(agent.id, [(c, c.excluded) for _, c in queued], free)


def initial_presence(agent: Agent) -> bool:
    return agent.status is Status.ONLINE and agent.active
