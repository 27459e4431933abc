"""The Switchboard worker: runs ``Conversation`` workflows and the routing activities.

``python worker.py`` or ``switchboard worker``; configured by the CONTRACT environment variables.
Stops gracefully on SIGINT/SIGTERM: in-flight activities finish, workflows resume elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.routing import RoutingActivities
from store import Store
from switchboard.config import Settings
from switchboard.temporal import connect
from workflows.conversation import Conversation

log = logging.getLogger("switchboard.worker")


def build_worker(client: Client, store: Store, task_queue: str) -> Worker:
    routing = RoutingActivities(store, client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Conversation],
        activities=[routing.route, routing.release, routing.party, routing.hero_of, routing.private_message],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: Settings | None = None, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when none is given)."""
    settings = settings or Settings.from_env()
    store = await Store.open(settings.database_url)
    client = await connect(settings)
    stop = stop or _stop_on_signals()
    worker = build_worker(client, store, settings.task_queue)
    log.info("worker on task queue %r at %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    await store.close()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_worker())
