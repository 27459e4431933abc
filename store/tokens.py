"""Bearer tokens of the HTTP gateway (CONTRACT "HTTP gateway", "Command line").

A token is shown once, when it is created; the database keeps only its SHA-256, so a leaked
database leaks no usable token. A principal is an agent id (a person or a bot, with the role the
directory gives it), ``gateway:<name>`` (a channel gateway, limited to the accounts the directory
file lists for it, any account when it lists none) or ``admin``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from sqlalchemy import and_, bindparam, func, insert, select, update

from routing.errors import Refusal
from routing.visibility import Party
from store import schema as t
from store import rights
from store.db import Store

TOKEN_PREFIX = "sb_"  # so a token pasted in the wrong place is recognisable (and greppable in leaks)


_principal = t.tokens.c.principal
_RESOLVE = (select(_principal, *rights.AGENT, *rights.GATEWAY)  # built once: it runs on every request
            .select_from(t.tokens.outerjoin(t.agents, t.agents.c.id == _principal).outerjoin(
                t.gateways, and_(_principal.startswith(rights.GATEWAY_PREFIX, autoescape=True),
                                 t.gateways.c.name == func.substr(_principal, len(rights.GATEWAY_PREFIX) + 1))))
            .where(t.tokens.c.hash == bindparam("hash"), t.tokens.c.revoked_at.is_(None)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create(store: Store, principal: str) -> str:
    """A new token for ``principal`` (checked against the directory); returns the plain token."""
    async with store.transaction() as conn:
        await rights.principal(conn, principal)
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
    token. Refuses (``UnknownAgent``, ``AgentInactive``) when its agent left or was deactivated.

    One query: the token with its principal's directory rows (agent, gateway entry), read on every
    request and never cached, so a revocation or a deactivation stops the next request."""
    async with store.one_read() as conn:
        row = (await conn.execute(_RESOLVE, {"hash": _digest(token)})).first()
    return rights.party_of(row.principal, row) if row else None
