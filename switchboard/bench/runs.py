"""The bench's runs on one server: the floor, routed conversations, one per rollover mode, a
backup rollover."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from routing.model import StartConversation
from service.conversations import command as send_command
from service.conversations import start as start_conversation
from switchboard.bench.figures import Floor, History, Latency, ModeRun, Routed
from switchboard.bench.world import OWNER, POLL, ROLLOVER, SKILL, CpuMeter, OfferWatch, at_concurrency, history_of, \
    mode_cases

UNLOADED_RUNS = 20  # sequential runs behind each "unloaded" figure
WARM_UP = 3  # unmeasured runs first: imports, sandbox, server caches
OFFER_WAIT = 30.0  # seconds before a conversation that was never offered fails the bench
HISTORY_SAMPLES = 10  # routed conversations whose history is fetched and counted


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
    cpu: CpuMeter
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
        before = self.cpu.now()
        loaded, took = await at_concurrency(lambda n: once(n, "load"), count, concurrency)
        cpu = self.cpu.since(before).per(count)
        history = History.of([await history_of(self.client, loaded[0][0])])
        return Floor(workflow, Latency(unloaded), Latency([s for _, s in loaded]), count / took, history, cpu)

    async def throughput(self, workflow: str, count: int, concurrency: int) -> float:
        """Floor workflows done per second at ``concurrency`` (no latency figures)."""
        async def once(n: int) -> None:
            await self.client.execute_workflow(workflow, id=f"bench-{self.tag}-{workflow}-tp-{n}",
                                               task_queue=self.floor_queue)
        _, took = await at_concurrency(once, count, concurrency)
        return count / took

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
        early, _ = await self.accept(conversation_id, agent)
        await send_command(self.client, conversation_id, "close", {"by": agent, "reason": "bench"})
        return Done(handle.id, seen - began, early, await handle.result())

    async def accept(self, conversation_id: str, agent: str, *, client: Client | None = None,
                     full_view: bool = False) -> tuple[int, float]:
        """Accept as soon as the workflow knows of the offer; how many tries it refused, and the
        seconds the one that went through took.

        The hold row is committed inside the routing activity, so a workspace can see the offer
        a few milliseconds before the workflow has the activity's result and would take an accept.
        """
        refused, body = 0, {"agent": agent, **({"view": "full"} if full_view else {})}
        deadline = time.perf_counter() + OFFER_WAIT
        while True:
            began = time.perf_counter()
            try:
                await send_command(client or self.client, conversation_id, "accept", body)
                return refused, time.perf_counter() - began
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
        unloaded = [await run(n, "seq") for n in range(UNLOADED_RUNS)]
        before, watched = self.cpu.now(), self.offers.cpu
        loaded, took = await at_concurrency(lambda n: run(n, "load"), count, concurrency)
        cpu = self.cpu.since(before)
        watch = self.offers.cpu - watched  # the stand-in workspace's reads: not the worker's, and the floor has none
        cpu.worker -= watch
        step = max(1, len(loaded) // HISTORY_SAMPLES)
        sample = [await history_of(self.client, done.workflow_id) for done in loaded[::step][:HISTORY_SAMPLES]]
        early = sum(d.early_accepts for d in loaded)
        return Routed(unloaded=Latency([d.offer_latency for d in unloaded]),
                      loaded=Latency([d.offer_latency for d in loaded]), throughput=count / took,
                      history=History.of(sample), accepts=count + early, early_accepts=early, cpu=cpu.per(count),
                      watch_cpu=watch / count)

    async def routed_throughput(self, count: int, concurrency: int) -> float:
        _, took = await at_concurrency(
            lambda n: self.converse(OWNER, f"bench-{self.tag}-tp-{n}", f"cust-{n}"), count, concurrency)
        return count / took

    async def modes(self, now: Any) -> list[ModeRun]:
        runs = []
        for case, account, _, _ in mode_cases(now):
            done = await self.converse(account, f"bench-{self.tag}-{account}", "cust-mode")
            runs.append(ModeRun(case, done.view.get("rollover_mode") or "?", _where(done.view),
                                History.of([await history_of(self.client, done.workflow_id)])))
        return runs

    async def rollover(self) -> ModeRun:
        """Backup with a 1 s window: offered to the owner's agent, not answered, withdrawn when the
        window closes, offered to the handler, accepted there, closed."""
        start = StartConversation(conversation_id=f"bench-{self.tag}-rollover", account=ROLLOVER, skill=SKILL,
                                  channel="web", customer="cust-rollover")
        handle = await start_conversation(self.client, start, self.task_queue)
        view = await self.until(handle, lambda v: v["status"] == "offered" and v.get("handler_account"))
        agent = view["offer"]["agent"]
        await send_command(self.client, start.conversation_id, "accept", {"agent": agent})
        await send_command(self.client, start.conversation_id, "close", {"by": agent, "reason": "bench"})
        view = await handle.result()
        return ModeRun("backup, window closes (1 s)", view.get("rollover_mode") or "?", _where(view),
                       History.of([await history_of(self.client, handle.id)]))

    async def until(self, handle: WorkflowHandle, ok: Any) -> dict[str, Any]:
        deadline = time.perf_counter() + OFFER_WAIT
        while not ok(view := await handle.query("state")):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{handle.id}: not there within {OFFER_WAIT:g}s: {view.get('status')}")
            await asyncio.sleep(POLL * 4)
        return view


def _where(view: dict[str, Any]) -> str:
    return (f"handler {view['handler_account']}/{view['handler_skill']}" if view.get("handler_account")
            else f"owner {view['account']}/{view['skill']}")


