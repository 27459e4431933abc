"""Running the bench: servers, workers and store up, every run measured, the table printed,
everything removed at the end (also on error or Ctrl-C)."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from temporalio.worker import Worker

from service.config import Settings
from service.temporal import connect
from store import Store, directory
from switchboard import bench_workflows as floor
from switchboard.bench import extra
from switchboard.bench.figures import Pair, Report
from switchboard.bench.gateway import gateway as gateway_run
from switchboard.bench.runs import UNLOADED_RUNS, Bench
from switchboard.bench.table import render
from switchboard.bench.world import CpuMeter, OfferWatch, bench_directory, progress, rss_mb
from switchboard.devserver import free_port, start_dev_server, stop, wait_until_serving
from worker import build_worker


@asynccontextmanager
async def session(tmp: Path, now: datetime, concurrency: int, *, server_db: Path | None) -> AsyncIterator[
        tuple[Bench, Store]]:
    """A dev server (in memory, or on ``server_db``), a fresh SQLite store, the Switchboard worker
    and the floor's worker in this process."""
    db_file = tmp / f"switchboard-{uuid.uuid4().hex[:6]}.db"
    port = free_port()
    server = start_dev_server(port=port, ui_port=None, db_file=str(server_db) if server_db else None,
                              die_with_parent=True)
    store: Store | None = None
    try:
        await wait_until_serving(port, server)
        store = await Store.open(f"sqlite+aiosqlite:///{db_file}")
        await directory.save(store, directory.parse_text(bench_directory(concurrency, now), "bench-directory"))
        settings = Settings(temporal_address=f"127.0.0.1:{port}", namespace="default",
                            task_queue=f"bench-{uuid.uuid4().hex[:8]}", database_url=None, directory=None)
        client = await connect(settings)
        floor_queue = f"{settings.task_queue}-floor"
        floor_worker = Worker(client, task_queue=floor_queue, workflows=floor.WORKFLOWS, activities=floor.ACTIVITIES,
                              graceful_shutdown_timeout=timedelta(seconds=5))
        async with build_worker(client, store, settings.task_queue), floor_worker, OfferWatch(db_file) as offers:
            yield Bench(client, settings.task_queue, floor_queue, offers, CpuMeter(server.pid)), store
    finally:
        if store is not None:
            await store.close()
        stop(server)


async def run_bench(*, conversations: int, concurrency: int, floor: int, open_count: int = 1000,
                    hops: int = 200, on_file: bool = True) -> Report:
    """Measure, print the table, clean up. ``open_count`` conversations are left open at once
    (10,000 for the issue's figure); ``hops`` transfers go through one conversation."""
    began = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
            now = datetime.now(timezone.utc)
            progress("starting the Temporal dev server (in memory)")
            async with session(Path(tmp), now, concurrency, server_db=None) as (bench, store):
                report = await _measure(bench, store, now, conversations=conversations, concurrency=concurrency,
                                        floor=floor, open_count=open_count, hops=hops)
            if on_file:
                progress("a second dev server on its SQLite file: throughput of the floor and of conversations")
                async with session(Path(tmp), now, concurrency, server_db=Path(tmp) / "temporal.db") as (bench, _):
                    report.on_file = Pair(floor=await bench.throughput("BenchOneActivity", floor, concurrency),
                                          routed=await bench.routed_throughput(conversations, concurrency))
    except Exception:
        # On Ctrl-C the SDK turns the cancellation of a pending call into errors of its own;
        # give asyncio back its CancelledError so that it ends as a KeyboardInterrupt.
        if asyncio.current_task().cancelling():
            raise asyncio.CancelledError from None
        raise
    report.wall_time = time.perf_counter() - began
    print("\n".join(render(report)), flush=True)
    return report


async def _measure(bench: Bench, store: Store, now: datetime, *, conversations: int, concurrency: int, floor: int,
                   open_count: int, hops: int) -> Report:
    progress(f"floor: empty workflow, {UNLOADED_RUNS} one at a time, {floor} at concurrency {concurrency}")
    empty = await bench.floor("BenchEmpty", floor, concurrency)
    progress("floor: one-activity workflow")
    one_activity = await bench.floor("BenchOneActivity", floor, concurrency)
    rss_after_floor = rss_mb()
    progress(f"routed: {UNLOADED_RUNS} one at a time, {conversations} at concurrency {concurrency}")
    routed = await bench.routed(conversations, concurrency)
    progress("one conversation per rollover mode, and a backup rollover")
    modes = [*await bench.modes(now), await bench.rollover()]
    progress(f"one conversation transferred {hops} times")
    transfers = await extra.transfers(bench, hops)
    progress(f"HTTP gateway: {UNLOADED_RUNS} one at a time, {conversations} at concurrency {concurrency}")
    gateway = await gateway_run(bench, store, conversations, concurrency)
    rss_after_run = rss_mb()
    opened = None
    if open_count:
        progress(f"{open_count} conversations left open (queued), then new ones one at a time")
        opened = await extra.open_conversations(bench, store, open_count, concurrency)
    return Report(conversations=conversations, concurrency=concurrency, floor_count=floor, empty=empty,
                  one_activity=one_activity, routed=routed, modes=modes, transfers=transfers, gateway=gateway,
                  open=opened, on_file=None, rss_after_floor=rss_after_floor, rss_after_run=rss_after_run)
