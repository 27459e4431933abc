"""``/agents/{id}``: presence, the conversations an agent holds, and their live feed.

An agent (person or bot) acts for themselves; a manager for the agents of their account; an admin
for anyone. Agents of an account the caller has no part in do not exist for them (SPEC R5.5).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from activities.routing import wake
from gateway import events
from gateway.auth import Caller, Gw
from gateway.errors import ApiError, forbidden, not_found
from gateway.schemas import AgentOffers, AgentStatus, PathId, StatusBody
from gateway.streams import OpenStreams, documented
from routing.errors import Refusal
from routing.visibility import Party, has_part_in, may_act_for
from store import presence

router = APIRouter(prefix="/agents", tags=["agents"])

AgentId = PathId


async def acting_for(gw: Gw, party: Party, agent_id: str) -> Party:
    """The agent as a ``Party``, if the caller may act for them."""
    if party.role == "gateway":
        raise forbidden("channel gateways do not act for agents")
    try:
        row = await presence.agent_row(gw.store, agent_id)
    except Refusal:
        raise not_found(f"agent {agent_id!r}") from None
    if not has_part_in(party, row.account_id):
        raise not_found(f"agent {agent_id!r}")
    agent = Party(id=row.id, role=row.config.get("role", "agent"), account=row.account_id)
    if not may_act_for(party, agent):
        raise forbidden(f"{party.id} may not act for agent {agent_id!r}: only the agent, a manager of "
                        f"{row.account_id} or an admin may")
    if not row.active:
        raise ApiError(409, "AgentInactive", f"agent {agent_id!r} is deactivated")
    return agent


@router.put("/{agent_id}/status", name="set_agent_status")
async def set_status(agent_id: AgentId, body: StatusBody, party: Caller, gw: Gw) -> AgentStatus:
    """Set presence; going online offers queued conversations at once (SPEC R2.3)."""
    await acting_for(gw, party, agent_id)
    wakes = await presence.set_status(gw.store, agent_id, body.status, datetime.now(timezone.utc))
    await wake(gw.client, wakes)
    return AgentStatus(agent=agent_id, status=body.status, woke=len(wakes))


@router.get("/{agent_id}/offers", name="agent_offers")
async def held(agent_id: AgentId, party: Caller, gw: Gw) -> AgentOffers:
    """The agent's open offers and assigned conversations, each with the owner's brand profile and
    the notes of earlier transfers (SPEC R3.7, R6.2)."""
    await acting_for(gw, party, agent_id)
    now = await events.holding(gw, agent_id)
    return AgentOffers(agent=agent_id, offers=[h for h in now if h.status == "offered"],
                       assigned=[h for h in now if h.status == "assigned"])


@router.get("/{agent_id}/events", name="agent_events", response_class=EventSourceResponse, responses=documented(
    "Server-sent events: `offer`, `assigned`, `offer_expired`, `released`, `private_message`."))
async def feed(agent_id: AgentId, party: Caller, gw: Gw, streams: OpenStreams,
               max_seconds: Annotated[float | None, Query(ge=0, le=86_400, description=(
                   "End the stream after this long; 0: the current offers and messages, then end. "
                   "Default: until the client disconnects."))] = None,
               after: Annotated[int | None, Query(ge=0, le=2**53, description=(
                   "Private messages after this event id only (as the Last-Event-ID header)."))] = None,
               last_event_id: Annotated[str | None, Header(max_length=20)] = None):
    """The agent's live feed: the current offers first, then new offers (with the owner's brand
    profile and notes), expiries, and private messages from managers (SPEC R5.2)."""
    await acting_for(gw, party, agent_id)
    start = after if after is not None else event_id(last_event_id)
    return streams.response(party.id, events.stream(gw, agent_id, after=start, max_seconds=max_seconds))


def event_id(header: str | None) -> int:
    """A ``Last-Event-ID`` header as the event id it names (0: from the start)."""
    if header is None:
        return 0
    if not header.isdigit():
        raise ApiError(400, "BadRequest", f"Last-Event-ID {header!r} is not an event id of this feed",
                       field="Last-Event-ID")
    return int(header)
