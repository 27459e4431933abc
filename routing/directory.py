"""The directory: accounts, skills, agents, rollover policies and heroes, as plain models.

This is the schema of the directory file (CONTRACT "Directory file"). Parsing validates every
field and every cross-reference, so a file either loads whole or is refused with the field at
fault named; the store never sees a half-valid directory.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StrictBool,
                      StrictInt, field_validator, model_validator)

from routing.durations import format_duration, parse_duration
from routing.hours import WeeklyHours, parse_hours, zone
from routing.limits import Id, Text, quote

# SPEC R9: every number of the directory is bounded, so no value reaches a database column, a
# timer or a float it does not fit.
CAPACITY_MAX = 10_000
DURATION_MAX = 86_400.0  # a day: the longest acceptance timeout or backup window
IDLE_MAX = 30 * DURATION_MAX  # an email inbox may close what has been quiet for days
# A principal is an agent id, ``gateway:<name>`` or ``admin`` (CONTRACT "Command line"): an agent
# named like the others would get their rights with its token.
ADMIN = "admin"
GATEWAY_PREFIX = "gateway:"


def _at_most(most: float, words: str) -> BeforeValidator:
    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds > most:
            raise ValueError(f"{quote(value)} is longer than {words} ({format_duration(most)})")
        return seconds

    return BeforeValidator(check)


Duration = Annotated[float, _at_most(DURATION_MAX, "a day"), PlainSerializer(format_duration)]
IdleDuration = Annotated[float, _at_most(IDLE_MAX, "30 days"), PlainSerializer(format_duration)]
Capacity = Annotated[StrictInt, Field(ge=1, le=CAPACITY_MAX)]


def _not_a_principal(agent_id: str) -> str:
    if agent_id == ADMIN or agent_id.startswith(GATEWAY_PREFIX):
        raise ValueError(f"{quote(agent_id)} is a principal name ({ADMIN}, {GATEWAY_PREFIX}<name>), not an agent id")
    return agent_id


AgentId = Annotated[Id, AfterValidator(_not_a_principal)]


class _Strict(BaseModel):
    """Directory models refuse unknown keys, so a misspelt field is named, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RolloverMode(str, Enum):
    NONE = "none"
    FULLY_MANAGED = "fully_managed"
    BACKUP = "backup"
    SCHEDULE = "schedule"
    HYBRID = "hybrid"


class Status(str, Enum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Contact(BaseModel):
    """A key contact of a brand: a name and any text fields (phone, email, role, ...)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Text] = Field(init=False)
    name: Text
    phone: Text | None = None
    email: Text | None = None


class Brand(_Strict):
    """The owner's brand profile, shown to handler agents with every offer (SPEC R3.7)."""

    name: Text
    url: Text | None = None
    logo: Text | None = None
    hours: Text | None = None
    contacts: list[Contact] = []
    widget: Text | None = None


class SkillRef(_Strict):
    account: Id
    skill: Id

    def __str__(self) -> str:
        return f"{self.account}/{self.skill}"


def _hours(value: Any) -> WeeklyHours | None:
    return value if value is None or isinstance(value, WeeklyHours) else parse_hours(value)


Hours = Annotated[
    WeeklyHours | None,
    BeforeValidator(_hours),
    PlainSerializer(lambda h: h.spec if h else None),
]


def _schedule(value: Any) -> Any:
    """``off_hours`` or weekly windows, refused with the reason (not pydantic's "should be 'off_hours'")."""
    if isinstance(value, str) and value != "off_hours":
        raise ValueError(f"{quote(value)} is not a schedule: use off_hours or weekly windows")
    return value if value is None or isinstance(value, str) else _hours(value)


class RolloverPolicy(_Strict):
    """Where an owner skill's conversations go (SPEC R3)."""

    mode: RolloverMode
    handler: SkillRef | None = None
    backup_window: Duration = 60.0
    schedule: Annotated[Literal["off_hours"] | Hours, BeforeValidator(_schedule)] = None
    holidays: list[date] = []  # whole days inside an explicit schedule

    @model_validator(mode="after")
    def _complete(self) -> RolloverPolicy:
        if self.mode is not RolloverMode.NONE and self.handler is None:
            raise ValueError(f"mode {self.mode.value!r} needs a handler: {{account, skill}}")
        if self.mode in (RolloverMode.SCHEDULE, RolloverMode.HYBRID) and self.schedule is None:
            raise ValueError(f"mode {self.mode.value!r} needs a schedule: off_hours or weekly windows")
        return self

    @cached_property
    def holiday_set(self) -> frozenset[date]:
        return frozenset(self.holidays)


class Skill(_Strict):
    id: Id
    name: Text | None = None
    enabled: StrictBool = True
    hours: Hours = None
    holidays: list[date] = []
    accept_timeout: Duration = 30.0
    idle_timeout: IdleDuration | None = None  # set: an assigned conversation with no command closes (R8.1)
    rollover: RolloverPolicy | None = None
    transfer_targets: list[SkillRef] = []
    fallback_skill: Id | None = None

    @cached_property
    def holiday_set(self) -> frozenset[date]:
        return frozenset(self.holidays)


class Agent(_Strict):
    id: AgentId
    name: Text | None = None
    role: Literal["agent", "manager"] = "agent"
    kind: Literal["human", "bot"] = "human"
    skills: list[Id] = []
    capacity: Capacity | None = 1
    status: Status = Status.OFFLINE
    active: StrictBool = True


class Account(_Strict):
    id: Id
    brand: Brand
    timezone: Id = "UTC"
    default_voice_skill: Id | None = None
    rollover: RolloverPolicy | None = None  # the default for skills that set none
    skills: list[Skill] = []
    agents: list[Agent] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @cached_property
    def skills_by_id(self) -> dict[str, Skill]:
        found: dict[str, Skill] = {}
        for skill in self.skills:
            found.setdefault(skill.id, skill)  # the first, as a search from the top would
        return found

    def skill(self, skill_id: str) -> Skill | None:
        """By id, in constant time: every routing step asks (a BPO may handle hundreds of skills)."""
        return self.skills_by_id.get(skill_id)

    def policy_for(self, skill: Skill) -> RolloverPolicy | None:
        """The skill's own policy, else the account default (SPEC R3)."""
        return skill.rollover if "rollover" in skill.model_fields_set else self.rollover


class Hero(_Strict):
    account: Id
    customer: Id
    agent: Id | None = None
    inbox: Id | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Hero:
        # An agent hero may name their team inbox too: where conversations go when they are away.
        if self.agent is None and self.inbox is None:
            raise ValueError("a hero is an agent or an inbox (a team): give one, or an agent with their inbox")
        return self


class Gateway(_Strict):
    """A channel gateway principal; ``accounts`` limits it (absent: any account)."""

    name: Id
    accounts: list[Id] | None = None


class Directory(_Strict):
    accounts: list[Account] = []
    heroes: list[Hero] = []
    gateways: list[Gateway] = []

    @model_validator(mode="after")
    def _references(self) -> Directory:
        check_references(self)
        return self

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)


Loc = tuple[str | int, ...]


class BadReference(ValueError):
    """A name the directory does not define, or defines twice; ``loc`` is the field at fault,
    as pydantic spells locations, so the file loader can name its line."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _unique(ids: list[tuple[Loc, str]], what: str) -> None:
    seen: set[str] = set()
    for loc, item_id in ids:
        if item_id in seen:
            raise BadReference(loc, f"duplicate {what} id {item_id!r}")
        seen.add(item_id)


def check_references(directory: Directory) -> None:
    """Every id a directory names must exist: skills, handlers, targets, heroes (SPEC R3, R6, R7).

    A transfer target may name an account this directory does not hold (the CONTRACT example
    names ``acme-parts``): a transfer there is refused at run time until it exists. A target in
    an account the directory does hold must name one of its skills.
    """
    _unique([(("accounts", i, "id"), a.id) for i, a in enumerate(directory.accounts)], "account")
    _unique([(("accounts", i, "agents", j, "id"), agent.id) for i, account in enumerate(directory.accounts)
             for j, agent in enumerate(account.agents)], "agent")
    accounts = {a.id: a for a in directory.accounts}
    # Sets, not Account.skill(): a file of many skills and agents must not check in quadratic time.
    skills = {a.id: {s.id for s in a.skills} for a in directory.accounts}
    agents = {a.id: {g.id for g in a.agents} for a in directory.accounts}

    def skill_ref(ref: SkillRef, where: str, loc: Loc, *, any_account: bool = False) -> None:
        account = accounts.get(ref.account)
        if account is None and not any_account:
            raise BadReference(loc + ("account",), f"{where}: unknown account {ref.account!r}")
        if account is not None and ref.skill not in skills[account.id]:
            raise BadReference(loc + ("skill",), f"{where}: account {ref.account!r} has no skill {ref.skill!r}")

    for i, account in enumerate(directory.accounts):
        at: Loc = ("accounts", i)
        _unique([(at + ("skills", j, "id"), s.id) for j, s in enumerate(account.skills)],
                f"skill in account {account.id!r}")
        if account.rollover and account.rollover.handler:
            skill_ref(account.rollover.handler, f"accounts[{account.id}].rollover.handler",
                      at + ("rollover", "handler"))
        if account.default_voice_skill and account.default_voice_skill not in skills[account.id]:
            raise BadReference(at + ("default_voice_skill",), f"accounts[{account.id}].default_voice_skill: "
                               f"no skill {account.default_voice_skill!r}")
        for j, skill in enumerate(account.skills):
            where, skill_at = f"accounts[{account.id}].skills[{skill.id}]", at + ("skills", j)
            if skill.rollover and skill.rollover.handler:
                skill_ref(skill.rollover.handler, f"{where}.rollover.handler", skill_at + ("rollover", "handler"))
            _not_to_itself(account, skill, at, skill_at)
            for k, target in enumerate(skill.transfer_targets):
                skill_ref(target, f"{where}.transfer_targets", skill_at + ("transfer_targets", k), any_account=True)
            if skill.fallback_skill and skill.fallback_skill not in skills[account.id]:
                raise BadReference(skill_at + ("fallback_skill",),
                                   f"{where}.fallback_skill: no skill {skill.fallback_skill!r}")
        for j, agent in enumerate(account.agents):
            for k, skill_id in enumerate(agent.skills):
                if skill_id not in skills[account.id]:
                    raise BadReference(at + ("agents", j, "skills", k), f"accounts[{account.id}].agents[{agent.id}]"
                                       f".skills: no skill {skill_id!r} in account {account.id!r}")
    for i, hero in enumerate(directory.heroes):
        owner = accounts.get(hero.account)
        where, at = f"heroes[{hero.account}/{hero.customer}]", ("heroes", i)
        if owner is None:
            raise BadReference(at + ("account",), f"{where}: unknown account {hero.account!r}")
        if hero.agent and hero.agent not in agents[owner.id]:
            raise BadReference(at + ("agent",), f"{where}: no agent {hero.agent!r} in account {hero.account!r}")
        if hero.inbox and hero.inbox not in skills[owner.id]:
            raise BadReference(at + ("inbox",), f"{where}: no skill {hero.inbox!r} in account {hero.account!r}")
    for i, gateway in enumerate(directory.gateways):
        for k, account_id in enumerate(gateway.accounts or []):
            if account_id not in accounts:
                raise BadReference(("gateways", i, "accounts", k),
                                   f"gateways[{gateway.name}].accounts: unknown account {account_id!r}")


def _not_to_itself(account: Account, skill: Skill, at: Loc, skill_at: Loc) -> None:
    """A policy that hands a skill's conversations to that same skill would roll them over in place."""
    policy = account.policy_for(skill)
    if policy is None or policy.mode is RolloverMode.NONE or policy.handler != SkillRef(account=account.id,
                                                                                       skill=skill.id):
        return
    if "rollover" in skill.model_fields_set:
        raise BadReference(skill_at + ("rollover", "handler"), f"accounts[{account.id}].skills[{skill.id}].rollover"
                           f".handler: {policy.handler} is the skill itself")
    raise BadReference(at + ("rollover", "handler"), f"accounts[{account.id}].rollover.handler: {policy.handler} is "
                       f"the skill itself for skill {skill.id!r}, which has no rollover of its own (give it one, "
                       "or rollover: null)")
