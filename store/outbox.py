"""What agents' workspaces and customers' channels are sent: private messages from managers,
warm-transfer messages (SPEC R5.2, R6.2) and the close of a conversation. One row per key, so a
retried delivery lands once; the row's id orders a feed, so a reader that comes back with the
last id it saw (SSE ``Last-Event-ID``) misses nothing and sees nothing twice."""

from __future__ import annotations

from datetime import datetime

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.model import Delivery
from store import schema as t
from store.db import Store

# One statement, built once per dialect: a second delivery of a key (a retried attempt, even one
# running beside its first) writes nothing; the unique key decides, whoever commits first.
_DELIVER = {"postgresql": postgresql.insert(t.outbox).on_conflict_do_nothing(index_elements=["key"]),
            "sqlite": sqlite.insert(t.outbox).on_conflict_do_nothing(index_elements=["key"])}


async def deliver(conn: AsyncConnection, *, key: str, recipient: str, conversation_id: str, kind: str,
                  payload: dict, now: datetime) -> None:
    """Write one message to the outbox, once per key (activities retry)."""
    await conn.execute(_DELIVER[conn.dialect.name], dict(key=key, recipient=recipient, conversation_id=conversation_id,
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


# What the customer's side is sent, through the channel gateway of the conversation's account.
CUSTOMER_KINDS = ("warm_message", "closed")
FEED_PAGE = 200  # rows per look: a gateway far behind catches up over several looks


async def closed(conn: AsyncConnection, *, workflow_id: str, conversation_id: str, now: datetime) -> None:
    """The conversation has ended: its channel gateway tells the customer (written by the close's
    store command, in its transaction, so it is sent once whatever retries)."""
    await deliver(conn, key=f"{workflow_id}/closed", recipient=f"conversation:{conversation_id}",
                  conversation_id=conversation_id, kind="closed", payload={}, now=now)


async def for_customers(store: Store, accounts: Collection[str] | None, *, after: int = 0,
                        conversation_id: str | None = None) -> list:
    """Customer-side messages of conversations the accounts own (None: every account), oldest
    first, with the owner ``account_id`` of each."""
    o, c = t.outbox.c, t.conversations.c
    query = (select(t.outbox, c.account_id).join(t.conversations, c.conversation_id == o.conversation_id)
             .where(o.kind.in_(CUSTOMER_KINDS), o.id > after).order_by(o.id).limit(FEED_PAGE))
    if accounts is not None:
        query = query.where(c.account_id.in_(list(accounts)))
    if conversation_id is not None:
        query = query.where(o.conversation_id == conversation_id)
    async with store.engine.connect() as conn:
        return list(await conn.execute(query))
