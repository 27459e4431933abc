"""An agent's live feed (``GET /agents/{id}/events``) as server-sent events.

It polls the store, where routing writes what an agent is sent: the ``holds`` table (an offer or
an assignment, with the owner's brand profile and transfer notes) and the ``outbox`` (private
messages). Polling keeps the gateway stateless: any number of gateway processes can serve feeds,
and a feed reconnecting to another one loses nothing. Events:

- ``offer``: a new offer (``Held``: conversation, where it is, the owner's skill and brand, notes,
  when it expires). At the start of a stream, every open offer is sent first.
- ``assigned``: a conversation the agent holds (at the start of a stream; or given to the hero
  without an offer, SPEC R7.2).
- ``offer_expired``: an offer ran out unanswered (SPEC R2.2).
- ``released``: the agent no longer holds it; ``reason`` is ``declined``, ``offer_withdrawn``,
  ``closed``, ``reassigned``, ``moved`` (transferred, rolled back), or ``unknown`` when the
  conversation did not answer in time.
- ``private_message``: from a manager (SPEC R5.2, R5.4); its ``id`` is the event id, so a client
  that reconnects with ``Last-Event-ID`` gets only newer ones.

One conversation that does not answer its ``state`` query (its worker stuck or gone) never breaks
the others: each query has a short timeout of its own, and a conversation that misses it is shown
as the store's hold row has it (offered, or assigned without an offer), the feed going on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from gateway import access
from gateway.backend import Backend
from gateway.errors import ApiError
from gateway.schemas import Held
from gateway.streams import event as _event
from routing.directory import Brand, SkillRef
from sse_starlette import ServerSentEvent

from store import outbox, presence

POLL = 0.5  # seconds between looks at the store (keep-alive comments: gateway.streams)
QUERY_TIMEOUT = timedelta(seconds=2)  # per conversation: a stuck one must not hold up the others
ENDINGS = {"offer_expired", "declined", "offer_withdrawn", "closed", "reassigned"}
log = logging.getLogger(__name__)


async def holding(gw: Backend, agent_id: str) -> list[Held]:
    """What the agent holds now, offered or assigned, as the workflows say (one query each)."""
    return [held for _, held in await _holding(gw, agent_id)]


async def _holding(gw: Backend, agent_id: str) -> list[tuple[Any, Held]]:
    rows = await presence.holds_of(gw.store, agent_id)
    views = await asyncio.gather(*(_view(gw, row.conversation_id) for row in rows), return_exceptions=True)
    found = []
    for row, view in zip(rows, views, strict=True):
        if isinstance(view, ApiError):  # no answer in time: as the store has it
            found.append((row, _stored(row)))
        elif isinstance(view, BaseException):
            raise view
        elif view is None:
            continue
        elif view["status"] == "offered" and (view.get("offer") or {}).get("agent") == agent_id:
            found.append((row, _held(row, "offered", view)))
        elif view.get("assignee") == agent_id:
            found.append((row, _held(row, "assigned", view)))
        # else: on its way elsewhere (declined, expiring); the next look will not find it
    return found


async def _view(gw: Backend, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's state, None when it has ended; an ``ApiError`` when it did not answer."""
    try:
        return await access.state(gw, conversation_id, timeout=min(gw.timeout, QUERY_TIMEOUT))
    except ApiError as error:
        if error.status == 404:
            return None
        log.warning("agent feed: %s", error.message)
        raise


def _stored(row: Any, view: dict[str, Any] | None = None) -> Held:
    """The hold row as routing wrote it: an offer, or an assignment without one (SPEC R7.2)."""
    return _held(row, "assigned" if row.outcome.get("assigned") else "offered", view)


def _held(row: Any, status: str, view: dict[str, Any] | None) -> Held:
    """The hold as the agent sees it; the notes are the conversation's own (its ``state``), when
    it answers."""
    kept = row.outcome or {}
    owner = SkillRef.model_validate(kept["owner"]) if kept.get("owner") else None
    brand = Brand.model_validate(kept["brand"]) if kept.get("brand") else Brand(name=row.account_id)
    notes = [n for n in (view or {}).get("notes", []) if n.get("kind", "note") == "note"]
    offer = (view or {}).get("offer") or {}
    expires = offer.get("expires_at") if offer.get("agent") == row.agent_id else row.expires_at
    return Held(conversation_id=row.conversation_id, status=status, account=row.account_id, skill=row.skill_id,
                owner=owner, brand=brand, notes=notes, offered_at=row.offered_at,
                expires_at=expires if status == "offered" else None)


async def stream(gw: Backend, agent_id: str, *, after: int,
                 max_seconds: float | None) -> AsyncIterator[ServerSentEvent]:
    """The feed: what the agent holds now, then changes as they come, for ``max_seconds`` or for ever."""
    loop = asyncio.get_running_loop()
    ends = None if max_seconds is None else loop.time() + max_seconds
    known = {}
    for row, held in await _holding(gw, agent_id):
        known[(row.conversation_id, row.step)] = row
        yield _event("offer" if held.status == "offered" else "assigned", held.model_dump(mode="json"))
    while True:
        for message in await outbox.feed(gw.store, agent_id, after=after):
            after = message.id
            yield _event("private_message", {"conversation_id": message.conversation_id, **message.payload,
                                             "at": message.created_at.isoformat()}, event_id=message.id)
        if ends is not None and loop.time() >= ends:
            return
        await asyncio.sleep(POLL if ends is None else max(0.0, min(POLL, ends - loop.time())))
        rows = {(row.conversation_id, row.step): row for row in await presence.holds_of(gw.store, agent_id)}
        for key in rows.keys() - known.keys():
            row = rows[key]
            try:
                view = await _view(gw, row.conversation_id)
            except ApiError:  # it does not answer: what the store has is enough to show the offer
                view = None
            held = _stored(row, view)
            yield _event("offer" if held.status == "offered" else "assigned", held.model_dump(mode="json"))
        for key in known.keys() - rows.keys():
            yield await _ended(gw, agent_id, known[key])
        known = rows


async def _ended(gw: Backend, agent_id: str, row: Any) -> ServerSentEvent:
    """Why the agent no longer holds it: the agent's last event in the conversation's timeline."""
    try:
        view = await _view(gw, row.conversation_id)
    except ApiError:
        return _event("released", {"conversation_id": row.conversation_id, "reason": "unknown"})
    mine = [e["kind"] for e in (view or {}).get("timeline", []) if e.get("agent") == agent_id]
    last = mine[-1] if mine else None
    reason = "closed" if view is None else last if last in ENDINGS else "moved"
    data = {"conversation_id": row.conversation_id, "reason": reason}
    return _event("offer_expired" if reason == "offer_expired" else "released", data)

