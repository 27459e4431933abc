"""Who gets the next offer, and which queued conversation goes first (SPEC R2.1, R2.3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


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
