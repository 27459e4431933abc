"""The books of each conversation: its current routing step and whether it has closed.

Every store command that changes a conversation's holds or queue place enters its books first
(``enter``), under the conversation's lock: a step older than the current one, or any command
after close, changes nothing and says so (DESIGN "Every step is fenced"). The run chain that
first used an id owns it: another chain with the same id is refused (SPEC R8.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.errors import Refusal
from routing.limits import quote
from routing.model import RouteRequest
from store import capacity, outbox
from store import schema as t
from store.db import Store, lock


_c = t.conversations.c
# The statements of every step, built once (docs/performance.md: building one costs more CPU
# than SQLite takes to run it); the values are bound at each execution.
_BOOKS = select(t.conversations).where(_c.conversation_id == bindparam("cid"))
_OPEN = insert(t.conversations)
_RECORD = update(t.conversations).where(_c.conversation_id == bindparam("cid")).values(
    step=bindparam("new_step"), result=bindparam("new_result"))
# Closing is conditional: the first close writes it, a retry finds nothing to write (and reads why).
_CLOSE = (update(t.conversations).where(_c.conversation_id == bindparam("cid"), _c.closed_at.is_(None))
          .values(closed_at=bindparam("now"), result=bindparam("new_result")).returning(_c.workflow_id))
_CLOSED = select(_c.result).where(_c.conversation_id == bindparam("cid"))  # a retry: what the close recorded


@dataclass(frozen=True)
class Entry:
    """Where a step stands: ``replay`` is the recorded result of this very step (a retry);
    ``stale`` says the conversation moved on or closed."""

    stale: bool = False
    replay: dict[str, Any] | None = None


async def enter(conn: AsyncConnection, req: RouteRequest) -> Entry:
    """Lock the conversation and check ``req.step`` against its books (opening them at its first step)."""
    await lock(conn, req.conversation_id)
    row = (await conn.execute(_BOOKS, {"cid": req.conversation_id})).first()
    if row is None:
        await conn.execute(_OPEN, dict(
            conversation_id=req.conversation_id, workflow_id=req.workflow_id, first_run_id=req.first_run_id,
            account_id=req.account, skill_id=req.skill, step=0, started_at=req.arrived_at))
        return Entry()
    if row.first_run_id != req.first_run_id:
        raise Refusal("IdReused", f"conversation id {quote(req.conversation_id)} was used by a conversation started "
                                  f"{row.started_at.isoformat()}; ids are never reused (SPEC R8.4)",
                      field="conversation_id")
    if row.closed_at is not None or row.step > req.step:
        return Entry(stale=True)
    if row.step == req.step and row.result is not None:
        return Entry(replay=row.result)
    return Entry()


async def record(conn: AsyncConnection, req: RouteRequest, result: dict[str, Any]) -> None:
    """The step is taken: it is now the current one, and a retry of it gets ``result`` back."""
    await conn.execute(_RECORD, {"cid": req.conversation_id, "new_step": req.step, "new_result": result})


async def finish(store: Store, conversation_id: str, now: datetime) -> list[str]:
    """Close the books and free whatever the conversation holds (slot, queue place), and tell the
    customer's side it has closed (an outbox ``closed`` row, once); idempotent, and every later
    step of it changes nothing. Returns queued workflows to wake; a retry returns
    those its first attempt found again, since that attempt may have committed without sending them."""
    async with store.transaction() as conn:
        await lock(conn, conversation_id)
        await conn.execute(capacity.UNQUEUE, {"cid": conversation_id})
        wakes = await capacity.free(conn, conversation_id, now)
        closing = (await conn.execute(_CLOSE, {"cid": conversation_id, "now": now,
                                               "new_result": {"wakes": wakes}})).first()
        if closing is not None:  # the customer's side hears that it ended (CONTRACT "Customer side")
            await outbox.closed(conn, workflow_id=closing.workflow_id, conversation_id=conversation_id, now=now)
            return wakes
        row = (await conn.execute(_CLOSED, {"cid": conversation_id})).first()  # closed before (or never opened: None)
        if row is not None:
            return list(dict.fromkeys([*(row.result or {}).get("wakes", []), *wakes]))
        return wakes


async def open_conversations(store: Store, *, after: str | None = None, limit: int = 500) -> list[tuple[str, str]]:
    """(conversation id, workflow id) of everything the books count as open or holding something:
    what the reconciler checks against Temporal. In conversation id order from just past ``after``,
    so a sweep pages through all of them instead of seeing the same first ``limit`` each time; the
    database orders and compares, so the page and its cursor agree whatever the collation."""
    def first(table, *where):
        if after is not None:
            where = (*where, table.c.conversation_id > after)
        page = (select(table.c.conversation_id, table.c.workflow_id).where(*where)
                .order_by(table.c.conversation_id).limit(limit).subquery())
        return select(page.c.conversation_id, page.c.workflow_id)

    # The first ``limit`` of the union are among the first ``limit`` of each table.
    found = union(first(t.holds), first(t.queue),
                  first(t.conversations, t.conversations.c.closed_at.is_(None))).subquery()
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(found.c.conversation_id, found.c.workflow_id)
                                  .order_by(found.c.conversation_id).limit(limit))
        return [(r.conversation_id, r.workflow_id) for r in rows]

