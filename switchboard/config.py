"""Configuration from the environment (CONTRACT "Configuration"), read the same by every process."""

from __future__ import annotations

import os
from dataclasses import dataclass


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
