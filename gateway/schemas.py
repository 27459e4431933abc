"""Request and response bodies of the HTTP gateway, as the OpenAPI document shows them.

Command bodies are the CONTRACT update inputs, with one convenience: the field naming who acts
(``agent``, ``by``, ``manager``, ``from``) may be left out and then is the caller. When given it
must be the caller (SPEC R5: agents act only for themselves); only an admin may name someone else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from routing.directory import Brand, SkillRef
from routing.model import CHANNELS, Event, Note, Offer, StartConversation

Id = str
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # a conversation id (routing.model.StartConversation)


class _Body(BaseModel):
    """Unknown keys are refused, so a misspelt field is named rather than ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)
    actor: ClassVar[str]  # the field naming who acts

    def update_input(self, caller: str) -> dict[str, Any]:
        """The update's input, with the acting field defaulted to the caller."""
        fields = self.model_dump(by_alias=True, exclude_none=True)
        fields.setdefault(self.actor, caller)
        return fields


class AcceptBody(_Body):
    actor = "agent"
    agent: Id | None = Field(default=None, min_length=1, description="The offered agent; default: the caller.")


class DeclineBody(_Body):
    actor = "agent"
    agent: Id | None = Field(default=None, min_length=1)
    reason: str | None = None


class CloseBody(_Body):
    actor = "by"
    by: Id | None = Field(default=None, min_length=1)
    reason: str | None = None


class TransferBody(_Body):
    actor = "by"
    by: Id | None = Field(default=None, min_length=1)
    account: Id | None = Field(default=None, min_length=1,
                               description="Another account: a manual rollover (SPEC R6). Default: where it is now.")
    skill: Id | None = Field(default=None, min_length=1)
    agent: Id | None = Field(default=None, min_length=1, description="A named agent of the target account.")
    note: str | None = Field(default=None, description="For the receiving agents, never the customer.")
    warm_message: str | None = Field(default=None, description="Sent to the customer.")


class RollbackBody(_Body):
    actor = "by"
    by: Id | None = Field(default=None, min_length=1)
    skill: Id | None = Field(default=None, min_length=1, description="An owner skill; default: the one it came from.")
    note: str | None = None


class ReassignToHeroBody(_Body):
    actor = "by"
    by: Id | None = Field(default=None, min_length=1)


class JoinBody(_Body):
    actor = "manager"
    manager: Id | None = Field(default=None, min_length=1)


class PrivateMessageBody(_Body):
    actor = "from"
    sender: Id | None = Field(default=None, alias="from", min_length=1)
    to: Id | None = Field(default=None, min_length=1, description="The handling agent; default: the assignee.")
    text: str = Field(min_length=1, max_length=4000)


class StartBody(StartConversation):
    """The CONTRACT start input, validated as the workflow validates it; the channels listed."""

    channel: str = Field(json_schema_extra={"enum": list(CHANNELS)})


class Started(BaseModel):
    conversation_id: Id
    workflow_id: str
    created: bool = Field(description="False: a conversation with this id was running already (SPEC R1.2).")


class ConversationView(BaseModel):
    """The ``state`` query (CONTRACT), as much of it as the caller may see (SPEC R5)."""

    conversation_id: Id
    account: Id
    brand_name: str | None = None
    skill: Id
    handler_account: Id | None = None
    handler_skill: Id | None = None
    channel: str
    customer: Id
    first_message: str | None = None
    priority: int = 0
    attributes: dict[str, Any] = {}
    status: str
    offer: Offer | None = None
    assignee: Id | None = None
    hero: Id | None = None
    rollover_mode: str | None = None
    notes: list[Note] = []
    timeline: list[Event] = []
    participants: list[Id] = []


class Done(BaseModel):
    """A command went through, and the conversation is no longer the caller's to see (SPEC R5):
    a handler agent who rolled it back, say."""

    conversation_id: Id
    command: str
    visible: Literal[False] = False


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["online", "away", "offline"]


class AgentStatus(BaseModel):
    agent: Id
    status: str
    woke: int = Field(description="Queued conversations told that room appeared (SPEC R2.3).")


class Held(BaseModel):
    """A conversation holding one of the agent's slots, with what the agent needs to answer it."""

    conversation_id: Id
    status: Literal["offered", "assigned"]
    account: Id = Field(description="Where it is now: the handler account when rolled over.")
    skill: Id
    owner: SkillRef | None = Field(default=None, description="The owner's skill (SPEC R3.7).")
    brand: Brand = Field(description="The owner's brand profile (SPEC R3.7, R5.3).")
    notes: list[Note] = Field(default=[], description="Agent notes of earlier transfers (SPEC R6.2).")
    offered_at: datetime
    expires_at: datetime | None = Field(default=None, description="When an open offer expires.")


class AgentOffers(BaseModel):
    agent: Id
    offers: list[Held]
    assigned: list[Held]


class ConversationSummary(BaseModel):
    """One line of the manager's view, from Temporal visibility (the search attributes)."""

    conversation_id: Id
    account: Id | None = None
    brand_name: str | None = None
    skill: Id | None = None
    handler_account: Id | None = None
    handler_skill: Id | None = None
    assignee: Id | None = None
    channel: str | None = None
    customer: Id | None = None
    status: str | None = Field(default=None, description="routing, queued, offered, assigned, closed; or how the "
                                                          "workflow ended when it did not close (failed, terminated)")
    rollover_mode: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


class ConversationPage(BaseModel):
    conversations: list[ConversationSummary]
    next_page_token: str | None = Field(default=None, description="Pass it back for the next page; none: the last.")


class HeroBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    agent: Id | None = Field(default=None, min_length=1)
    inbox: Id | None = Field(default=None, min_length=1, description="A skill: the hero team, or the agent's inbox.")


class HeroView(BaseModel):
    account: Id
    customer: Id
    agent: Id | None = None
    inbox: Id | None = None
