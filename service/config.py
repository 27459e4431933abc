"""Configuration from the environment (CONTRACT "Configuration"), read the same by every process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from routing.durations import parse_duration
from routing.limits import quote

RECONCILE_EVERY = "SWITCHBOARD_RECONCILE_EVERY"
RECONCILE_BOUNDS = (timedelta(seconds=1), timedelta(hours=1))


@dataclass(frozen=True)
class Settings:
    temporal_address: str
    namespace: str
    task_queue: str
    database_url: str | None
    directory: str | None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            temporal_address=env.get("TEMPORAL_ADDRESS", "localhost:7233"),
            namespace=env.get("TEMPORAL_NAMESPACE", "default"),
            task_queue=env.get("SWITCHBOARD_TASK_QUEUE", "switchboard"),
            database_url=env.get("SWITCHBOARD_DATABASE_URL") or None,
            directory=env.get("SWITCHBOARD_DIRECTORY") or None,
        )


def reconcile_every(env: Mapping[str, str] = os.environ) -> timedelta:
    """How often the reconciler sweeps (SPEC R8.1): ``SWITCHBOARD_RECONCILE_EVERY``, default 60s.

    Read by the processes that schedule it (worker, ``dev``) only, so a bad value stops them at
    start with the variable named, and leaves the gateway and the CLI alone."""
    value = env.get(RECONCILE_EVERY) or "60s"
    low, high = RECONCILE_BOUNDS
    try:
        every = timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise RuntimeError(f"{RECONCILE_EVERY}: {exc}") from None
    if not low <= every <= high:
        raise RuntimeError(f"{RECONCILE_EVERY}: {quote(value)} is outside 1s to 1h "
                           "(how long a slot may stay stranded after its conversation ends)")
    return every
