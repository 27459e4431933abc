"""SPEC R9.2 at the door: a request body too large or nested too deep is refused (422) before it
is parsed, so no input reaches the JSON decoder's recursion or costs megabytes of parsing.

Every input that SPEC R9.1 allows fits well inside these bounds: ids of 200 characters, free text
of 4,000, attributes of 8 KB nested 5 deep (6 inside the body). The field-by-field limits stay
with the models (``routing.limits``), which name the field; this only keeps the parser safe.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError, response

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string: its brackets are text, not nesting
_BRACKET = re.compile(rb"[\[\]{}]")


def depth(body: bytes) -> int:
    """How deep a JSON text nests, without parsing it (no recursion whatever the input)."""
    level = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", body)):
        level += 1 if bracket in b"[{" else -1
        deepest = max(deepest, level)
    return deepest


def _too_large(size: int | str) -> ApiError:
    return ApiError(422, "InvalidInput", f"body: {size} bytes; at most {MAX_BYTES} (SPEC R9.1)", field="body")


class BodyLimits:
    """ASGI middleware: reads the body (at most ``MAX_BYTES``), checks its nesting, then hands it on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BYTES:  # refused unread
            await response(_too_large(int(declared)))(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BYTES:
                await response(_too_large(f"over {MAX_BYTES}"))(scope, receive, send)
                return
        if depth(body) > MAX_DEPTH:
            await response(ApiError(422, "InvalidInput", f"body: JSON nested deeper than {MAX_DEPTH} levels "
                                                         "(attributes: at most 5, SPEC R9.1)", field="body"))(
                scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, as read; then the client's own messages (a streaming response listens for
    ``http.disconnect``)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
