"""Request and response bodies of the HTTP gateway, as the OpenAPI document shows them.

Command bodies are the CONTRACT update inputs, with one convenience: the field naming who acts
(``agent``, ``by``, ``manager``, ``from``) may be left out and then is the caller. When given it
must be the caller (SPEC R5: agents act only for themselves); only an admin may name someone else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from routing.directory import Brand, SkillRef
from routing.limits import Id, Text
from routing.model import CHANNELS, Event, Note, Offer, StartConversation

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # a conversation id (routing.model.StartConversation)

# Ids in paths (and queries: routing.limits.Id) keep the same SPEC R9.1 bounds as ids in bodies (routing.limits.Id).
ConversationId = Annotated[Id, Path(pattern=ID_PATTERN)]
PathId = Annotated[Id, Path()]


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
    agent: Id | None = Field(default=None, description="The offered agent; default: the caller.")


class DeclineBody(_Body):
    actor = "agent"
    agent: Id | None = None
    reason: Text | None = None


class CloseBody(_Body):
    actor = "by"
    by: Id | None = None
    reason: Text | None = None


class TransferBody(_Body):
    actor = "by"
    by: Id | None = None
    account: Id | None = Field(default=None,
                               description="Another account: a manual rollover (SPEC R6). Default: where it is now.")
    skill: Id | None = None
    agent: Id | None = Field(default=None, description="A named agent of the target account.")
    note: Text | None = Field(default=None, description="For the receiving agents, never the customer.")
    warm_message: Text | None = Field(default=None, description="Sent to the customer.")


class RollbackBody(_Body):
    actor = "by"
    by: Id | None = None
    skill: Id | None = Field(default=None, description="An owner skill; default: the one it came from.")
    note: Text | None = None


class ReassignToHeroBody(_Body):
    actor = "by"
    by: Id | None = None


class JoinBody(_Body):
    actor = "manager"
    manager: Id | None = None


class PrivateMessageBody(_Body):
    actor = "from"
    sender: Id | None = Field(default=None, alias="from")
    to: Id | None = Field(default=None, description="The handling agent; default: the assignee.")
    text: Annotated[Text, Field(min_length=1)]


class StartBody(StartConversation):
    """The CONTRACT start input, validated as the workflow validates it; the channels listed."""

    channel: str = Field(json_schema_extra={"enum": list(CHANNELS)})


class Started(BaseModel):
    conversation_id: str
    workflow_id: str
    created: bool = Field(description="False: a conversation with this id was running already (SPEC R1.2).")


class ConversationView(BaseModel):
    """The ``state`` query (CONTRACT), as much of it as the caller may see (SPEC R5)."""

    conversation_id: str
    account: str
    brand_name: str | None = None
    skill: str
    handler_account: str | None = None
    handler_skill: str | None = None
    channel: str
    customer: str
    first_message: str | None = None
    priority: int = 0
    attributes: dict[str, Any] = {}
    status: str
    offer: Offer | None = None
    assignee: str | None = None
    hero: str | None = None
    rollover_mode: str | None = None
    notes: list[Note] = []
    timeline: list[Event] = []
    participants: list[str] = []


class Done(BaseModel):
    """A command went through, and the conversation is no longer the caller's to see (SPEC R5):
    a handler agent who rolled it back, say."""

    conversation_id: str
    command: str
    visible: Literal[False] = False


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["online", "away", "offline"]


class AgentStatus(BaseModel):
    agent: str
    status: str
    woke: int = Field(description="Queued conversations told that room appeared (SPEC R2.3).")


class Held(BaseModel):
    """A conversation holding one of the agent's slots, with what the agent needs to answer it."""

    conversation_id: str
    status: Literal["offered", "assigned"]
    account: str = Field(description="Where it is now: the handler account when rolled over.")
    skill: str
    owner: SkillRef | None = Field(default=None, description="The owner's skill (SPEC R3.7).")
    brand: Brand = Field(description="The owner's brand profile (SPEC R3.7, R5.3).")
    notes: list[Note] = Field(default=[], description="Agent notes of earlier transfers (SPEC R6.2).")
    offered_at: datetime
    expires_at: datetime | None = Field(default=None, description="When an open offer expires.")


class AgentOffers(BaseModel):
    agent: str
    offers: list[Held]
    assigned: list[Held]


class ConversationSummary(BaseModel):
    """One line of the manager's view, from Temporal visibility (the search attributes)."""

    conversation_id: str
    account: str | None = None
    brand_name: str | None = None
    skill: str | None = None
    handler_account: str | None = None
    handler_skill: str | None = None
    assignee: str | None = None
    channel: str | None = None
    customer: str | None = None
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
    agent: Id | None = None
    inbox: Id | None = Field(default=None, description="A skill: the hero team, or the agent's inbox.")


class HeroView(BaseModel):
    account: str
    customer: str
    agent: str | None = None
    inbox: str | None = None


class Me(BaseModel):
    """Who the bearer token speaks for, as SPEC R5 judges them."""

    id: str
    role: str
    account: str | None = None
    accounts: list[str] | None = Field(default=None, description="A gateway's accounts; none: every account.")
    brand_name: str | None = None


class AgentView(BaseModel):
    id: str
    name: str | None = None
    account: str
    role: str
    kind: str
    status: str
    active: bool
    load: int
    capacity: int | None = Field(description="None: unlimited (a bot, say).")
    skills: list[str]


class QueueFigure(BaseModel):
    skill: str
    length: int
    oldest_since: datetime | None = None
    oldest_wait_seconds: float | None = Field(default=None, description="How long the longest waiter has waited.")


class Target(BaseModel):
    """A skill a conversation may move to, with its hours now (SPEC R6.3)."""

    account: str
    brand_name: str
    skill: str
    name: str | None = None
    open_now: bool
    next_opening: datetime | None = Field(default=None, description="When closed: its next opening; none: never.")
    next_opening_text: str | None = Field(default=None, description="The same, in the skill's time zone.")


class MoveOptions(BaseModel):
    """What the transfer dialog and the rollback menu offer for one conversation, to this caller."""

    conversation_id: str
    here: SkillRef = Field(description="Where it is now: the handler's skill when rolled over.")
    may_transfer: bool
    may_roll_back: bool
    skills: list[Target] = Field(description="Other skills of the account it is in (SPEC R6.7).")
    agents: list[AgentView] = Field(description="Agents of that account who could take it by name (R6.7).")
    rollover: list[Target] = Field(description="Only the (account, skill) targets configured for its skill (R6.1).")
    rollback: list[Target] = Field(description="The owner's skills, for the handler side (SPEC R4).")
    hero: str | None = Field(default=None, description="The customer's hero, for Reassign to hero (R7.3).")
