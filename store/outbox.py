"""What agents' workspaces and customers' channels are sent: private messages from managers and
warm-transfer messages (SPEC R5.2, R6.2). One row per key, so a retried delivery lands once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.model import Delivery
from store import schema as t
from store.db import Store, lock


async def deliver(conn: AsyncConnection, *, key: str, recipient: str, conversation_id: str, kind: str,
                  payload: dict, now: datetime) -> None:
    """Write one message to the outbox, once per key (activities retry)."""
    await lock(conn, f"outbox {key}")  # a retried attempt beside its first one writes once
    if (await conn.execute(select(t.outbox.c.id).where(t.outbox.c.key == key))).first() is None:
        await conn.execute(insert(t.outbox).values(key=key, recipient=recipient, conversation_id=conversation_id,
                                                   kind=kind, payload=payload, created_at=now))


async def private_message(store: Store, msg: Delivery) -> None:
    """A manager's private message to the agent handling the conversation (the workflow judged who may)."""
    async with store.transaction() as conn:
        await deliver(conn, key=msg.key, recipient=msg.to, conversation_id=msg.conversation_id,
                      kind="private_message", payload={"from": msg.by, "text": msg.text}, now=msg.now)


async def feed(store: Store, recipient: str, *, after: int = 0) -> list:
    """What the outbox holds for one recipient (an agent's private messages), oldest first."""
    async with store.engine.connect() as conn:
        return list(await conn.execute(select(t.outbox).where(t.outbox.c.recipient == recipient,
                                                              t.outbox.c.id > after).order_by(t.outbox.c.id)))
