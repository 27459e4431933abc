"""Server-sent event streams: sse-starlette's response, and a limit on open streams per principal.

sse-starlette sends the keep-alive comments (``: ping``) and ends every stream when the server is
asked to stop, so a stopped gateway exits at once instead of waiting for its clients to leave.
Each gateway process counts the streams it serves per principal (``gateway:web``, ``ann``): one
more than ``SWITCHBOARD_STREAMS_PER_PRINCIPAL`` (default 5) is refused with a 429 naming the
limit, so one leaked tab or a buggy client cannot hold a gateway's connections.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.errors import ApiError

SEP = "\n"  # line ends of every event and ping (the SSE format allows \n, \r\n or \r)
PING = 15.0  # seconds between keep-alive comments: proxies close idle connections
DEFAULT_LIMIT = 5
LIMIT_VARIABLE = "SWITCHBOARD_STREAMS_PER_PRINCIPAL"


def documented(description: str) -> dict[int, dict[str, Any]]:
    """The 200 answer of a stream route in OpenAPI: each event has a name, a JSON ``data`` line, an ``id``."""
    event_schema = {"type": "object", "required": ["data"], "properties": {
        "event": {"type": "string"}, "data": {"type": "string", "description": "One JSON object"},
        "id": {"type": "string"}, "retry": {"type": "integer"}}}
    return {200: {"description": description, "content": {"text/event-stream": {"schema": event_schema}}}}


def limit_from_env() -> int:
    """The per-principal limit from the environment; a bad value names the variable."""
    raw = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ValueError(f"{LIMIT_VARIABLE}={raw!r}: give a whole number of streams from 1 to 1000")
    return int(raw)


def event(name: str, data: dict[str, Any], *, event_id: int | None = None) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=name, sep=SEP,
                           id=None if event_id is None else str(event_id))


class Streams:
    """The open streams of one gateway process, counted per principal."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()

    def response(self, principal: str, events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
        """The stream for ``principal``, or a 429 when it has ``limit`` open already."""
        if self.open[principal] >= self.limit:
            raise ApiError(429, "TooManyStreams", f"{principal} has {self.open[principal]} event streams open on "
                                                  f"this gateway, the most one principal may ({LIMIT_VARIABLE}); "
                                                  "close one, or reconnect with Last-Event-ID after it ended")
        self.open[principal] += 1
        return _Counted(self, principal, events)

    def closed(self, principal: str) -> None:
        self.open[principal] -= 1
        if self.open[principal] <= 0:
            del self.open[principal]


class _Counted(EventSourceResponse):
    """Gives its place back when the response ends, however it ends (done, client gone, shutdown)."""

    def __init__(self, streams: Streams, principal: str, events: AsyncIterator[ServerSentEvent]) -> None:
        super().__init__(events, ping=PING, sep=SEP, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._streams, self._principal = streams, principal

    async def __call__(self, scope, receive, send) -> None:
        sent: set[str] = set()

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                sent.add("start")
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                sent.add("end")
            await send(message)

        try:
            await super().__call__(scope, receive, sending)
            if sent == {"start"}:  # stopped by the server's shutdown: end the body, so the client reads a whole stream
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._streams.closed(self._principal)


async def streams(request: Request) -> Streams:
    """FastAPI dependency: the app's stream counter (set by ``create_app``); async as ``backend``."""
    return request.app.state.streams


OpenStreams = Annotated[Streams, Depends(streams)]
