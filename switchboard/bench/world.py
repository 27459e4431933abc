"""What the bench runs in: the synthesized directory, the offer watch, concurrency, meters."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from routing.hours import DAYS
from switchboard.bench.figures import Cpu

T = TypeVar("T")

POLL = 0.005  # seconds between two reads of the holds table
OWNER, HANDLER, SKILL, HANDLER_SKILL = "bench", "bench-bpo", "chat", "handled"
DESK = "desk"  # the owner's second skill: transfers go back and forth between it and SKILL
QUEUE = "bench-queue"  # an account nobody is online for: its conversations wait
ROLLOVER = "mode-rollover"  # backup with a 1 s window: the owner's offer is withdrawn, the handler gets it

_HANDLER_REF = f"{{account: {HANDLER}, skill: {HANDLER_SKILL}}}"
ALWAYS = '{mon-sun: "00:00-24:00"}'


def mode_cases(now: datetime) -> list[tuple[str, str, str, bool]]:
    """Per rollover case: its label, its account, the skill's policy, whether the owner's agent is online."""
    never_now = f'{{{DAYS[(now.weekday() + 3) % 7]}: "00:00-24:00"}}'  # a whole day, but not today
    return [
        ("none", "mode-none", "{mode: none}", True),
        ("fully_managed", "mode-managed", f"{{mode: fully_managed, handler: {_HANDLER_REF}}}", True),
        ("backup, owner online", "mode-backup", f"{{mode: backup, handler: {_HANDLER_REF}, backup_window: 60s}}",
         True),
        ("backup, no owner online", "mode-backup-off",
         f"{{mode: backup, handler: {_HANDLER_REF}, backup_window: 60s}}", False),
        ("schedule, in schedule", "mode-schedule", f"{{mode: schedule, handler: {_HANDLER_REF}, schedule: {ALWAYS}}}",
         True),
        ("hybrid, in schedule", "mode-hybrid",
         f"{{mode: hybrid, handler: {_HANDLER_REF}, backup_window: 60s, schedule: {ALWAYS}}}", True),
        ("hybrid, off schedule", "mode-hybrid-off",
         f"{{mode: hybrid, handler: {_HANDLER_REF}, backup_window: 60s, schedule: {never_now}}}", True),
    ]


def bench_directory(concurrency: int, now: datetime) -> str:
    """The owner with ten online agents and twice the slots ``concurrency`` needs, a handler
    account, one account per rollover case, one whose window rolls over, one nobody serves."""
    capacity = max(2, math.ceil(2 * concurrency / 10))
    lines = [
        "accounts:",
        f"  - id: {OWNER}",
        "    brand: {name: Bench Owner}",
        "    skills:",
        f"      - {{id: {SKILL}, rollover: {{mode: none}}}}",
        f"      - {{id: {DESK}}}",
        "    agents:",
        *(f"      - {{id: owner-{n}, skills: [{SKILL}, {DESK}], capacity: {capacity}, status: online}}"
          for n in range(10)),
        f"  - id: {HANDLER}",
        "    brand: {name: Bench Handler}",
        "    skills:",
        f"      - {{id: {HANDLER_SKILL}, rollover: null}}",
        "    agents:",
        *(f"      - {{id: handler-{n}, skills: [{HANDLER_SKILL}], capacity: 5, status: online}}" for n in range(2)),
        f"  - id: {QUEUE}",
        "    brand: {name: Bench Queue}",
        "    skills:",
        f"      - {{id: {SKILL}, rollover: {{mode: none}}}}",
        "    agents:",
        f"      - {{id: {QUEUE}-agent, skills: [{SKILL}], capacity: 5, status: offline}}",
    ]
    cases = [*mode_cases(now), ("rollover", ROLLOVER, f"{{mode: backup, handler: {_HANDLER_REF}, backup_window: 1s}}",
                                True)]
    for _, account, policy, online in cases:
        lines += [
            f"  - id: {account}",
            f"    brand: {{name: {account}}}",
            "    skills:",
            f"      - {{id: {SKILL}, rollover: {policy}}}",
            "    agents:",
            f"      - {{id: {account}-agent, skills: [{SKILL}], capacity: 5, status: "
            f"{'online' if online else 'offline'}}}",
        ]
    lines.append(f"gateways: [{{name: bench, accounts: [{OWNER}]}}]")  # the gateway run's principal
    return "\n".join(lines) + "\n"


class OfferWatch:
    """Sees offers as an agent workspace does: a ``holds`` row, read every ``POLL`` seconds. A
    workspace is another process; ``cpu`` is what its reads cost this one (seconds of this thread),
    so that the worker's figure can leave it out."""

    def __init__(self, db_file: Path) -> None:
        self._db_file = db_file
        self.cpu = 0.0
        self._waiting: dict[str, asyncio.Future[tuple[str, float]]] = {}
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OfferWatch:
        # Read-only and autocommit: a WAL reader never waits for the worker's writes, and reading
        # a few rows takes microseconds, less than handing the query to a thread would.
        self._db = sqlite3.connect(f"file:{self._db_file}?mode=ro", uri=True, isolation_level=None)
        self._task = asyncio.create_task(self._poll(), name="bench-offer-watch")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._db:
            self._db.close()

    def expect(self, conversation_id: str) -> asyncio.Future[tuple[str, float]]:
        """A future of (agent, ``perf_counter`` when seen); ask before starting the conversation."""
        seen = asyncio.get_running_loop().create_future()
        self._waiting[conversation_id] = seen
        return seen

    async def _poll(self) -> None:
        while True:
            if self._waiting:
                began = time.thread_time()  # nothing in here yields: all of it is this read's
                rows = self._db.execute("SELECT conversation_id, agent_id FROM holds").fetchall()
                now = time.perf_counter()
                for conversation_id, agent in rows:
                    seen = self._waiting.pop(conversation_id, None)
                    if seen is not None and not seen.done():
                        seen.set_result((agent, now))
                self.cpu += time.thread_time() - began
            await asyncio.sleep(POLL)


async def at_concurrency(job: Callable[[int], Awaitable[T]], count: int, concurrency: int) -> tuple[list[T], float]:
    """Run ``job(0..count-1)`` with ``concurrency`` in flight; the results and the seconds it took."""
    numbers = iter(range(count))
    results: list[T] = []

    async def lane() -> None:
        for n in numbers:
            results.append(await job(n))

    began = time.perf_counter()
    async with asyncio.TaskGroup() as lanes:
        for _ in range(min(concurrency, count)):
            lanes.create_task(lane())
    return results, time.perf_counter() - began


async def history_of(client: Client, workflow_id: str, run_id: str | None = None) -> Counter[str]:
    """Event types of a workflow's history, named as in the Temporal UI (``ActivityTaskScheduled``)."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return Counter(event_name(event.event_type) for event in history.events)


def event_name(event_type: int) -> str:
    return "".join(word.capitalize() for word in EventType.Name(event_type).removeprefix("EVENT_TYPE_").split("_"))


class CpuMeter:
    """CPU seconds of the Temporal server process (and its children) and of this process."""

    def __init__(self, server_pid: int) -> None:
        self._server = psutil.Process(server_pid)
        self._me = psutil.Process()

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def now(self) -> Cpu:
        server = self._seconds(self._server) + sum(self._seconds(c) for c in self._server.children(recursive=True))
        return Cpu(server=server, worker=self._seconds(self._me))

    def since(self, before: Cpu) -> Cpu:
        after = self.now()
        return Cpu(after.server - before.server, after.worker - before.worker)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
