"""The Switchboard worker: runs ``Conversation`` workflows and the routing activities, and the
``Reconciler`` that gives back what ended conversations held (SPEC R8.1), on the same task queue.

``python worker.py`` or ``switchboard worker``; configured by the CONTRACT environment variables
and ``SWITCHBOARD_RECONCILE_EVERY``. At start it makes sure the reconciler's Schedule exists.
With a metrics port (``--metrics-port``, ``SWITCHBOARD_METRICS_PORT``) it serves ``/metrics`` (the
SDK's own metrics through its runtime's telemetry, the workflows' domain figures, the store's
gauges) and ``/healthz`` there. Stops gracefully on SIGINT/SIGTERM: in-flight activities finish,
workflows resume elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from activities.routing import RoutingActivities
from store import Store
from service.config import WORKFLOW_CACHE_DEFAULT, Settings, reconcile_every, workflow_cache
from service.metrics import Exporter, telemetry_runtime
from service.ops_server import serve
from service.reconciler import schedule_reconciler
from service.runner import RUNNER
from service.temporal import connect
from workflows.conversation import Conversation
from workflows.reconciler import Reconciler

log = logging.getLogger("switchboard.worker")

# Sized for a worker of 1 GiB (issue 14): 10,000 open conversations with every one cached measured
# 1.1 GB of RSS for the whole process, so 8,000 stay cached and the rest (the least recently used:
# queued the longest) replay their short run on their next task. SWITCHBOARD_WORKFLOW_CACHE sizes it
# to the memory a worker has (service.config.workflow_cache).
def build_worker(client: Client, store: Store, task_queue: str, *, cache: int = WORKFLOW_CACHE_DEFAULT) -> Worker:
    routing = RoutingActivities(store, client)
    reconcile = ReconcileActivities(store, client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Conversation, Reconciler],
        activities=[routing.route, routing.release, routing.party, routing.hero_of, routing.private_message,
                    reconcile.reconcile, reconcile.wake_waiting],
        graceful_shutdown_timeout=timedelta(seconds=10),
        max_cached_workflows=cache,
        workflow_runner=RUNNER,
    )


async def run_worker(settings: Settings | None = None, *, stop: asyncio.Event | None = None,
                     metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                     serving: asyncio.Future[int] | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when none is given). With ``metrics_port``
    (0: any free one, handed to ``serving``) the operations port serves /metrics and /healthz."""
    settings = settings or Settings.from_env()
    every, cache = reconcile_every(), workflow_cache()  # a bad value stops the worker here, before it connects
    store = await Store.open(settings.database_url)
    runtime, buffer = telemetry_runtime() if metrics_port is not None else (None, None)
    client = await connect(settings, runtime=runtime)
    stop = stop or _stop_on_signals()
    worker = build_worker(client, store, settings.task_queue, cache=cache)
    log.info("worker on task queue %r at %s", settings.task_queue, settings.temporal_address)
    async with AsyncExitStack() as running:
        await running.enter_async_context(worker)
        if metrics_port is not None:
            port = await running.enter_async_context(serve(
                Exporter(store=store, buffer=buffer), metrics_host, metrics_port,
                # Healthy from the start, not only once the SDK has checked the namespace (its
                # ``is_running`` turns true after that round trip): 503 once stopping or ended.
                healthy=lambda: not (stop.is_set() or worker.is_shutdown)))
            log.info("worker metrics on http://%s:%d/metrics", metrics_host, port)
            if serving is not None:
                serving.set_result(port)
        await schedule_reconciler(client, settings.task_queue, every=every)
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
