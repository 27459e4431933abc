"""A conversation as the simulation follows it: the part of ``workflows.state.ConversationState``
a routing day needs, plus what the report counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from routing.directory import Hero, SkillRef
from routing.model import RouteRequest
from whatif.people import SimAgent, SimSkill
from whatif.traffic import Stream


@dataclass(eq=False)
class Conversation:
    """A workflow's state as the simulation needs it (``workflows.state.ConversationState``)."""

    id: str
    stream: Stream
    owner: SkillRef
    arrived: float
    arrived_at: datetime
    customer: str
    handle: float
    hero: Hero | None
    patience: float | None = None  # None: never gives up
    status: str = "routing"
    step: int = 0
    target: SkillRef | None = None
    excluded: list[str] = field(default_factory=list)
    policy_applies: bool = True
    backup_deadline: datetime | None = None
    backup_handler: SkillRef | None = None
    offer: SimAgent | None = None
    queued_in: SimSkill | None = None
    key: tuple = ()
    rechecks: int = 0
    epoch: int = 0  # bumped at every change: a timer of an older epoch finds nothing to do
    answered: float | None = None
    abandoned: float | None = None
    agent: SimAgent | None = None
    handler: str | None = None  # the account answering it when not the owner
    mode: str | None = None
    why: str | None = None  # the rule that sent it where it is (R3.6)
    offers: int = 0
    refused: bool = False
    counted: bool = True  # the answer took a slot (an R7.2 assignment beyond capacity takes none)
    request: RouteRequest | None = None

    @property
    def wait(self) -> float | None:
        """Seconds from arrival to the answer; None when never answered."""
        return None if self.answered is None else self.answered - self.arrived

    @property
    def queued_for(self) -> float | None:
        """Seconds waited in all, answered or given up (Erlang's wait in queue); None: neither."""
        end = self.answered if self.answered is not None else self.abandoned
        return None if end is None else end - self.arrived
