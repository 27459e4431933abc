"""``switchboard bench``: what a routed conversation costs, next to the cheapest Temporal workflows.

Everything runs here and goes away at the end: a Temporal dev server in memory (one task-queue
partition), the worker in this process, a fresh SQLite store in a temporary folder and a
synthesized directory whose agents are online with room to spare.

1. The floor: an empty workflow and a one-activity workflow (``bench_workflows``), unloaded
   (one at a time) and at the given concurrency.
2. Routed conversations of an owner account with rollover ``none``: start -> offer latency,
   unloaded and loaded; conversations fully done per second (offered, accepted, closed, workflow
   completed); history events and billable actions per conversation; worker memory.
3. One conversation per rollover mode, for its actions and history events.
4. The HTTP gateway in-process (ASGI): the latency of ``POST /conversations`` (a channel
   gateway's token) and of ``accept`` (the offered agent's token), unloaded and loaded.

An offer counts as seen when its ``holds`` row is in the database, which is what an agent's
workspace reads. One loop polls that table on a read-only connection of its own: polling the
``state`` query instead would make the worker answer queries while it is being measured.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from routing.hours import DAYS
from routing.model import StartConversation
from store import Store, directory
from switchboard import bench_workflows
from service.conversations import command as send_command
from service.conversations import start as start_conversation
from service.config import Settings
from switchboard.devserver import free_port, start_dev_server, stop, wait_for_port
from service.temporal import connect
from worker import build_worker

T = TypeVar("T")

UNLOADED_RUNS = 20  # sequential runs behind each "unloaded" figure
WARM_UP = 3  # unmeasured runs first: imports, sandbox, server caches
POLL = 0.005  # seconds between two reads of the holds table
OFFER_WAIT = 30.0  # seconds before a conversation that was never offered fails the bench
HISTORY_SAMPLES = 10  # routed conversations whose history is fetched and counted

# History events that Temporal Cloud bills as one action each (for the plain cases measured here).
BILLABLE = ("WorkflowExecutionStarted", "ActivityTaskScheduled", "TimerStarted", "WorkflowExecutionSignaled",
            "WorkflowExecutionUpdateAccepted", "UpsertWorkflowSearchAttributes", "MarkerRecorded",
            "StartChildWorkflowExecutionInitiated", "WorkflowExecutionContinuedAsNew")

# Targets from the issue.
TARGET_THROUGHPUT = 0.5  # conversations/s >= half the one-activity floor's workflows/s
TARGET_OFFER_P50 = 1.5  # unloaded start->offer p50 <= 1.5x the one-activity floor's p50
TARGET_ACTIONS = 7  # billable actions for a conversation offered once, accepted and closed

OWNER, HANDLER, SKILL, HANDLER_SKILL = "bench", "bench-bpo", "chat", "handled"
DESK = "desk"  # the owner's second skill: transfers go back and forth between it and SKILL
TRANSFER_HOPS = 10


# ---- figures ------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with 20 samples, p95 is the 19th and p99 the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Latency:
    """Seconds per run; ``p(50)`` etc."""

    samples: list[float]

    def p(self, q: float) -> float:
        return percentile(self.samples, q)


@dataclass
class History:
    """Mean history events and billable actions per workflow over a sample, by event type."""

    events: float
    actions: float
    billable: dict[str, float]

    @classmethod
    def of(cls, histories: list[Counter[str]]) -> History:
        n = len(histories)
        total = sum(histories, Counter())
        billable = {kind: total[kind] / n for kind in BILLABLE if total[kind]}
        return cls(events=total.total() / n, actions=sum(billable.values()), billable=billable)


@dataclass
class Floor:
    name: str
    unloaded: Latency
    loaded: Latency
    throughput: float
    history: History


@dataclass
class Routed:
    unloaded: Latency
    loaded: Latency
    throughput: float
    history: History
    accepts: int  # accept updates sent in the loaded run
    early_accepts: int  # of which refused because the workflow had not yet taken the offer in


@dataclass
class ModeRun:
    case: str
    mode: str
    handled_by: str
    history: History


@dataclass
class Transfers:
    """One conversation transferred ``hops`` times inside the owner account, each accepted."""

    hops: int
    history: History


@dataclass
class GatewayRun:
    """Requests through the HTTP gateway: seconds per successful request."""

    start_unloaded: Latency
    start_loaded: Latency
    accept_unloaded: Latency
    accept_loaded: Latency
    early_accepts: int  # accepts answered 409 NoOffer (offer seen before the workflow had it), retried


@dataclass
class Report:
    conversations: int
    concurrency: int
    floor_count: int
    empty: Floor
    one_activity: Floor
    routed: Routed
    modes: list[ModeRun]
    transfers: Transfers
    gateway: GatewayRun
    rss_after_floor: float  # MB
    rss_after_run: float  # MB
    wall_time: float = 0.0

    def table(self) -> str:
        return "\n".join(_render(self))


# ---- the synthesized directory ------------------------------------------------------------------

_HANDLER_REF = f"{{account: {HANDLER}, skill: {HANDLER_SKILL}}}"
ALWAYS = '{mon-sun: "00:00-24:00"}'


def _mode_cases(now: datetime) -> list[tuple[str, str, str, bool]]:
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
    account, and one account per rollover case."""
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
    ]
    for _, account, policy, online in _mode_cases(now):
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


# ---- watching offers ----------------------------------------------------------------------------

class OfferWatch:
    """Sees offers as an agent workspace does: a ``holds`` row, read every ``POLL`` seconds."""

    def __init__(self, db_file: Path) -> None:
        self._db_file = db_file
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
                rows = self._db.execute("SELECT conversation_id, agent_id FROM holds").fetchall()
                now = time.perf_counter()
                for conversation_id, agent in rows:
                    seen = self._waiting.pop(conversation_id, None)
                    if seen is not None and not seen.done():
                        seen.set_result((agent, now))
            await asyncio.sleep(POLL)


# ---- running things -----------------------------------------------------------------------------

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


async def history_of(client: Client, workflow_id: str) -> Counter[str]:
    """Event types of a workflow's history, named as in the Temporal UI (``ActivityTaskScheduled``)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return Counter(_event_name(event.event_type) for event in history.events)


def _event_name(event_type: int) -> str:
    return "".join(word.capitalize() for word in EventType.Name(event_type).removeprefix("EVENT_TYPE_").split("_"))


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Done:
    """One routed conversation, from start to completed workflow."""

    workflow_id: str
    offer_latency: float  # seconds from the start call to the hold row being seen
    early_accepts: int
    view: dict[str, Any]


@dataclass
class Bench:
    client: Client
    task_queue: str
    floor_queue: str
    offers: OfferWatch
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    # -- the floor --

    async def floor(self, workflow: str, count: int, concurrency: int) -> Floor:
        async def once(n: int, phase: str) -> tuple[str, float]:
            workflow_id = f"bench-{self.tag}-{workflow}-{phase}-{n}"
            began = time.perf_counter()
            await self.client.execute_workflow(workflow, id=workflow_id, task_queue=self.floor_queue)
            return workflow_id, time.perf_counter() - began

        for n in range(WARM_UP):
            await once(n, "warm")
        unloaded = [(await once(n, "seq"))[1] for n in range(UNLOADED_RUNS)]
        loaded, took = await at_concurrency(lambda n: once(n, "load"), count, concurrency)
        history = History.of([await history_of(self.client, loaded[0][0])])
        return Floor(workflow, Latency(unloaded), Latency([s for _, s in loaded]), count / took, history)

    # -- routed conversations --

    async def converse(self, account: str, conversation_id: str, customer: str) -> Done:
        """Start a conversation, wait for its offer, accept it as the offered agent, close it."""
        start = StartConversation(conversation_id=conversation_id, account=account, skill=SKILL, channel="web",
                                  customer=customer, first_message="Hello")
        offered = self.offers.expect(conversation_id)
        began = time.perf_counter()
        handle = await start_conversation(self.client, start, self.task_queue)
        try:
            agent, seen = await asyncio.wait_for(offered, OFFER_WAIT)
        except TimeoutError:
            view = await handle.query("state")
            raise RuntimeError(f"{conversation_id} was not offered within {OFFER_WAIT:g}s; "
                               f"status {view.get('status')}, timeline {view.get('timeline')}") from None
        early = await self.accept(conversation_id, agent)
        await send_command(self.client, conversation_id, "close", {"by": agent, "reason": "bench"})
        return Done(handle.id, seen - began, early, await handle.result())

    async def accept(self, conversation_id: str, agent: str) -> int:
        """Accept as soon as the workflow knows of the offer; returns how many tries it refused.

        The hold row is committed inside the routing activity, so a workspace can see the offer
        a few milliseconds before the workflow has the activity's result and would take an accept.
        """
        refused = 0
        deadline = time.perf_counter() + OFFER_WAIT
        while True:
            try:
                await send_command(self.client, conversation_id, "accept", {"agent": agent})
                return refused
            except WorkflowUpdateFailedError as failed:
                cause = failed.cause
                if not (isinstance(cause, ApplicationError) and cause.type == "NoOffer") \
                        or time.perf_counter() > deadline:
                    raise
            refused += 1
            await asyncio.sleep(POLL)

    async def routed(self, count: int, concurrency: int) -> Routed:
        def run(n: int, phase: str) -> Awaitable[Done]:
            return self.converse(OWNER, f"bench-{self.tag}-{phase}-{n}", f"cust-{n}")

        for n in range(WARM_UP):
            await run(n, "warm")
        unloaded = [(await run(n, "seq")).offer_latency for n in range(UNLOADED_RUNS)]
        loaded, took = await at_concurrency(lambda n: run(n, "load"), count, concurrency)
        step = max(1, len(loaded) // HISTORY_SAMPLES)
        sample = [await history_of(self.client, done.workflow_id) for done in loaded[::step][:HISTORY_SAMPLES]]
        early = sum(d.early_accepts for d in loaded)
        return Routed(unloaded=Latency(unloaded), loaded=Latency([d.offer_latency for d in loaded]),
                      throughput=count / took, history=History.of(sample), accepts=count + early, early_accepts=early)

    async def modes(self, now: datetime) -> list[ModeRun]:
        runs = []
        for case, account, _, _ in _mode_cases(now):
            done = await self.converse(account, f"bench-{self.tag}-{account}", "cust-mode")
            view = done.view
            where = (f"handler {view['handler_account']}/{view['handler_skill']}" if view.get("handler_account")
                     else f"owner {view['account']}/{view['skill']}")
            runs.append(ModeRun(case, view.get("rollover_mode") or "?", where,
                                History.of([await history_of(self.client, done.workflow_id)])))
        return runs


    async def transfers(self, hops: int) -> Transfers:
        """Accepted, then ``hops`` transfers between two skills, each accepted, then closed."""
        conversation_id = f"bench-{self.tag}-transfers"
        start = StartConversation(conversation_id=conversation_id, account=OWNER, skill=SKILL, channel="web",
                                  customer="cust-transfers")
        handle = await start_conversation(self.client, start, self.task_queue)
        assignee = await self._accept_offer(handle)
        for hop in range(hops):
            await send_command(self.client, conversation_id, "transfer",
                               {"by": assignee, "skill": DESK if hop % 2 == 0 else SKILL, "note": f"hop {hop}"})
            assignee = await self._accept_offer(handle)
        await send_command(self.client, conversation_id, "close", {"by": assignee, "reason": "bench"})
        await handle.result()
        return Transfers(hops, History.of([await history_of(self.client, handle.id)]))

    async def gateway(self, store: Store, count: int, concurrency: int) -> GatewayRun:
        """Conversations started, accepted and closed through the HTTP gateway, in-process (ASGI):
        the gateway's own cost (token lookup, R5 check, state query) on top of Temporal's."""
        import httpx

        from gateway import create_app
        from store import tokens

        app = create_app(store=store, client=self.client, task_queue=self.task_queue)
        principals = ["gateway:bench", *(f"owner-{n}" for n in range(10))]
        bearer = {p: {"Authorization": f"Bearer {await tokens.create(store, p)}"} for p in principals}
        early = 0

        async def once(http: httpx.AsyncClient, n: int, phase: str) -> tuple[float, float]:
            nonlocal early
            conversation_id = f"bench-{self.tag}-gw-{phase}-{n}"
            offered = self.offers.expect(conversation_id)
            began = time.perf_counter()
            started = await http.post("/conversations", headers=bearer["gateway:bench"], json={
                "conversation_id": conversation_id, "account": OWNER, "skill": SKILL, "channel": "web",
                "customer": f"cust-{n}"})
            start = time.perf_counter() - began
            if started.status_code != 201:
                raise RuntimeError(f"gateway start of {conversation_id}: {started.status_code} {started.text}")
            agent, _ = await asyncio.wait_for(offered, OFFER_WAIT)
            path = f"/conversations/{conversation_id}"
            while True:  # as in ``accept``: the offer row can be seen before the workflow has it
                began = time.perf_counter()
                answer = await http.post(f"{path}/accept", headers=bearer[agent], json={})
                accept = time.perf_counter() - began
                if answer.status_code == 200:
                    break
                if answer.json().get("error") != "NoOffer":
                    raise RuntimeError(f"gateway accept of {conversation_id}: {answer.status_code} {answer.text}")
                early += 1
                await asyncio.sleep(POLL)
            await http.post(f"{path}/close", headers=bearer[agent], json={"reason": "bench"})
            return start, accept

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            for n in range(WARM_UP):
                await once(http, n, "warm")
            unloaded = [await once(http, n, "seq") for n in range(UNLOADED_RUNS)]
            early = 0
            loaded, _ = await at_concurrency(lambda n: once(http, n, "load"), count, concurrency)
        return GatewayRun(Latency([s for s, _ in unloaded]), Latency([s for s, _ in loaded]),
                          Latency([a for _, a in unloaded]), Latency([a for _, a in loaded]), early)

    async def _accept_offer(self, handle) -> str:
        deadline = time.perf_counter() + OFFER_WAIT
        while (view := await handle.query("state"))["status"] != "offered":
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{handle.id} was not offered within {OFFER_WAIT:g}s: {view}")
            await asyncio.sleep(POLL)
        agent = view["offer"]["agent"]
        await send_command(self.client, handle.id.removeprefix("conversation-"), "accept", {"agent": agent})
        return agent


async def run_bench(*, conversations: int, concurrency: int, floor: int) -> Report:
    """Start the servers, measure, print the table, and clean up (also on error or Ctrl-C)."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        db_file = Path(tmp) / "switchboard.db"
        port = free_port()
        server = start_dev_server(port=port, ui_port=None, db_file=None, die_with_parent=True)
        store: Store | None = None
        try:
            _progress("starting the Temporal dev server (in memory)")
            await wait_for_port(port, server)
            store = await Store.open(f"sqlite+aiosqlite:///{db_file}")
            now = datetime.now(timezone.utc)
            await directory.save(store, directory.parse_text(bench_directory(concurrency, now), "bench-directory"))
            report = await _measure(store, db_file, port, now, conversations=conversations,
                                    concurrency=concurrency, floor=floor)
        except Exception:
            # On Ctrl-C the SDK turns the cancellation of a pending call into errors of its own;
            # give asyncio back its CancelledError so that it ends as a KeyboardInterrupt.
            if asyncio.current_task().cancelling():
                raise asyncio.CancelledError from None
            raise
        finally:
            if store is not None:
                await store.close()
            stop(server)
    report.wall_time = time.perf_counter() - began
    print(report.table(), flush=True)
    return report


async def _measure(store: Store, db_file: Path, port: int, now: datetime, *, conversations: int, concurrency: int,
                   floor: int) -> Report:
    settings = Settings(temporal_address=f"127.0.0.1:{port}", namespace="default",
                        task_queue=f"bench-{uuid.uuid4().hex[:8]}", database_url=None, directory=None)
    client = await connect(settings)
    floor_queue = f"{settings.task_queue}-floor"
    floor_worker = Worker(client, task_queue=floor_queue, workflows=bench_workflows.WORKFLOWS,
                          activities=bench_workflows.ACTIVITIES, graceful_shutdown_timeout=timedelta(seconds=5))
    async with build_worker(client, store, settings.task_queue), floor_worker, OfferWatch(db_file) as offers:
        bench = Bench(client, settings.task_queue, floor_queue, offers)
        _progress(f"floor: empty workflow, {UNLOADED_RUNS} one at a time, {floor} at concurrency {concurrency}")
        empty = await bench.floor("BenchEmpty", floor, concurrency)
        _progress("floor: one-activity workflow")
        one_activity = await bench.floor("BenchOneActivity", floor, concurrency)
        rss_after_floor = rss_mb()
        _progress(f"routed: {UNLOADED_RUNS} one at a time, {conversations} at concurrency {concurrency}")
        routed = await bench.routed(conversations, concurrency)
        _progress("one conversation per rollover mode")
        modes = await bench.modes(now)
        _progress(f"one conversation transferred {TRANSFER_HOPS} times")
        transfers = await bench.transfers(TRANSFER_HOPS)
        _progress(f"HTTP gateway: {UNLOADED_RUNS} one at a time, {conversations} at concurrency {concurrency}")
        gateway = await bench.gateway(store, conversations, concurrency)
    return Report(conversations=conversations, concurrency=concurrency, floor_count=floor, empty=empty,
                  one_activity=one_activity, routed=routed, modes=modes, transfers=transfers, gateway=gateway,
                  rss_after_floor=rss_after_floor,
                  rss_after_run=rss_mb())


# ---- the table ----------------------------------------------------------------------------------

def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _aligned(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _render(r: Report) -> list[str]:
    return [
        f"Switchboard bench: {r.conversations} conversations and {r.floor_count} floor workflows of each kind "
        f"at concurrency {r.concurrency}",
        f"Temporal dev server in memory (1 task-queue partition), worker in this process, SQLite store; "
        f"{psutil.cpu_count()} CPUs",
        "", "Floor", *_floor_lines(r),
        "", "Routed conversations (owner account, rollover none)", *_routed_lines(r),
        "", "Per rollover mode (one conversation each: offered once, accepted, closed)", *_mode_lines(r),
        "", f"Transfers (one conversation, {r.transfers.hops} transfers inside the account, each accepted)",
        *_transfer_lines(r),
        "", "HTTP gateway (in-process ASGI beside the worker; a conversation per run: start, accept, close)",
        *_gateway_lines(r),
        "", "Legend", *_legend_lines(r),
        f"wall time {r.wall_time:.0f} s",
    ]


def _floor_lines(r: Report) -> list[str]:
    c = r.concurrency
    header = ("workflow", "unloaded p50", "p95", "p99", f"at c={c} p50", "p95", "p99", "workflows/s", "events",
              "actions")
    return _aligned([header] + [
        (f.name, _ms(f.unloaded.p(50)), _ms(f.unloaded.p(95)), _ms(f.unloaded.p(99)), _ms(f.loaded.p(50)),
         _ms(f.loaded.p(95)), _ms(f.loaded.p(99)), f"{f.throughput:.1f}", f"{f.history.events:g}",
         f"{f.history.actions:g}") for f in (r.empty, r.one_activity)], right=set(range(1, 10)))


def _routed_lines(r: Report) -> list[str]:
    one, routed, c = r.one_activity, r.routed, r.concurrency

    def vs(value: float, base: float, what: str) -> str:
        return f"{value / base:.2f}x one-activity {what}"

    rows = [("figure", "value", "vs the floor", "target", "")]
    for q in (50, 95, 99):
        target = q == 50
        rows.append((f"start->offer p{q}, unloaded", _ms(routed.unloaded.p(q)),
                     vs(routed.unloaded.p(q), one.unloaded.p(q), f"unloaded p{q} ({_ms(one.unloaded.p(q))})"),
                     f"<= {TARGET_OFFER_P50:g}x" if target else "",
                     _verdict(routed.unloaded.p(50) <= TARGET_OFFER_P50 * one.unloaded.p(50)) if target else ""))
    for q in (50, 95, 99):
        rows.append((f"start->offer p{q}, c={c}", _ms(routed.loaded.p(q)),
                     vs(routed.loaded.p(q), one.loaded.p(q), f"p{q} at c={c} ({_ms(one.loaded.p(q))})"), "", ""))
    rows += [
        (f"conversations done/s, c={c}", f"{routed.throughput:.1f}/s",
         f"{routed.throughput / one.throughput:.0%} of one-activity ({one.throughput:.1f}/s)",
         f">= {TARGET_THROUGHPUT:.0%}", _verdict(routed.throughput >= TARGET_THROUGHPUT * one.throughput)),
        ("history events / conversation", f"{routed.history.events:g}",
         vs(routed.history.events, one.history.events, f"({one.history.events:g})"), "", ""),
        ("billable actions / conversation", f"{routed.history.actions:g}",
         vs(routed.history.actions, one.history.actions, f"({one.history.actions:g})"),
         f"<= {TARGET_ACTIONS}", _verdict(routed.history.actions <= TARGET_ACTIONS)),
        ("worker RSS after the run", f"{r.rss_after_run:.0f} MB",
         f"{r.rss_after_run / r.rss_after_floor:.2f}x after the floor ({r.rss_after_floor:.0f} MB)", "", ""),
    ]
    by_type = ", ".join(f"{kind} {n:g}" for kind, n in routed.history.billable.items())
    return _aligned(rows, right={1}) + _wrapped(f"actions by type: {by_type}") + _wrapped(
        f"accepts refused as early (hold row seen before the workflow had the offer): {routed.early_accepts} "
        f"of {routed.accepts} at c={c}, each retried after {POLL * 1000:g} ms")


def _mode_lines(r: Report) -> list[str]:
    return _aligned([("case", "mode", "handled by", "actions", "events")] + [
        (m.case, m.mode, m.handled_by, f"{m.history.actions:g}", f"{m.history.events:g}") for m in r.modes],
        right={3, 4})


def _transfer_lines(r: Report) -> list[str]:
    t, base = r.transfers, r.routed.history
    per = (t.history.actions - base.actions) / t.hops
    per_events = (t.history.events - base.events) / t.hops
    by_type = ", ".join(f"{kind} {n:g}" for kind, n in t.history.billable.items())
    return _aligned([("figure", "value"),
                     ("billable actions, whole conversation", f"{t.history.actions:g}"),
                     ("billable actions / transfer (beyond one routed conversation)", f"{per:.1f}"),
                     ("history events / transfer", f"{per_events:.1f}")], right={1}) + _wrapped(
        f"actions by type: {by_type}")


def _gateway_lines(r: Report) -> list[str]:
    g, c = r.gateway, r.concurrency
    rows = [("request", "unloaded p50", "p95", "p99", f"at c={c} p50", "p95", "p99")]
    for name, unloaded, loaded in (("POST /conversations", g.start_unloaded, g.start_loaded),
                                   ("POST /conversations/{id}/accept", g.accept_unloaded, g.accept_loaded)):
        rows.append((name, *(_ms(unloaded.p(q)) for q in (50, 95, 99)), *(_ms(loaded.p(q)) for q in (50, 95, 99))))
    return _aligned(rows, right=set(range(1, 7))) + _wrapped(
        "start: token lookup, directory check of account and skill (R1.3), describe (R1.2), start; accept: "
        "token lookup, state query (R5), update. Timed from request to response; accepts answered 409 because the "
        f"workflow did not have the offer yet are retried and not timed ({g.early_accepts} at c={c}).")


def _legend_lines(r: Report) -> list[str]:
    c = r.concurrency
    return [line for text in (
        f"offer seen: the conversation's row in the holds table, polled every {POLL * 1000:g} ms on a read-only "
        "SQLite connection (what an agent workspace reads); start->offer runs from the start call to then.",
        "floor latency: start call -> workflow result.",
        "done: started, offered, accepted (update), closed (update), workflow completed (capacity released).",
        f"unloaded: one at a time, {UNLOADED_RUNS} runs after {WARM_UP} warm-ups (so p95 and p99 are the two "
        f"slowest); c={c}: {c} in flight over all the runs.",
        f"history: {HISTORY_SAMPLES} routed conversations sampled from the c={c} run; one workflow per floor kind.",
        "billable actions: history events of the types " + ", ".join(BILLABLE) + ".",
    ) for line in _wrapped(text)]


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, width=110, initial_indent="  ", subsequent_indent="    ")
