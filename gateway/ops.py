"""The gateway's operations endpoints (CONTRACT "Operations"), outside the API and its tokens.

``/healthz``: the process answers. ``/readyz``: the database and Temporal answer within a bound,
else 503 naming which one and why. ``/metrics``: Prometheus text: this gateway's HTTP requests by
route template and status, and the store's gauges (the same figures every worker exports).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, disable_created_metrics
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from service import tracing
from service.metrics import Exporter

READY_TIMEOUT = 2.0  # seconds for each check
OPS_PATHS = ("/healthz", "/readyz", "/metrics")
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok\n")


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    backend = getattr(request.app.state, "backend", None)
    if backend is None:
        return JSONResponse({"ready": False, "reason": "starting: no database or Temporal client yet"}, 503)
    problems = {}
    for name, check in (("database", _database(backend.store)), ("temporal", _temporal(backend.client))):
        try:
            await asyncio.wait_for(check, READY_TIMEOUT)
        except asyncio.TimeoutError:
            problems[name] = f"no answer within {READY_TIMEOUT:g}s"
        except Exception as exc:  # whatever the driver says: the reason is the point of /readyz
            problems[name] = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"[:300]
    if problems:
        reason = "; ".join(f"{name} unreachable ({why})" for name, why in problems.items())
        return JSONResponse({"ready": False, "reason": reason, "checks": problems}, 503)
    return JSONResponse({"ready": True})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    exporter: Exporter = request.app.state.exporter
    backend = getattr(request.app.state, "backend", None)
    if backend is not None:
        exporter.watch_store(backend.store)
    return Response(await exporter.scrape(), media_type=CONTENT_TYPE_LATEST)


async def _database(store) -> None:
    async with store.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _temporal(client) -> None:
    await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=READY_TIMEOUT))


class HttpMetrics:
    """Pure ASGI (a streaming response passes through untouched): counts each request by method,
    route template (never the raw path: ids stay out of labels) and status, and times it."""

    def __init__(self, app: ASGIApp, exporter: Exporter) -> None:
        self.app = app
        self.requests = Counter("switchboard_http_requests", "HTTP requests by method, route and status",
                                ["method", "route", "status"], registry=exporter.registry)
        self.duration = Histogram("switchboard_http_request_duration_seconds",
                                  "Time to answer an HTTP request (to the end of its body)", ["method", "route"],
                                  registry=exporter.registry, buckets=DURATION_BUCKETS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPS_PATHS:
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.duration.labels(scope["method"], route).observe(time.perf_counter() - started)


def install(app: FastAPI) -> None:
    """The three routes and the HTTP metrics, on ``app``'s own registry; request spans when
    tracing is on (``service.tracing``)."""
    disable_created_metrics()  # no `_created` series beside every counter: nobody graphs them
    app.state.exporter = exporter = Exporter()
    app.include_router(router)
    app.add_middleware(HttpMetrics, exporter=exporter)
    tracing.instrument(app)
