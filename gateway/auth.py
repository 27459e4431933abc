"""Who is calling: a bearer token resolved to a ``Party`` (SPEC R5), on every request.

The token is looked up by its hash (``store.tokens``) and its principal against the directory as
it is now, so a deactivated agent's token stops working at once and a role change applies at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.backend import Backend, backend
from gateway.errors import ApiError
from routing.errors import Refusal
from routing.visibility import Party
from store import tokens

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
    return party


Caller = Annotated[Party, Depends(caller)]
Gw = Annotated[Backend, Depends(backend)]
