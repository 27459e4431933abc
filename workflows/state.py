"""The conversation's state: one pydantic object, carried across continue-as-new."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from routing.directory import SkillRef
from routing.model import ConversationStatus, Event, Note, Offer, Origin, StartConversation


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
    participants: list[str] = []  # managers who joined
    # Routing bookkeeping.
    started_at: datetime
    waiting_since: datetime
    step: int = 0
    target: SkillRef | None = None  # None until the policy has placed it
    excluded: list[str] = []  # agents who declined or let an offer expire in this attempt
    policy_applies: bool = True  # False after a rollback (SPEC R4.2)
    backup_deadline: datetime | None = None
    backup_handler: SkillRef | None = None
    idle_timeout: float | None = None
    last_activity: datetime | None = None
    # After a transfer (SPEC R6): where it came from (the way back), and its fallback.
    origin: Origin | None = None
    fallback_deadline: datetime | None = None
    fallback_to: SkillRef | None = None

    @classmethod
    def opened(cls, start: StartConversation, now: datetime) -> ConversationState:
        return cls(**start.model_dump(), started_at=now, waiting_since=now, last_activity=now)

    def view(self) -> dict[str, Any]:
        """The ``state`` query result (CONTRACT): the public keys, JSON-ready."""
        return self.model_dump(mode="json", include=VIEW_KEYS)

    def record(self, at: datetime, kind: str, *, reason: str | None = None, actor: str | None = None,
               agent: str | None = None, account: str | None = None, skill: str | None = None) -> None:
        """Append a timeline event; account/skill default to where the conversation is now."""
        where = self.target or SkillRef(account=self.account, skill=self.skill)
        self.timeline.append(Event(at=at, kind=kind, actor=actor, agent=agent, reason=reason,
                                   account=account or where.account, skill=skill or where.skill))


VIEW_KEYS = {
    "conversation_id", "account", "brand_name", "skill", "handler_account", "handler_skill", "channel",
    "customer", "first_message", "priority", "attributes", "status", "offer", "assignee", "hero",
    "rollover_mode", "notes", "timeline", "participants",
}
