"""Who a principal is, as the directory knows it now (SPEC R5): the facts the pure rules of
``routing.visibility`` judge a command by. A principal is an agent id (a person or a bot, with
the role the directory gives it), ``gateway:<name>`` (a channel gateway) or ``admin``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.errors import Refusal, unknown
from routing.limits import quote
from routing.visibility import Party
from store import schema as t
from store.db import Store

ADMIN = "admin"
GATEWAY_PREFIX = "gateway:"
_GATEWAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


async def agent_party(conn: AsyncConnection, agent_id: str) -> Party:
    """An agent as a caller, or a refusal naming them (unknown, deactivated)."""
    row = (await conn.execute(_AGENT, {"aid": agent_id})).first()
    if row is None:
        raise unknown("agent", agent_id)
    return _agent(row)


# What ``party_of`` reads of a principal's rows: selected by ``principal`` here, and joined to the
# token by ``store.tokens.resolve`` (one round trip per request).
AGENT = (t.agents.c.id, t.agents.c.account_id, t.agents.c.config, t.agents.c.active)
GATEWAY = (t.gateways.c.name.label("gateway"), t.gateways.c.accounts)
_AGENT = select(*AGENT).where(t.agents.c.id == bindparam("aid"))  # built once (see store.books)
_GATEWAY = select(*GATEWAY).where(t.gateways.c.name == bindparam("name"))


def _agent(row: Any) -> Party:
    if not row.active:
        raise Refusal("AgentInactive", f"agent {quote(row.id)} is deactivated", field="by")
    return Party(id=row.id, role=row.config.get("role", "agent"), account=row.account_id)


def party_of(name: str, row: Any) -> Party:
    """Principal ``name`` as a caller, from the directory's rows for it (``row``: the ``AGENT`` and
    ``GATEWAY`` columns, None where it names none); a refusal when the directory does not know it."""
    if name == ADMIN:
        return Party(id=ADMIN, role="admin")
    if name.startswith(GATEWAY_PREFIX):
        if not _GATEWAY_NAME.match(name.removeprefix(GATEWAY_PREFIX)):
            raise Refusal("InvalidInput", f"principal {quote(name)}: a gateway name is letters, digits, '.', '_' "
                                          "and '-'", field="principal")
        if row is None or row.gateway is None:  # fail closed: an unlisted gateway serves no account (R5.5)
            return Party(id=name, role="gateway", accounts=frozenset())
        return Party(id=name, role="gateway", accounts=frozenset(row.accounts) if row.accounts is not None else None)
    if row is None or row.id is None:
        raise Refusal("UnknownAgent", f"unknown agent {quote(name)} (not an agent of the directory, "
                                      "'gateway:<name>' or 'admin')", field="principal")
    return _agent(row)


async def principal(conn: AsyncConnection, name: str) -> Party:
    """Any principal as a caller; a refusal when the directory does not know it."""
    if name == ADMIN:
        return party_of(name, None)
    if name.startswith(GATEWAY_PREFIX):
        found = await conn.execute(_GATEWAY, {"name": name.removeprefix(GATEWAY_PREFIX)})
    else:
        found = await conn.execute(_AGENT, {"aid": name})
    return party_of(name, found.first())


async def party(store: Store, name: str) -> Party:
    """``principal`` in a read transaction of its own (the workflow's rights check)."""
    async with store.engine.connect() as conn:
        return await principal(conn, name)
