"""The conversation's data: its start input, its commands, its state and its timeline.

These pydantic models cross every wire (gateway -> Temporal -> workflow -> activity -> store), with
the same shapes as CONTRACT.md. ``parse`` turns a raw JSON object into a model or a
``Refusal`` whose message names the bad field and value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routing.directory import Brand, SkillRef
from routing.errors import Refusal
from routing.limits import Attributes, Id, Text, quote
from routing.visibility import Party

# Channels a gateway may start a conversation on (SPEC R1.1); add new ones here.
CHANNELS = ("web", "sms", "abc", "gbm", "whatsapp", "voice", "email", "voicemail")
MESSAGING_CHANNELS = ("web", "sms", "abc", "gbm", "whatsapp")

ConversationStatus = Literal["routing", "queued", "offered", "assigned", "closed"]


class _Input(BaseModel):
    """Inputs refuse unknown keys so that a misspelt field is named rather than ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StartConversation(_Input):
    """A gateway's start input (CONTRACT "Start input", SPEC R1.1)."""

    conversation_id: Id = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    account: Id
    skill: Id
    channel: str = Field(max_length=50)
    customer: Id
    first_message: Text | None = None
    priority: int = Field(default=0, ge=-1000, le=1000, strict=True)
    attributes: Attributes = {}

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; one of {', '.join(CHANNELS)}")
        return value


class Accept(_Input):
    agent: Id


class Decline(_Input):
    agent: Id
    reason: Text | None = None


class Close(_Input):
    by: Id
    reason: Text | None = None


class Transfer(_Input):
    by: Id
    account: Id | None = None  # absent: the account the conversation is in now
    skill: Id | None = None
    agent: Id | None = None
    note: Text | None = None
    warm_message: Text | None = None


class Rollback(_Input):
    by: Id
    skill: Id | None = None
    note: Text | None = None


class ReassignToHero(_Input):
    by: Id


class Join(_Input):
    manager: Id


class PrivateMessage(_Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)
    sender: Id = Field(alias="from")
    to: Id
    text: Text = Field(min_length=1)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: object, what: str) -> M:
    """Validate ``raw`` as ``model``; a ``Refusal`` naming field and value when it is not."""
    if isinstance(raw, model):
        return raw
    if not isinstance(raw, dict):
        raise Refusal("InvalidInput", f"{what}: expected a JSON object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = quote(".".join(str(p) for p in first["loc"]) or what).strip("'")
        value = first.get("input")
        detail = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = f"{what}: missing field {field!r}"
        elif first["type"] == "extra_forbidden":
            message = f"{what}: unknown field {field!r}"
        else:
            message = f"{what}: field {field!r} = {quote(value)}: {detail}"
        raise Refusal("InvalidInput", message, field=field) from None


class Offer(BaseModel):
    agent: Id
    expires_at: datetime
    step: int = 0
    account: Id | None = None
    skill: Id | None = None


class Note(BaseModel):
    at: datetime
    by: Id
    text: str
    kind: Literal["note", "private_message"] = "note"
    to: Id | None = None


class Event(BaseModel):
    """One routing step in the timeline (SPEC R8.2): what happened, to whom, and why."""

    at: datetime
    kind: str
    actor: str | None = None
    account: Id | None = None
    skill: Id | None = None
    agent: Id | None = None
    reason: str | None = None


class Origin(BaseModel):
    """Where the last cross-account transfer came from: the way back needs no allow-list (R6.5)."""

    skill: SkillRef
    agent: Id | None = None


class HeroChanged(BaseModel):
    """Signal to a customer's open conversations: their hero is now ``hero`` (None: cleared)."""

    hero: Id | None = None  # the agent, else the inbox
    hero_agent: Id | None = None
    replaced: bool = False  # the customer had another hero before (R7.4)


class Move(BaseModel):
    """A command (or a hint checked against the store) that moves the conversation: a rollback
    (R4), a transfer (R6), to the hero (R7.3, R7.4) or away from a deactivated agent (R7.6).

    ``assignee``/``handler_account`` are the workflow's state when the move starts: rights are
    judged on them (SPEC R5.6). Notes stay in the workflow's state; only whether there is one
    travels (the timeline says so).
    """

    kind: Literal["rollback", "transfer", "hero", "reassign"]
    by: Id
    assignee: Id | None = None
    handler_account: Id | None = None
    reason: str | None = None
    has_note: bool = False
    source: SkillRef | None = None
    agent: Id | None = None  # a transfer to this named agent
    warm_message: Text | None = None
    origin: Origin | None = None


class RouteRequest(BaseModel):
    """One routing step, asked of the store by the workflow; ``step`` fences it.

    ``target`` None means "decide from the start" (hero, then the owner's rollover policy);
    otherwise route inside that skill. ``now`` is the workflow's clock, so every time rule is
    decided on workflow time (SPEC R3.6); ``arrived_at`` is the conversation's start (R2.3).
    """

    conversation_id: Id
    workflow_id: str
    first_run_id: str
    step: int
    opening: bool = False  # the first step: an unknown or disabled skill refuses the start (R1.3)
    now: datetime
    account: Id
    skill: Id
    customer: Id
    channel: str
    priority: int = 0
    arrived_at: datetime
    target: SkillRef | None = None
    excluded: list[Id] = []
    policy_applies: bool = True
    backup_deadline: datetime | None = None
    backup_handler: SkillRef | None = None
    move: Move | None = None  # set: a command asked for ``target``; refused if ``move.by`` may not
    fallback_deadline: datetime | None = None  # after a transfer: when to give up on the destination
    fallback_to: SkillRef | None = None


class RouteOutcome(BaseModel):
    """What the store did for a ``RouteRequest``: an offer, an assignment or a place in a queue.

    ``stale``: the step was older than the conversation's current one, or it had closed; nothing
    changed and the rest says nothing.
    """

    stale: bool = False
    target: SkillRef | None = None
    brand: Brand | None = None
    events: list[Event] = []
    offer_to: Id | None = None  # the agent offered it (the workflow starts the acceptance clock)
    assigned_to: Id | None = None  # R7.2: assigned without an offer
    accept_timeout: float = 30.0
    idle_timeout: float | None = None
    rollover_mode: str | None = None
    handled_by_handler: bool = False
    backup_deadline: datetime | None = None
    backup_handler: SkillRef | None = None
    policy_applies: bool = True
    fallback_deadline: datetime | None = None
    fallback_to: SkillRef | None = None
    hero: Id | None = None  # the customer's hero (agent, else inbox) when one was found (R7)
    decided: bool = True  # False: a hero offer; when it ends, routing decides again from the start
    excluded: list[Id] = []  # who has passed on it in this attempt (empty after a change of skill)


class Release(BaseModel):
    """The conversation ended: close its books and free whatever it holds (slot, queue place)."""

    conversation_id: Id
    now: datetime


class Principal(BaseModel):
    """A caller as the directory knows it, across the wire (``routing.visibility.Party`` is the
    rules' own, plain form)."""

    id: str
    role: Literal["agent", "manager", "gateway", "admin"]
    account: Id | None = None
    accounts: list[Id] | None = None

    @classmethod
    def of(cls, party: Party) -> Principal:
        return cls(id=party.id, role=party.role, account=party.account,
                   accounts=sorted(party.accounts) if party.accounts is not None else None)

    def party(self) -> Party:
        return Party(id=self.id, role=self.role, account=self.account,
                     accounts=frozenset(self.accounts) if self.accounts is not None else None)


class Delivery(BaseModel):
    """A private message to the agent handling the conversation (SPEC R5.2, R5.4), once per key."""

    conversation_id: Id
    by: Id
    to: Id
    text: Text
    key: str
    now: datetime
