"""Starting and reading conversations from a Temporal client: one path for CLI, gateway, bench."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy,
                              WorkflowIDReusePolicy)
from temporalio.service import RPCError, RPCStatusCode

from routing.model import StartConversation
from workflows import search_attributes as sa
from workflows.conversation import workflow_id
from workflows.state import NOTES_KEPT

UPDATE_ATTEMPTS = 5  # an update aborted with the task that would have closed the workflow is sent again
UPDATE_RETRY_PAUSE = 0.05  # seconds before the first resend, doubling


async def start(client: Client, start: StartConversation, task_queue: str, *,
                join_running: bool = True) -> WorkflowHandle:
    """Start a conversation, or return the running one with that id (SPEC R1.2).

    Ids are never reused after close, so a late channel event cannot reopen a conversation. The
    owner's search attributes are set with the start, which saves the workflow an upsert. With
    ``join_running=False`` a running one is refused as well (``WorkflowAlreadyStartedError``), so
    a caller that must tell new from running (the gateway's 201 and 200) learns it from the start.
    """
    return await client.start_workflow(
        "Conversation", args=[start.model_dump(mode="json")], id=workflow_id(start.conversation_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=(WorkflowIDConflictPolicy.USE_EXISTING if join_running
                            else WorkflowIDConflictPolicy.FAIL),
        # The first workflow task comes back in the start's answer when a worker of this task
        # queue shares the client (``switchboard dev``, the bench); elsewhere it is a no-op.
        request_eager_start=True,
        static_summary=f"{start.channel} conversation {start.conversation_id} for {start.account}/{start.skill}"[:200],
        static_details=(f"customer `{start.customer}`, priority {start.priority}; the routing story is in the "
                        "history (timer and activity summaries) and in the current details"),
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.OWNER_ACCOUNT, start.account), SearchAttributePair(sa.OWNER_SKILL, start.skill),
            SearchAttributePair(sa.CHANNEL, start.channel), SearchAttributePair(sa.CUSTOMER_ID, start.customer),
            SearchAttributePair(sa.CONVERSATION_STATUS, "routing"),
        ]),
    )


async def state(client: Client, conversation_id: str) -> dict[str, Any]:
    return await client.get_workflow_handle(workflow_id(conversation_id)).query("state")


def merged(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A full view (the ``state`` query's ``before``) brought up to date by an update's compact
    result (``after``: the view without timeline and notes, and the ``events`` and ``new_notes``
    the command added). Saves a second query after every command."""
    view = {**before, **{k: v for k, v in after.items() if k not in ("events", "new_notes", "timeline_length")}}
    seen = {(e["at"], e["kind"], e.get("actor"), e.get("agent")) for e in before.get("timeline", [])}
    view["timeline"] = [*before.get("timeline", []),
                        *(e for e in after.get("events", []) if (e["at"], e["kind"], e.get("actor"), e.get("agent"))
                          not in seen)]
    view["notes"] = [*before.get("notes", []), *after.get("new_notes", [])][-NOTES_KEPT:]
    return view


async def command(client: Client, conversation_id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send a command as an update and return its compact result (``merged`` makes a full view)."""
    return await update(client.get_workflow_handle(workflow_id(conversation_id)), name, body)


async def update(handle: WorkflowHandle, name: str, body: dict[str, Any], *,
                 rpc_timeout: timedelta | None = None) -> dict[str, Any]:
    """Run an update, sent again (same update id) if the server aborted it before it was accepted.

    That happens when a workflow task that completes the conversation (the close and its
    release, one task) is refused because a signal reached the server meanwhile: the task and
    the update in it are discarded (FAILED_PRECONDITION with a ``WorkflowNotReadyFailure``),
    nothing applied, and the next task takes the update again. The same id makes the retry
    harmless even if the first attempt had landed."""
    update_id = str(uuid.uuid4())
    for attempt in range(UPDATE_ATTEMPTS - 1):
        try:
            return await handle.execute_update(name, body, id=update_id, rpc_timeout=rpc_timeout)
        except RPCError as exc:
            if not _not_ready(exc):
                raise
        await asyncio.sleep(UPDATE_RETRY_PAUSE * 2 ** attempt)
    return await handle.execute_update(name, body, id=update_id, rpc_timeout=rpc_timeout)


def _not_ready(exc: RPCError) -> bool:
    """The server's "unexpected workflow task failure": the update was not accepted; try again."""
    return exc.status is RPCStatusCode.FAILED_PRECONDITION and any(
        detail.type_url.endswith(".WorkflowNotReadyFailure") for detail in exc.grpc_status.details)
