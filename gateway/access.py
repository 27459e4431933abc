"""SPEC R5 at the gateway: read a conversation as the workflow sees it now, then ask the pure rules
of ``routing.visibility`` whether the caller sees it (404 when not: "not by id") and may act (403).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from gateway.backend import Backend
from gateway.errors import ApiError, from_rpc, not_found, unavailable
from routing.visibility import Party, Where, sees
from workflows.conversation import workflow_id


async def state(gw: Backend, conversation_id: str, *, timeout: timedelta | None = None) -> dict[str, Any]:
    """The ``state`` query; 404 when there is no such conversation, 503 when no worker answers
    within ``timeout`` (default: the backend's) or the query fails."""
    handle = gw.client.get_workflow_handle(workflow_id(conversation_id))
    what = f"conversation {conversation_id!r}"
    wait = timeout or gw.timeout
    try:
        view = await asyncio.wait_for(handle.query("state", rpc_timeout=wait), wait.total_seconds() + 1)
    except RPCError as exc:
        raise from_rpc(exc, what) from None
    except TimeoutError:
        raise unavailable(f"{what}: no worker answered in time") from None
    except WorkflowQueryFailedError as exc:  # the worker answered with an error: its bug, not the caller's
        raise unavailable(f"{what}: its state query failed ({exc.message})") from None
    if "account" not in view:  # its start input was refused before any state existed (SPEC R1.3)
        raise not_found(what)
    return view


def where_of(view: dict[str, Any]) -> Where:
    offer = view.get("offer") or {}
    return Where(owner=view["account"], handler=view.get("handler_account"), assignee=view.get("assignee"),
                 offered_to=offer.get("agent"))


async def visible(gw: Backend, party: Party, conversation_id: str) -> tuple[dict[str, Any], Where]:
    """The conversation and where it is, if ``party`` may see it; otherwise it does not exist for them."""
    view = await state(gw, conversation_id)
    where = where_of(view)
    if not sees(party, where):
        raise not_found(f"conversation {conversation_id!r}")
    return view, where


def shown(party: Party, view: dict[str, Any]) -> dict[str, Any]:
    """The view cut to what the caller may read: agent notes never go to the customer side (R6.2);
    a private message only to its recipient and the managers (R5.2, R5.4)."""
    if party.role == "gateway":
        return {**view, "notes": []}
    if party.role == "agent":
        notes = [n for n in view.get("notes", []) if n.get("kind") != "private_message" or n.get("to") == party.id]
        return {**view, "notes": notes}
    return view


def acting_as(party: Party, fields: dict[str, Any], actor: str) -> None:
    """SPEC R5: agents act only for themselves; an admin may act for anyone."""
    if party.role != "admin" and fields.get(actor) != party.id:
        raise ApiError(403, "Forbidden", f"{actor!r} must be the caller {party.id!r}, not {fields.get(actor)!r}: "
                                         "callers act only for themselves", field=actor)
