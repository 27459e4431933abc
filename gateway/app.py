"""The HTTP gateway (CONTRACT "HTTP gateway"): FastAPI over the Temporal client and the store.

``create_app()`` reads the CONTRACT environment variables and connects in its lifespan (as
``switchboard gateway`` runs it under uvicorn); tests and the benchmark hand it a store and a
client they already have. OpenAPI at ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from temporalio.client import Client

from gateway import accounts, agents, conversations, errors, ops
from gateway.bodies import BodyLimits
from gateway.backend import Backend
from gateway.errors import Error
from store import Store
from service.config import Settings
from service.temporal import connect

DESCRIPTION = """\
Channel gateways start and close conversations; agent workspaces answer offers and act on what
they hold; managers watch, join and write to the handling agent. Every call needs
`Authorization: Bearer <token>` (`switchboard token create PRINCIPAL`), and sees and does only
what SPEC R5 allows its principal. Errors are `{"error": code, "message": ..., "field": ...}`.
"""
# Documented on every route, so clients (and schemathesis) know each error's shape.
ERRORS = {status: {"model": Error, "description": text} for status, text in {
    400: "Unreadable request (not JSON, a bad page token)", 401: "No valid bearer token",
    403: "The caller may not do this (SPEC R5)", 404: "Nothing there, or nothing the caller may know of (SPEC R5)",
    409: "The conversation's state refuses it now",
    422: "Invalid input, outside SPEC R9.1's bounds included (a body of at most 64 KB); `field` names it",
    429: "Temporal asks to slow down: retry later", 503: "Temporal or the worker did not answer in time"}.items()}


def create_app(settings: Settings | None = None, *, store: Store | None = None, client: Client | None = None,
               task_queue: str | None = None, timeout: float = 10.0) -> FastAPI:
    """The gateway app. Without ``store``/``client``, its lifespan opens them from ``settings``
    (default: the environment) and closes what it opened."""
    settings = settings or Settings.from_env()
    wait = timedelta(seconds=timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if hasattr(app.state, "backend"):
            yield
            return
        own_store = store or await Store.open(settings.database_url)
        try:
            app.state.backend = Backend(own_store, client or await connect(settings),
                                        task_queue or settings.task_queue, wait)
            yield
        finally:
            if store is None:
                await own_store.close()

    app = FastAPI(title="Switchboard gateway", version="0.2.0", description=DESCRIPTION, lifespan=lifespan,
                  responses=ERRORS)
    if store is not None and client is not None:
        app.state.backend = Backend(store, client, task_queue or settings.task_queue, wait)
    errors.install(app)
    app.add_middleware(BodyLimits)
    ops.install(app)  # /healthz, /readyz, /metrics; HTTP metrics; traces when OTEL_* asks
    for module in (conversations, agents, accounts):
        app.include_router(module.router)
    return app
