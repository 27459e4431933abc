"""``switchboard dev``: the whole stack on one machine, for a newcomer and for demos."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from datetime import datetime
from pathlib import Path

import click
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from routing.model import StartConversation
from store import Store, directory
from store.db import database_url
from service import conversations
from service.config import Settings, reconcile_every, workflow_cache
from service.metrics import Exporter, telemetry_runtime
from service.ops_server import serve
from switchboard import dev_web
from switchboard.devserver import start_dev_server, stop, wait_until_serving
from service.reconciler import schedule_reconciler
from service.temporal import connect
from worker import build_worker

# One conversation per rollover mode of examples/directory.yaml, and the hero customer.
DEMO = [
    {"account": "acme", "skill": "sales", "channel": "web", "customer": "cust-7", "first_message": "Price of the X5?"},
    {"account": "globex", "skill": "claims", "channel": "sms", "customer": "cust-8", "first_message": "Claim help"},
    {"account": "initech", "skill": "helpdesk", "channel": "whatsapp", "customer": "cust-9"},
    {"account": "umbrella", "skill": "orders", "channel": "gbm", "customer": "cust-10"},
    {"account": "acme", "skill": "sales", "channel": "email", "customer": "cust-42", "first_message": "Hi Ann"},
]


async def run_dev(settings: Settings, directory_file: str | None, *, port: int, ui_port: int, data_dir: str,
                  demo: bool, gateway_port: int = 8000, metrics_port: int = 9464) -> None:
    """Run the stack until SIGINT/SIGTERM, then stop the worker and the server it started.

    With ``gateway_port`` (0: none), the HTTP gateway runs here too, with the workspaces' pages,
    and sign-in links for the example directory's people are printed (``switchboard.dev_web``).

    The database is the one every other process in this working directory uses
    (``SWITCHBOARD_DATABASE_URL``, default ``switchboard.db``), so ``switchboard agent status`` in a
    second terminal acts on this stack. Temporal keeps its SQLite file in ``data_dir``.
    """
    for taken in (port, ui_port, gateway_port, metrics_port):
        if taken:
            _check_free(taken)
    every, cache = reconcile_every(), workflow_cache()
    parsed = directory.read_file(directory_file) if directory_file else None
    db_url = database_url(settings.database_url)
    address = f"127.0.0.1:{port}"
    store = await Store.open(db_url)
    server = None
    try:
        if parsed:
            await directory.save(store, parsed)
        data = Path(data_dir)
        server = start_dev_server(port=port, ui_port=ui_port, db_file=str(data / "temporal.db"),
                                  namespace=settings.namespace, log_file=str(data / "temporal.log"),
                                  die_with_parent=True)
        await wait_until_serving(port, server)
        runtime, buffer = telemetry_runtime()  # the worker's metrics (README "Metrics")
        client = await connect(settings, address=address, runtime=runtime)
        async with build_worker(client, store, settings.task_queue, cache=cache), contextlib.AsyncExitStack() as web, \
                serve(Exporter(store=store, buffer=buffer), "127.0.0.1", metrics_port, healthy=lambda: True):
            reconciler = await schedule_reconciler(client, settings.task_queue, every=every)
            click.echo(f"Temporal UI:       http://127.0.0.1:{ui_port}/namespaces/{settings.namespace}/workflows")
            click.echo(f"Temporal frontend: {address}  task queue: {settings.task_queue}")
            click.echo(f"Database:          {db_url}")
            click.echo(f"Worker metrics:    http://127.0.0.1:{metrics_port}/metrics  (health: /healthz)")
            if reconciler is not None:
                click.echo(f"Reconciler:        schedule {reconciler.id}, every {every.total_seconds():g}s")
            if parsed:
                click.echo(f"Directory:         {directory_file} ({len(parsed.accounts)} accounts)")
            if settings.temporal_address not in (address, f"localhost:{port}"):
                click.echo(f"Other terminals:   export TEMPORAL_ADDRESS={address}")
            if gateway_port:
                url = await web.enter_async_context(dev_web.gateway(store, client, settings.task_queue,
                                                                    host="127.0.0.1", port=gateway_port))
                await dev_web.print_links(store, url)
            started = await _demo(client, settings.task_queue) if demo else []
            click.echo("Ready. Ctrl-C to stop.")
            await _stop_requested()
            click.echo("Stopping.")
            await _close_demo(client, started)
    finally:
        if server is not None:
            stop(server)
        await store.close()


async def _stop_requested() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _check_free(port: int) -> None:
    """Refuse a taken port up front: the new server would fail while its port still answers."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} is in use (another Temporal server, gateway or `switchboard dev`?): "
                               "stop it, or choose other ports with --port, --ui-port and --gateway-port") from None


async def _demo(client, task_queue: str) -> list[str]:
    """Start the DEMO conversations under ids new to this run (the server's file keeps every
    earlier run's conversations, and a closed id is never reused). Demo conversations an earlier
    start left running (it was killed before it could close them) are closed first, so the demo
    is always these five and they never pile up."""
    query = ("WorkflowType = 'Conversation' AND ExecutionStatus = 'Running' AND "
             "WorkflowId STARTS_WITH 'conversation-demo-'")
    left = [wf.id.removeprefix("conversation-") async for wf in client.list_workflows(query, limit=100)]
    if left:
        click.echo(f"  closing {len(left)} demo conversation(s) an earlier start left running")
        await _close_demo(client, left)
    run = datetime.now().strftime("%Y%m%d-%H%M%S")
    started = []
    for n, fields in enumerate(DEMO, 1):
        start = StartConversation(conversation_id=f"demo-{run}-{n}-{fields['account']}", **fields)
        handle = await conversations.start(client, start, task_queue)
        started.append(start.conversation_id)
        click.echo(f"  started {handle.id}: {fields['account']}/{fields['skill']} on {fields['channel']}")
    return started


async def _close_demo(client, conversation_ids: list[str]) -> None:
    """Close demo conversations (all at once, a few seconds at most): on the way out, so every
    start begins with five fresh ones, and at a start for those a killed stack left running."""
    async def close(conversation_id: str) -> None:
        try:
            await asyncio.wait_for(conversations.command(client, conversation_id, "close",
                                                         {"by": "admin", "reason": "switchboard dev stopped"}), 8)
        except (RPCError, WorkflowUpdateFailedError, TimeoutError) as exc:  # closed already, or no answer in time
            click.echo(f"  demo {conversation_id} not closed: {exc or 'no answer in time'}")

    await asyncio.gather(*(close(c) for c in conversation_ids))
