"""The traffic file of the what-if simulator (CONTRACT "What-if simulator"): YAML to a validated
``Traffic``, or a ``TrafficError`` naming file, line and key.

Arrivals are per owner skill and channel: a flat ``per_hour`` rate, optionally shaped by 24
hourly weights (``shape``), or counts for each report interval of the day (``per_interval``),
all in local time of the owner account's zone. Durations are spelt like the directory's
(``30s``, ``2m``, ``1h`` or seconds). The file is read with the directory file's own YAML
limits (no anchors, no duplicate keys, bounded depth and size).
"""

from __future__ import annotations

import math
import random
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from routing.directory import Directory
from routing.durations import parse_duration
from routing.hours import WeeklyHours, parse_hours
from routing.limits import Id, quote
from routing.model import CHANNELS
from store.directory_file import FILE_MAX_BYTES, DirectoryError, line_at, read_yaml

DAYS_MAX = 31
RATE_MAX = 100_000.0  # arrivals per hour of one stream
CONVERSATIONS_MAX = 2_000_000  # in a run: about a minute of CPU per 100,000 (docs/whatif.md "Speed")
Seconds = Annotated[float, BeforeValidator(parse_duration)]


class TrafficError(ValueError):
    """A traffic file that cannot be simulated; the message names file, line and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Strict):
    """A duration drawn per conversation: ``mean`` and a shape (``cv`` for lognormal)."""

    mean: Seconds
    dist: Literal["exponential", "fixed", "lognormal"] = "exponential"
    cv: float = Field(default=1.0, gt=0, le=10)  # lognormal: standard deviation / mean

    def draw(self, rng: random.Random) -> float:
        if self.dist == "fixed":
            return self.mean
        if self.dist == "exponential":
            return rng.expovariate(1.0 / self.mean)
        sigma2 = math.log(1 + self.cv ** 2)
        return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))

    def scaled(self, factor: float) -> Distribution:
        return self.model_copy(update={"mean": self.mean * factor})


def _hours(value: Any) -> WeeklyHours:
    return value if isinstance(value, WeeklyHours) else parse_hours(value)


class Stream(_Strict):
    """Conversations arriving at one owner skill on one channel."""

    account: Id
    skill: Id
    channel: str = "web"
    per_hour: float | None = Field(default=None, ge=0, le=RATE_MAX)
    shape: list[Annotated[float, Field(ge=0)]] | None = Field(default=None, min_length=24, max_length=24)
    per_interval: list[Annotated[float, Field(ge=0)]] | None = None
    handle: Distribution
    patience: Distribution | None = None  # absent: customers never abandon
    priority: int = Field(default=0, ge=-1000, le=1000)
    heroes: float = Field(default=0.0, ge=0, le=1)  # share of repeat customers with a hero

    @model_validator(mode="after")
    def _one_rate(self) -> Stream:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {quote(self.channel)}; one of {', '.join(CHANNELS)}")
        if (self.per_hour is None) == (self.per_interval is None):
            raise ValueError("give arrivals as per_hour (optionally with a 24-hour shape) or per_interval")
        if self.shape is not None and self.per_hour is None:
            raise ValueError("shape weighs per_hour; it needs per_hour")
        if self.shape is not None and not any(self.shape):
            raise ValueError("shape has no positive weight")
        return self


    def pieces(self, interval: float) -> list[tuple[float, float, float]]:
        """(start minute, end minute, arrivals per second) pieces of a local day."""
        if self.per_interval is not None:
            size = interval / 60
            return [(i * size, (i + 1) * size, n / interval) for i, n in enumerate(self.per_interval)]
        per_hour = self.per_hour or 0.0  # one of per_hour and per_interval is given (validated)
        if self.shape is None:
            return [(0, 1440, per_hour / 3600)]
        mean = sum(self.shape) / 24
        return [(h * 60, (h + 1) * 60, per_hour * w / mean / 3600) for h, w in enumerate(self.shape)]


class Answer(_Strict):
    """How agents answer an offer: after ``time``; ``decline`` and ``no_answer`` are shares."""

    time: Distribution | None = None  # absent: at once
    decline: float = Field(default=0.0, ge=0, le=1)
    no_answer: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _shares(self) -> Answer:
        if self.decline + self.no_answer > 1:
            raise ValueError("decline + no_answer is more than 1")
        return self


class AgentPlan(_Strict):
    """One agent's day: online inside ``shift`` (their account's zone), offline outside."""

    id: Id
    shift: Annotated[WeeklyHours, BeforeValidator(_hours)] | None = None  # absent: directory status
    answer: Answer | None = None


class Traffic(_Strict):
    start: date
    days: int = Field(default=1, ge=1, le=DAYS_MAX)
    seed: int = 0
    interval: Seconds = 3600.0
    service_level: Seconds = 20.0
    streams: list[Stream] = Field(min_length=1)
    answer: Answer = Answer()
    agents: list[AgentPlan] = []

    @model_validator(mode="after")
    def _intervals(self) -> Traffic:
        if 86_400 % self.interval or self.interval < 60:
            raise ValueError("interval must divide a day into whole intervals of at least a minute (15m, 30m, 1h)")
        per_day = int(86_400 // self.interval)
        for stream in self.streams:
            if stream.per_interval is not None and len(stream.per_interval) != per_day:
                raise ValueError(f"per_interval of {stream.account}/{stream.skill} has {len(stream.per_interval)} "
                                 f"values; a day has {per_day} intervals of {self.interval:g}s")
        expected = self.days * sum(sum(s.per_interval) if s.per_interval is not None else 24 * (s.per_hour or 0.0)
                                   for s in self.streams)
        if expected > CONVERSATIONS_MAX:
            raise ValueError(f"about {expected:,.0f} conversations in all; a run simulates at most "
                             f"{CONVERSATIONS_MAX:,} (fewer days or lower rates)")
        return self


def read_traffic(path: str | Path, directory: Directory) -> Traffic:
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(FILE_MAX_BYTES + 1)
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise TrafficError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TrafficError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    if len(data) > FILE_MAX_BYTES:
        raise TrafficError(f"{path}: larger than {FILE_MAX_BYTES // 1_000_000} MB; not a traffic file")
    return parse_traffic(text, directory, str(path))


def parse_traffic(text: str, directory: Directory, source: str = "<traffic>") -> Traffic:
    """The traffic in ``text``, checked against ``directory`` (its streams' skills and agents)."""
    try:
        root, data = read_yaml(text, source)
    except DirectoryError as exc:
        raise TrafficError(str(exc)) from None
    if not isinstance(data, dict):
        raise TrafficError(f"{source}:1: the traffic file must be a mapping with 'start' and 'streams'")
    try:
        traffic = Traffic.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        detail = {"extra_forbidden": "unknown key", "missing": "missing key"}.get(
            error["type"], error["msg"].removeprefix("Value error, "))
        value = error.get("input")
        shown = f" = {quote(value)}" if error["type"] != "missing" and not isinstance(value, (dict, list)) else ""
        raise _error(source, root, loc, f"{'.'.join(map(str, loc)) or 'traffic'}{shown}: {detail}") from None
    _check_references(traffic, directory, source, root)
    return traffic


def _error(source: str, root: Any, loc: tuple, message: str) -> TrafficError:
    line = line_at(root, loc)
    return TrafficError(f"{source}{f':{line}' if line else ''}: {message}")


def _check_references(traffic: Traffic, directory: Directory, source: str, root: Any) -> None:
    agents = {agent.id for account in directory.accounts for agent in account.agents}
    hero_accounts = {hero.account for hero in directory.heroes}
    for i, stream in enumerate(traffic.streams):
        account = directory.account(stream.account)
        if account is None:
            raise _error(source, root, ("streams", i, "account"),
                         f"streams.{i}.account: the directory has no account {stream.account!r}")
        if account.skill(stream.skill) is None:
            raise _error(source, root, ("streams", i, "skill"),
                         f"streams.{i}.skill: account {stream.account!r} has no skill {stream.skill!r}")
        if stream.heroes and stream.account not in hero_accounts:
            raise _error(source, root, ("streams", i, "heroes"),
                         f"streams.{i}.heroes: the directory has no heroes of account {stream.account!r} "
                         "to draw repeat customers from")
    for i, plan in enumerate(traffic.agents):
        if plan.id not in agents:
            raise _error(source, root, ("agents", i, "id"), f"agents.{i}.id: the directory has no agent {plan.id!r}")
