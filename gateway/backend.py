"""What every route needs: the store, the Temporal client, and how long to wait for a worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from temporalio.client import Client

from store import Store


@dataclass(frozen=True)
class Backend:
    store: Store
    client: Client
    task_queue: str
    timeout: timedelta = timedelta(seconds=10)  # a query or command with no worker to answer: 503 after this


async def backend(request: Request) -> Backend:
    """FastAPI dependency: the app's backend (set by ``create_app`` or its lifespan). Async: FastAPI
    runs a plain function dependency on its thread pool, a hop to a thread and back on every request."""
    return request.app.state.backend
