"""The fault soak: a few hundred conversations while workers are killed and Temporal restarts.

``make soak`` runs the full one; ``tests/test_soak.py`` a bounded one inside ``make test``.

    python -m switchboard.soak --conversations 300 --kills 3 --server-restarts 1 --workers 2 --database postgres

Everything is a real process on 127.0.0.1 in a temporary folder (``stack``): a Temporal dev
server on a persistence file, so it survives its restarts; ``switchboard worker`` processes; a
SQLite file or a throwaway PostgreSQL cluster. The load (``load``) drives the engine through its
public contract only. The faults: kill -9 of a worker K times at random moments, back after a
short pause; R restarts of the dev server (SIGTERM or SIGKILL, then again on the same port and
file). The checks (``checks``), all expected to be zero: conversations lost, stuck, assigned
twice; agent load above capacity at any sample; load not equal to live holds at the end; failed
workflow tasks, nondeterminism among them.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from switchboard import pgcluster
from switchboard.soak.checks import Figures, final, settle
from switchboard.soak.load import Load, directory_yaml
from switchboard.soak.stack import Stack
from switchboard.soak.tables import StoreReader

# Once the last conversation has started: (idle, cap) seconds, each phase ending when nothing has
# progressed for ``idle`` seconds or after ``cap`` (load.until).
WIND_DOWN = (10.0, 30.0)  # agents go on answering and closing
DRAIN = (20.0, 90.0)  # what is left is closed, by its assignee or the owner's manager
SETTLE = (20.0, 90.0)  # every workflow ends (the release runs after the close)
SAMPLE = 1.0  # seconds between two reads of agents' load and holds
KILL_PAUSE = (1.0, 3.0)  # seconds a killed worker stays down
SERVER_PAUSE = 1.0  # seconds the dev server stays down


@dataclass(frozen=True)
class Options:
    conversations: int = 300
    kills: int = 3
    server_restarts: int = 1
    workers: int = 1
    database: Literal["sqlite", "postgres"] = "sqlite"
    seed: int = 1
    rate: float = 2.5  # conversations started per second
    keep: bool = False  # keep the folder (server file, store, logs) and say where

    def describe(self) -> str:
        return (f"{self.database}, {self.workers} worker(s), {self.conversations} conversations at {self.rate:g}/s,"
                f" {self.kills} worker kill(s), {self.server_restarts} server restart(s), seed {self.seed}")


def fault_plan(options: Options, rng: random.Random) -> list[tuple[float, str]]:
    """(seconds into the load, "kill" or "restart"): one fault in each equal slice of the load's
    middle 70 %, so that two faults do not land on top of each other."""
    kinds = ["kill"] * options.kills + ["restart"] * options.server_restarts
    rng.shuffle(kinds)
    span = options.conversations / options.rate
    slot = 0.7 * span / max(len(kinds), 1)
    return [(0.15 * span + slot * (i + rng.uniform(0.2, 0.8)), kind) for i, kind in enumerate(kinds)]


async def inject(stack: Stack, plan: list[tuple[float, str]], rng: random.Random, log: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    for at, kind in plan:
        await asyncio.sleep(max(0.0, begin + at - loop.time()))
        if kind == "kill":
            index, pause = rng.randrange(len(stack.workers)), rng.uniform(*KILL_PAUSE)
            log(f"  t+{at:.1f}s kill -9 worker {index}, back after {pause:.1f}s")
            await stack.kill_worker(index, pause)
        else:
            how = rng.choice((signal.SIGTERM, signal.SIGKILL))
            log(f"  t+{at:.1f}s restart the Temporal dev server ({how.name})")
            await stack.restart_server(how, SERVER_PAUSE)


def _quiet_runtime() -> Runtime:
    """The client's core logs every retried call while the server is down: keep errors only."""
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(
        core_level="ERROR", other_level="ERROR"))))


def _keep_or_remove(folder: Path, options: Options, figures: Figures, log: Callable[[str], None]) -> None:
    """A failed soak keeps its folder (Temporal's file, the store, the workers' logs) to look at."""
    if options.keep or not figures.ok:
        log(f"  kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


async def run(options: Options, log: Callable[[str], None] = print) -> Figures:
    """One soak; the figures say what it found. Every process and the folder go away at the end."""
    rng, figures = random.Random(options.seed), Figures()
    folder = Path(tempfile.mkdtemp(prefix="switchboard-soak-"))
    log(f"soak: {options.describe()}")
    loop = asyncio.get_running_loop()
    begin = loop.time()
    with ExitStack() as cleanup:
        cleanup.callback(_keep_or_remove, folder, options, figures, log)
        if options.database == "postgres":
            url = await pgcluster.create_database(cleanup.enter_context(pgcluster.cluster()), "soak")
        else:
            url = f"sqlite+aiosqlite:///{folder / 'switchboard.db'}"
        stack = Stack(folder, url, options.workers)
        cleanup.callback(stack.close)
        await stack.start_server()
        (folder / "directory.yaml").write_text(directory_yaml())
        await stack.load_directory(folder / "directory.yaml")
        for index in range(options.workers):
            stack.start_worker(index)
        client = await Client.connect(stack.address, data_converter=pydantic_data_converter, runtime=_quiet_runtime())
        await stack.wait_for_pollers(client)
        log(f"  {options.workers} worker(s) polling after {loop.time() - begin:.0f}s of setup; load (t+0s)")
        begin = loop.time()  # from here on, times count from the start of the load, as the faults' do
        store = StoreReader(url)
        load = Load(client, stack.task_queue, store, rng, options.conversations, run=str(options.seed))
        background = [asyncio.create_task(stack.supervise()), asyncio.create_task(load.poll()),
                      asyncio.create_task(store.sample(figures, SAMPLE))]
        try:
            await asyncio.gather(load.start_all(options.rate), inject(stack, fault_plan(options, rng), rng, log))
            log(f"  t+{loop.time() - begin:.0f}s all started; wind down")
            await load.wind_down(*WIND_DOWN)
            still_open = [f"{c.id} ({(c.view or {}).get('status')})" for c in load.conversations
                          if c.started and not c.done]
            log(f"  t+{loop.time() - begin:.0f}s drain: {len(still_open)} open"
                + (f": {', '.join(still_open[:10])}{' ...' if len(still_open) > 10 else ''}" if still_open else ""))
            await load.drain(*DRAIN)
            await settle(client, load, *SETTLE)
            for task in background[1:]:  # the supervisor stays: the checks need the server only
                task.cancel()
            log(f"  t+{loop.time() - begin:.0f}s checks")
            await final(client, load, store, figures)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await load.cancel()
            await store.close()
        figures.info.update({"worker kills": stack.kills, "server restarts": stack.server_restarts,
                             "worker exits not asked for": stack.unplanned_exits,
                             "seconds from the first start to the end": round(loop.time() - begin)})
    return figures
