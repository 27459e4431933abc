"""Who is calling: a bearer token resolved to a ``Party`` (SPEC R5), on every request.

The token is looked up by its hash (``store.tokens``) and its principal against the directory as
it is now, so a deactivated agent's token stops working at once and a role change applies at once.

A channel gateway (``gateway:<name>``) serves what the directory's ``gateways:`` list gives it:
the accounts of its entry, or every account when its entry lists none. A gateway the list does
not name serves nothing (403, naming the fix), even when the list is empty: fail closed, so a
directory reloaded without a gateway's entry (or without the section) never turns a gateway
limited to one account into one that serves them all. ``switchboard token create`` refuses a
token for an unlisted gateway for the same reason; a token made earlier stops at the next request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from gateway.backend import Backend, backend
from gateway.errors import ApiError, forbidden
from routing.errors import Refusal
from routing.visibility import Party
from store import Store, tokens
from store.rights import GATEWAY_PREFIX
from store import schema as t

_bearer = HTTPBearer(auto_error=False, description="A token from `switchboard token create PRINCIPAL`.")


async def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
                 gw: Annotated[Backend, Depends(backend)]) -> Party:
    if credentials is None:
        raise ApiError(401, "Unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'")
    try:
        party = await tokens.resolve(gw.store, credentials.credentials)
    except Refusal as refusal:  # the token's agent left the directory or was deactivated
        raise ApiError(401, "Unauthorized", f"token no longer valid: {refusal.message}") from None
    if party is None:
        raise ApiError(401, "Unauthorized", "unknown or revoked token")
    # The store reads an unlisted gateway as serving no account (``accounts`` empty, where a gateway
    # serving every account has None): say how to fix it.
    if party.role == "gateway" and party.accounts == frozenset() and not await _listed(gw.store, party.id):
        name = party.id.removeprefix(GATEWAY_PREFIX)
        raise forbidden(f"{party.id} is not in the directory's gateways: list, so it serves no account; add "
                        f"{{name: {name}, accounts: [...]}} there (no accounts: every account) and load the directory")
    return party


async def _listed(store: Store, principal: str) -> bool:
    """Does the directory's ``gateways:`` list name this ``gateway:<name>`` principal?"""
    name = principal.removeprefix(GATEWAY_PREFIX)
    async with store.engine.connect() as conn:
        return (await conn.execute(select(t.gateways.c.name).where(t.gateways.c.name == name))).first() is not None


Caller = Annotated[Party, Depends(caller)]
Gw = Annotated[Backend, Depends(backend)]
