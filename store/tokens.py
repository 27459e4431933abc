"""Bearer tokens of the HTTP gateway (CONTRACT "HTTP gateway", "Command line").

A token is shown once, when it is created; the database keeps only its SHA-256, so a leaked
database leaks no usable token. A principal is an agent id (a person or a bot, with the role the
directory gives it), ``gateway:<name>`` (a channel gateway, limited to the accounts the directory
file lists for it, any account when it lists none) or ``admin``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.errors import Refusal
from routing.visibility import Party
from store import offers
from store import schema as t
from store.db import Store

ADMIN = "admin"
GATEWAY_PREFIX = "gateway:"
TOKEN_PREFIX = "sb_"  # so a token pasted in the wrong place is recognisable (and greppable in leaks)
_GATEWAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create(store: Store, principal: str) -> str:
    """A new token for ``principal`` (checked against the directory); returns the plain token."""
    async with store.transaction() as conn:
        await _party(conn, principal)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await conn.execute(insert(t.tokens).values(hash=_digest(token), principal=principal,
                                                   created_at=datetime.now(timezone.utc)))
    return token


async def revoke(store: Store, token: str) -> str:
    """Revoke one token; returns its principal, or refuses when no live token matches."""
    async with store.transaction() as conn:
        row = (await conn.execute(select(t.tokens).where(t.tokens.c.hash == _digest(token),
                                                         t.tokens.c.revoked_at.is_(None)))).first()
        if row is None:
            raise Refusal("UnknownToken", "token: no live token matches (unknown, or revoked already)",
                          field="token")
        await conn.execute(update(t.tokens).where(t.tokens.c.hash == row.hash)
                           .values(revoked_at=datetime.now(timezone.utc)))
    return row.principal


async def revoke_all(store: Store, principal: str) -> int:
    """Revoke every live token of ``principal`` (for a token whose plain text is lost); returns how many."""
    async with store.transaction() as conn:
        done = await conn.execute(update(t.tokens).where(t.tokens.c.principal == principal,
                                                         t.tokens.c.revoked_at.is_(None))
                                  .values(revoked_at=datetime.now(timezone.utc)))
    return done.rowcount


async def resolve(store: Store, token: str) -> Party | None:
    """The caller a token stands for, as the directory knows it now; None for an unknown or revoked
    token. Refuses (``UnknownAgent``, ``AgentInactive``) when its agent left or was deactivated."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(t.tokens.c.principal).where(t.tokens.c.hash == _digest(token),
                                                                      t.tokens.c.revoked_at.is_(None)))).first()
        return await _party(conn, row.principal) if row else None


async def _party(conn: AsyncConnection, principal: str) -> Party:
    if principal == ADMIN:
        return Party(id=ADMIN, role="admin")
    if principal.startswith(GATEWAY_PREFIX):
        name = principal.removeprefix(GATEWAY_PREFIX)
        if not _GATEWAY_NAME.match(name):
            raise Refusal("InvalidInput", f"principal {principal!r}: a gateway name is letters, digits, '.', '_' "
                                          "and '-'", field="principal")
        row = (await conn.execute(select(t.gateways.c.accounts).where(t.gateways.c.name == name))).first()
        limit = row.accounts if row is not None else None
        return Party(id=principal, role="gateway", accounts=frozenset(limit) if limit is not None else None)
    try:
        return await offers.party(conn, principal)
    except Refusal as refusal:
        if refusal.kind == "UnknownAgent":
            raise Refusal("UnknownAgent", f"principal {principal!r} is not an agent of the directory, "
                                          "'gateway:<name>' or 'admin'", field="principal") from None
        raise
