"""``/gateways/{name}/events``: what the engine sends to the customer, for their channel gateway.

A channel gateway (principal ``gateway:<name>``) reads one stream of server-sent events for the
conversations of the accounts it serves (CONTRACT "Customer side"): ``warm_message`` (SPEC R6.2:
the text a transfer carries for the customer) and ``closed`` (SPEC R8.1). Each event's ``id`` is
its place in the store's outbox: a gateway that reconnects with ``Last-Event-ID`` (or ``after``),
after a restart say, gets exactly what it has not seen, in order, and nothing twice. Agent notes
and private messages never appear here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.agents import event_id
from gateway.auth import Caller, Gw
from gateway.backend import Backend
from gateway.errors import forbidden
from gateway.schemas import ConversationId
from gateway.streams import OpenStreams, documented, event
from routing.limits import Id
from routing.visibility import Party
from store import outbox
from store.rights import GATEWAY_PREFIX

router = APIRouter(prefix="/gateways", tags=["customer side"])
POLL = 0.5  # seconds between looks at the outbox


@router.get("/{name}/events", name="customer_events", response_class=EventSourceResponse, responses=documented(
    "Server-sent events `warm_message` and `closed`, each with its outbox id as its `id`."))
async def customer_events(
        name: Id, party: Caller, gw: Gw, streams: OpenStreams,
        conversation_id: Annotated[ConversationId | None, Query(description="Only this conversation's.")] = None,
        max_seconds: Annotated[float | None, Query(ge=0, le=86_400, description=(
            "End the stream after this long; 0: what is there now, then end. Default: until the client leaves."))]
        = None,
        after: Annotated[int | None, Query(ge=0, le=2**53, description=(
            "Events after this id only (as the Last-Event-ID header)."))] = None,
        last_event_id: Annotated[str | None, Header(max_length=20)] = None):
    """What the engine sends to the customers of the accounts this gateway serves: warm-transfer
    messages (SPEC R6.2) and closes, in order, resumable with `Last-Event-ID`."""
    principal = GATEWAY_PREFIX + name
    if party.role != "admin" and party.id != principal:
        raise forbidden(f"{party.id} may not read the events of {principal}: only that gateway (or an admin) may")
    start = after if after is not None else event_id(last_event_id)
    return streams.response(party.id, _stream(gw, party, after=start, conversation_id=conversation_id,
                                              max_seconds=max_seconds))


async def _stream(gw: Backend, party: Party, *, after: int, conversation_id: str | None,
                  max_seconds: float | None) -> AsyncIterator[ServerSentEvent]:
    loop = asyncio.get_running_loop()
    ends = None if max_seconds is None else loop.time() + max_seconds
    while True:
        for row in await outbox.for_customers(gw.store, party.accounts, after=after, conversation_id=conversation_id):
            after = row.id
            yield event(row.kind, {"conversation_id": row.conversation_id, "account": row.account_id, **row.payload,
                                   "at": row.created_at.isoformat()}, event_id=row.id)
        if ends is not None and loop.time() >= ends:
            return
        await asyncio.sleep(POLL if ends is None else max(0.0, min(POLL, ends - loop.time())))
