"""Who gets the next offer, and which queued conversation goes first (SPEC R2.1, R2.3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

# The queue's safety net behind push wake-ups (DESIGN "Queues wake up"), backing off while nobody has room.
QUEUE_RECHECK = timedelta(seconds=30)  # after someone passed on it (no wake-up brings them back), or a refused step
SAFETY_NET = timedelta(minutes=30)  # nobody passed: wake-ups do the work, and the reconciler re-sends a lost one
QUEUE_RECHECK_MAX = timedelta(minutes=30)

T = TypeVar("T")  # a queued conversation as the caller names it (a workflow id, a simulated one)


@dataclass(frozen=True)
class Candidate:
    """An agent as the selection rule sees it: presence, load and how long they have been idle."""

    id: str
    load: int
    capacity: int | None  # None: unlimited (bots)
    idle_since: datetime | None  # None: never offered anything, so idle longest
    online: bool = True
    active: bool = True

    @property
    def has_room(self) -> bool:
        return self.capacity is None or self.load < self.capacity


def eligible(candidates: Iterable[Candidate], excluded: Iterable[str]) -> list[Candidate]:
    """Active, online, below capacity, and not already passed over in this routing attempt."""
    skip = set(excluded)
    return [c for c in candidates if c.active and c.online and c.has_room and c.id not in skip]


def ranked(candidates: Iterable[Candidate], excluded: Iterable[str] = ()) -> list[Candidate]:
    """Eligible agents best first: least loaded, then idle longest, then id for a stable order."""
    return sorted(
        eligible(candidates, excluded),
        key=lambda c: (c.load, c.idle_since is not None, c.idle_since or datetime.min, c.id),
    )


def select_agent(candidates: Iterable[Candidate], excluded: Iterable[str] = ()) -> Candidate | None:
    """The agent to offer to next, or None when the conversation must wait in the queue."""
    best = ranked(candidates, excluded)
    return best[0] if best else None


def queue_order(priority: int, waiting_since: datetime, conversation_id: str) -> tuple:
    """Sort key of a queued conversation: highest priority first, then oldest, then id."""
    return (-priority, waiting_since, conversation_id)


def first_ahead(ahead: Iterable[tuple[T, Iterable[str]]], free: Iterable[Candidate]) -> T | None:
    """SPEC R2.3: of the queued conversations ahead of a newcomer (in queue order, each with who
    has passed on it), the first that would take one of the agents with room; None: nobody ahead
    would, so the newcomer may take one."""
    room_now = list(free)
    for waiting, passed in ahead:
        skip = set(passed)
        if any(c.id not in skip for c in room_now):
            return waiting
    return None


def room(agent: Candidate, unlimited: int) -> int:
    """How many queued conversations a freed agent can take now; ``unlimited`` for a bot."""
    return unlimited if agent.capacity is None else agent.capacity - agent.load


def heads(agent_id: str, queued: Iterable[tuple[T, Iterable[str]]], room: int) -> list[T]:
    """The queued conversations (in queue order) to wake for an agent with ``room``: those the
    agent has not passed on in their current attempt (they would not take the agent)."""
    chosen: list[T] = []
    for waiting, passed in queued:
        if len(chosen) >= room:
            break
        if agent_id not in passed:
            chosen.append(waiting)
    return chosen


def recheck_after(rechecks: int, *, passed: bool = False) -> timedelta:
    """When a queued conversation looks again by itself, after ``rechecks`` empty re-checks in a
    row. Push wake-ups bring it an agent with room, and the reconciler's sweep re-sends every
    minute a wake-up that was lost, so this last resort waits 30 min (10,000 queued: about five
    re-checks a second). If an agent ``passed`` on it (declined, let the offer expire), no
    wake-up brings them back (a wake-up skips who passed): it asks again sooner, 30 s, then 1, 2,
    4, 8, 16 and 30 min."""
    first = QUEUE_RECHECK if passed else SAFETY_NET
    return min(first * 2 ** min(rechecks, 6), QUEUE_RECHECK_MAX)
