"""``switchboard conversation start|show|list``: conversations through Temporal, as a gateway would."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import click
from temporalio.client import (Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle)
from temporalio.service import RPCError, RPCStatusCode

from routing.model import StartConversation, parse
from service import conversations
from service.config import Settings
from workflows import search_attributes as sa
from switchboard.cli_support import WORKER_WAIT, _connect, run_async

_LIST_KEYS = (sa.OWNER_ACCOUNT, sa.OWNER_SKILL, sa.HANDLER_ACCOUNT, sa.HANDLER_SKILL, sa.ASSIGNED_AGENT,
              sa.CONVERSATION_STATUS, sa.ROLLOVER_MODE, sa.CHANNEL)



@click.group()
def conversation() -> None:
    """Start, show and list conversations."""


def _json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at column {exc.colno}): {value}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"must be a JSON object, got {type(parsed).__name__}: {value}")
    return parsed


@conversation.command(name="start")
@click.option("--id", "conversation_id", help="Conversation id (default: a new one).")
@click.option("--account", required=True, help="The owner account (the directory's id).")
@click.option("--skill", required=True, help="The owner skill of that account.")
@click.option("--channel", default="web", show_default=True,
              help="web, sms, abc, gbm, whatsapp, voice, email or voicemail.")
@click.option("--customer", required=True, help="The customer's id (no name: it is a search attribute).")
@click.option("--message", "first_message", help="The customer's first message.")
@click.option("--priority", default=0, type=int, show_default=True,
              help="Queue priority, -1000 to 1000 (higher first).")
@click.option("--attributes", callback=_json_object, help='Free attributes as a JSON object, e.g. \'{"vip": true}\'.')
@run_async
async def conversation_start(conversation_id: str | None, **fields: Any) -> None:
    """Start a conversation as a channel gateway would, and say where routing put it.

    Starting an id that is already running is not an error: it is the same conversation (R1.2).
    A start the engine refuses (unknown account or skill, ...) exits non-zero with the reason.
    """
    start = parse(StartConversation, {"conversation_id": conversation_id or f"c-{uuid.uuid4().hex[:10]}",
                                      **{k: v for k, v in fields.items() if v is not None}}, "start")
    settings = Settings.from_env()
    client = await _connect(settings)
    handle = await conversations.start(client, start, settings.task_queue)
    outcome = await _first_outcome(client, handle, start.conversation_id, settings.task_queue)
    click.echo(f"{start.conversation_id} ({handle.id}): {outcome}")


async def _first_outcome(client: Client, handle: WorkflowHandle, conversation_id: str, task_queue: str) -> str:
    """Where routing put a conversation just started; its refusal as an error if it failed.

    Reads the workflow's own ``ConversationStatus`` (describe needs no worker) until it leaves
    ``routing``, then the ``state`` query for the agent or queue.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_WAIT
    while loop.time() < deadline:
        described = await handle.describe()
        if described.status is WorkflowExecutionStatus.FAILED:
            try:
                await handle.result()
            except WorkflowFailureError as exc:
                raise click.ClickException(f"start refused: {getattr(exc.cause, 'message', exc.cause)}") from None
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return described.status.name.lower()
        if described.typed_search_attributes.get(sa.CONVERSATION_STATUS) not in (None, "routing"):
            return _summary(await conversations.state(client, conversation_id))
        await asyncio.sleep(0.1)
    return (f"started; no worker has routed it within {WORKER_WAIT:g}s "
            f"(is `switchboard worker` running on task queue {task_queue!r}?)")


def _summary(view: dict[str, Any]) -> str:
    """One line: 'offered to ann', 'queued at acme/sales', 'assigned to zed at bpo/acme-sales'."""
    handled = view.get("handler_account")
    where = f"{handled}/{view['handler_skill']}" if handled else f"{view['account']}/{view['skill']}"
    if view["status"] == "offered":
        return f"offered to {view['offer']['agent']}" + (f" at {where}" if handled else "")
    if view["status"] == "assigned":
        return f"assigned to {view['assignee']}" + (f" at {where}" if handled else "")
    if view["status"] == "queued":
        return f"queued at {where}"
    return view["status"]


@conversation.command(name="show")
@click.argument("conversation_id")
@run_async
async def conversation_show(conversation_id: str) -> None:
    """Print a conversation's state and timeline as JSON."""
    client = await _connect(Settings.from_env())
    try:
        view = await asyncio.wait_for(conversations.state(client, conversation_id), WORKER_WAIT)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise click.ClickException(f"no conversation {conversation_id!r}") from None
        raise click.ClickException(f"conversation {conversation_id!r}: {exc.message}") from None
    except TimeoutError:
        raise click.ClickException(f"conversation {conversation_id!r}: no worker answered within {WORKER_WAIT:g}s "
                                   "(is `switchboard worker` running?)") from None
    click.echo(json.dumps(view, indent=2))


@conversation.command(name="list")
@click.option("--query", default="", help="Visibility query, e.g. \"HandlerAccount='bpo'\".")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000),
              help="At most this many conversations.")
@run_async
async def conversation_list(query: str, limit: int) -> None:
    """List conversations from Temporal visibility (the search attributes)."""
    client = await _connect(Settings.from_env())
    clause = "WorkflowType = 'Conversation'" + (f" AND ({query})" if query else "")
    shown = 0
    async for wf in client.list_workflows(clause):
        attrs = {k.name: wf.typed_search_attributes.get(k) for k in _LIST_KEYS}
        click.echo(f"{wf.id}\t{wf.status.name if wf.status else '?'}\t" +
                   " ".join(f"{k}={v}" for k, v in attrs.items() if v))
        shown += 1
        if shown >= limit:
            break
