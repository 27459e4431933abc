"""The conversation's state: one pydantic object, carried across continue-as-new.

Bounded whatever the conversation receives (SPEC R9.3): it keeps its most recent notes and
timeline events; older ones stay readable in the history of earlier runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from routing.directory import SkillRef
from routing.model import ConversationStatus, Event, Note, Offer, Origin, StartConversation

NOTES_KEPT = 20  # the most recent notes kept ...
NOTES_BYTES = 32_000  # ... within this many bytes of text (UTF-8): a few 4,000-character notes at most
TIMELINE_KEPT = 200  # events; each reason is bounded by the inputs it quotes
PARTICIPANTS_KEPT = 50
CARRY_BYTES = 60_000  # the state handed to the next run stays under 64 KB (issue 14)


class ConversationState(BaseModel):
    # Who and where (CONTRACT "Query state"); account/skill are the owner's and never change.
    conversation_id: str
    account: str
    skill: str
    channel: str
    customer: str
    first_message: str | None = None
    priority: int = 0
    attributes: dict[str, Any] = {}
    brand_name: str | None = None
    handler_account: str | None = None
    handler_skill: str | None = None
    status: ConversationStatus = "routing"
    offer: Offer | None = None
    assignee: str | None = None
    hero: str | None = None
    rollover_mode: str | None = None
    notes: list[Note] = []
    timeline: list[Event] = []
    earlier_events: int = 0  # timeline events dropped from this state (kept in earlier runs' histories)
    participants: list[str] = []  # managers who joined
    # Routing bookkeeping.
    arrived_at: datetime  # the workflow's start: queue order (R2.3)
    step: int = 0  # the last routing step asked of the store; never reused
    changes: int = 0  # bumped by every change that moves a deadline: the wait re-arms on it
    pending: str | None = None  # why the conversation must be routed again (carried across runs)
    target: SkillRef | None = None  # None until the policy has placed it
    owner_skill: str | None = None  # the owner skill it was last in: where a rollback goes (R4.1)
    excluded: list[str] = []  # agents who declined or let an offer expire in this attempt
    policy_applies: bool = True  # False after a rollback (SPEC R4.2)
    backup_deadline: datetime | None = None
    backup_handler: SkillRef | None = None
    idle_timeout: float | None = None
    last_activity: datetime | None = None
    recheck_at: datetime | None = None  # the queue's safety net (DESIGN "Queues wake up")
    rechecks: int = 0  # re-checks in a row that found nobody: the net backs off
    waiting: bool = False  # in a queue since the last offer (a re-route that queues again is no news)
    # After a transfer (SPEC R6): where it came from (the way back), and its fallback.
    origin: Origin | None = None
    fallback_deadline: datetime | None = None
    fallback_to: SkillRef | None = None

    @classmethod
    def opened(cls, start: StartConversation, arrived_at: datetime, now: datetime) -> ConversationState:
        return cls(**start.model_dump(), arrived_at=arrived_at, last_activity=now, owner_skill=start.skill)

    @property
    def here(self) -> SkillRef:
        """The skill the conversation is in now (the owner's until the policy placed it)."""
        return self.target or SkillRef(account=self.account, skill=self.skill)

    def view(self) -> dict[str, Any]:
        """The ``state`` query result (CONTRACT): the public keys, JSON-ready."""
        return self.model_dump(mode="json", include=VIEW_KEYS)

    def mark(self) -> tuple[int, list[Note]]:
        """Where the timeline and the notes are now, for ``compact``."""
        return self.earlier_events + len(self.timeline), list(self.notes)

    def compact(self, since: tuple[int, list[Note]] | None = None) -> dict[str, Any]:
        """An update's result (and the ``summary`` query): the view without the timeline and the
        notes, plus what was added since ``since`` (``events``, ``new_notes``). Its size does not
        grow with the conversation's length, so neither do the update events in the history."""
        out = self.model_dump(mode="json", include=COMPACT_KEYS)
        total = self.earlier_events + len(self.timeline)
        start, notes = since if since is not None else (total, list(self.notes))
        fresh = self.timeline[max(0, start - self.earlier_events):]
        out["events"] = [e.model_dump(mode="json") for e in fresh]
        out["new_notes"] = [n.model_dump(mode="json") for n in self.notes if n not in notes]
        out["timeline_length"] = total
        return out

    def carried(self) -> ConversationState:
        """The state handed to the next run (continue-as-new), under ``CARRY_BYTES`` whatever the
        conversation's length: the oldest timeline events, then the oldest notes, stay behind (they
        are in this run's history). The rest is bounded by the inputs' limits (SPEC R9.1)."""
        carry = self.model_copy()
        while len(carry.model_dump_json().encode()) > CARRY_BYTES and (carry.timeline or len(carry.notes) > 1):
            if carry.timeline:
                dropped = max(1, len(carry.timeline) // 4)
                carry.timeline, carry.earlier_events = carry.timeline[dropped:], carry.earlier_events + dropped
            else:
                carry.notes = carry.notes[1:]
        return carry

    def record(self, at: datetime, kind: str, *, reason: str | None = None, actor: str | None = None,
               agent: str | None = None, account: str | None = None, skill: str | None = None) -> None:
        """Append a timeline event; account/skill default to where the conversation is now."""
        where = self.here
        self.extend([Event(at=at, kind=kind, actor=actor, agent=agent, reason=reason,
                           account=account or where.account, skill=skill or where.skill)])

    def extend(self, events: list[Event]) -> None:
        self.timeline.extend(events)
        if len(self.timeline) > TIMELINE_KEPT:
            dropped = len(self.timeline) - TIMELINE_KEPT
            self.timeline, self.earlier_events = self.timeline[dropped:], self.earlier_events + dropped

    def add_note(self, note: Note) -> None:
        """Keep the most recent notes: ``NOTES_KEPT``, within ``NOTES_BYTES`` of text (SPEC R9.3)."""
        notes = [*self.notes, note][-NOTES_KEPT:]
        while len(notes) > 1 and sum(len(n.text.encode()) for n in notes) > NOTES_BYTES:
            notes = notes[1:]
        self.notes = notes

    def join(self, manager: str) -> None:
        if manager not in self.participants:
            self.participants = [*self.participants, manager][-PARTICIPANTS_KEPT:]


VIEW_KEYS = {
    "conversation_id", "account", "brand_name", "skill", "handler_account", "handler_skill", "channel",
    "customer", "first_message", "priority", "attributes", "status", "offer", "assignee", "hero",
    "rollover_mode", "notes", "timeline", "participants", "earlier_events",
}

COMPACT_KEYS = VIEW_KEYS - {"notes", "timeline"}
