"""The browser side of ``switchboard dev``: the HTTP gateway in the same process, and sign-in
links for the example directory's people, so a newcomer opens a customer and an agent window.

Each start makes new tokens (only their hashes are stored, so earlier ones cannot be shown
again) and prints them inside links whose fragment (``#token=...``) signs the page in; a fragment
never leaves the browser. Earlier tokens keep working until ``switchboard token revoke``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import click
import uvicorn
from temporalio.client import Client

from gateway import create_app
from routing.errors import Refusal
from store import Store, tokens


class _Embedded(uvicorn.Server):
    """A gateway inside ``switchboard dev``: dev's own signal handlers stop the whole stack, so
    this server leaves SIGINT and SIGTERM alone (uvicorn would take them over while it serves)."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


# Who the links are for, when the directory has them: (principal, page, what they show).
PEOPLE = [
    ("gateway:web", "/chat", "customer web chat"),
    ("ann", "/", "agent, Acme Motors sales"),
    ("pat", "/", "agent, Acme Parts service"),
    ("zed", "/", "agent, Answer Bureau (BPO)"),
    ("mia", "/manager", "manager, Acme Motors"),
    ("max", "/manager", "manager, Answer Bureau"),
]


@contextlib.asynccontextmanager
async def gateway(store: Store, client: Client, task_queue: str, *, host: str, port: int) -> AsyncIterator[str]:
    """Serve the gateway on ``host:port`` in this event loop until the block ends; yields its URL.
    (The browser tests serve theirs the same way.)"""
    try:
        app = create_app(store=store, client=client, task_queue=task_queue)
    except ValueError as exc:  # a bad environment variable, named
        raise RuntimeError(str(exc)) from None
    server = _Embedded(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it (the port was taken, say)
            raise RuntimeError(f"the gateway did not start on {host}:{port}")
        await asyncio.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


async def print_links(store: Store, url: str) -> None:
    """A sign-in link per person of ``PEOPLE`` that the loaded directory has."""
    click.echo(f"Gateway:           {url}  (API docs {url}/docs)")
    click.echo("Open in a browser (each link signs its page in; the token is also shown for curl):")
    for principal, page, what in PEOPLE:
        try:
            token = await tokens.create(store, principal)
        except Refusal:  # not in this directory
            continue
        click.echo(f"  {what:<28} {url}{page}#token={token}")
        click.echo(f"  {'':<28} {principal} token: {token}")
