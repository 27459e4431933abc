"""``switchboard dev``: the whole stack on one machine, for a newcomer and for demos."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from routing.model import StartConversation
from store import Store, directory
from switchboard import conversations
from switchboard.config import Settings
from switchboard.devserver import start_dev_server, stop, wait_for_port
from switchboard.temporal import connect
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
                  demo: bool) -> None:
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    parsed = directory.read_file(directory_file) if directory_file else None
    db_url = settings.database_url or f"sqlite+aiosqlite:///{data / 'switchboard.db'}"
    store = await Store.open(db_url)
    if parsed:
        await directory.save(store, parsed)
    server = start_dev_server(port=port, ui_port=ui_port, db_file=str(data / "temporal.db"),
                              namespace=settings.namespace, log_file=str(data / "temporal.log"))
    try:
        await wait_for_port(port, server)
        client = await connect(settings, address=f"127.0.0.1:{port}")
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_event.set)
        async with build_worker(client, store, settings.task_queue):
            click.echo(f"Temporal UI:       http://127.0.0.1:{ui_port}/namespaces/{settings.namespace}/workflows")
            click.echo(f"Temporal frontend: 127.0.0.1:{port}  task queue: {settings.task_queue}")
            click.echo(f"Database:          {db_url}")
            if parsed:
                click.echo(f"Directory:         {directory_file} ({len(parsed.accounts)} accounts)")
            if demo:
                await _demo(client, settings.task_queue)
            click.echo("Ready. Ctrl-C to stop.")
            await stop_event.wait()
    finally:
        stop(server)
        await store.close()


async def _demo(client, task_queue: str) -> None:
    for n, fields in enumerate(DEMO, 1):
        start = StartConversation(conversation_id=f"demo-{n}-{fields['account']}", **fields)
        handle = await conversations.start(client, start, task_queue)
        click.echo(f"  started {handle.id}: {fields['account']}/{fields['skill']} on {fields['channel']}")
