"""``switchboard simulate --live``: what routing on Temporal costs the customer (issue 13, item 5).

A slice of the simulated day (the first N conversations of its busiest hour) runs twice, on the
same instants: through the real engine (an in-memory Temporal dev server, the worker in this
process, a SQLite store with the directory) and through the pure simulation. Its traffic is
compressed ``speed`` times (arrivals, handle times, patience, answer times), but the engine's
timers (acceptance timeout, backup window, queue re-check) run in real seconds in both runs, so
the comparison is like for like: the live wait minus the simulated wait of the same conversation
is what the engine adds (its start, its routing step, the offer reaching the agent, the accept).

Simulated agents see offers as a workspace does (a ``holds`` row, polled) and answer through the
service layer (``service.conversations.command``: accept, decline, close); a customer who gives up
is closed by ``admin``. Agents keep their directory status (the traffic's shifts do not apply).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from routing.directory import Directory, SkillRef
from routing.model import StartConversation
from service import conversations
from service.config import Settings
from service.temporal import connect
from store import Store, directory as store_directory
from switchboard.devserver import free_port, start_dev_server, stop, wait_until_serving
from whatif.people import SimAgent
from whatif.report import p90
from whatif.conversation import Conversation
from whatif.sim import Simulation, skill_accept_timeout
from whatif.traffic import Answer, Traffic
from worker import build_worker

POLL = 0.01  # seconds between looks at the holds table (bench.py's agents poll the same way)
GRACE = 60.0  # seconds past the last expected close before unfinished conversations are counted


def compressed(traffic: Traffic, speed: float) -> Traffic:
    """The traffic ``speed`` times faster: rates up, durations down (not the directory's timers)."""
    def answer(a: Answer | None) -> Answer | None:
        return a if a is None or a.time is None else a.model_copy(update={"time": a.time.scaled(1 / speed)})
    streams = [s.model_copy(update={"handle": s.handle.scaled(1 / speed),
                                    "patience": s.patience.scaled(1 / speed) if s.patience else None})
               for s in traffic.streams]
    agents = [p.model_copy(update={"shift": None, "answer": answer(p.answer)}) for p in traffic.agents]
    return traffic.model_copy(update={"streams": streams, "agents": agents, "answer": answer(traffic.answer)})


def pick(day: list[Conversation], count: int, speed: float) -> list[Conversation]:
    """The first ``count`` conversations of the busiest hour, times from its first arrival, compressed."""
    hours: dict[int, int] = {}
    for c in day:
        hours[int(c.arrived // 3600)] = hours.get(int(c.arrived // 3600), 0) + 1
    busiest = max(hours, key=lambda h: (hours[h], -h)) if hours else 0
    chosen = sorted((c for c in day if c.arrived >= busiest * 3600), key=lambda c: c.arrived)[:count]
    first = chosen[0].arrived if chosen else 0.0
    return [replace(c, arrived=(c.arrived - first) / speed, handle=c.handle / speed,
                    patience=None if c.patience is None else c.patience / speed) for c in chosen]


def fresh(sim: Simulation, chosen: list[Conversation]) -> list[Conversation]:
    """The chosen conversations as new arrivals of ``sim`` (its clock gives their instants)."""
    return [Conversation(id=c.id, stream=c.stream, owner=c.owner, arrived=c.arrived, arrived_at=sim.now(c.arrived),
                         customer=c.customer, handle=c.handle, hero=c.hero, patience=c.patience) for c in chosen]


@dataclass
class Seen:
    """One conversation in the live run, in seconds after its arrival."""

    offered: float | None = None
    answered: float | None = None
    abandoned: float | None = None
    ended: bool = False  # closed by its agent or by the customer (or refused: closed already)


class LiveRun:
    """The live slice: starts at the arrival instants, agents answering, customers giving up."""

    def __init__(self, client: Client, task_queue: str, db_file: Path, sim: Simulation,
                 chosen: list[Conversation], epoch: float, run: str) -> None:
        self.client, self.task_queue, self.db_file, self.sim = client, task_queue, db_file, sim
        self.chosen, self.epoch, self.run = chosen, epoch, run
        self.seen = {c.id: Seen() for c in chosen}
        self.by_live_id = {self.live_id(c): c for c in chosen}
        self.tasks: set[asyncio.Task] = set()
        self.early = 0  # answers refused because the workflow had not taken the offer in yet, tried again

    def live_id(self, c: Conversation) -> str:
        return f"whatif-{self.run}-{c.id}"

    async def drive(self) -> None:
        watcher = asyncio.create_task(self._watch_offers())
        try:
            async with asyncio.TaskGroup() as group:
                for c in self.chosen:
                    group.create_task(self._customer(c))
            deadline = time.time() + GRACE
            while time.time() < deadline and not all(s.ended for s in self.seen.values()):
                await asyncio.sleep(0.1)
        finally:
            watcher.cancel()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(watcher, *self.tasks, return_exceptions=True)

    def _since(self, c: Conversation) -> float:
        return time.time() - (self.epoch + c.arrived)

    async def _customer(self, c: Conversation) -> None:
        await asyncio.sleep(max(self.epoch + c.arrived - time.time(), 0))
        await conversations.start(self.client, StartConversation(
            conversation_id=self.live_id(c), account=c.owner.account, skill=c.owner.skill, channel=c.stream.channel,
            customer=c.customer, priority=c.stream.priority), self.task_queue)
        if c.patience is not None:
            await asyncio.sleep(max(self.epoch + c.arrived + c.patience - time.time(), 0))
            seen = self.seen[c.id]
            if seen.answered is None:
                at = self._since(c)
                if await self._command(c, "close", {"by": "admin", "reason": "gave up"}):
                    seen.ended = True
                    if seen.answered is None:  # an accept racing the close may have won
                        seen.abandoned = at

    async def _command(self, c: Conversation, name: str, body: dict[str, Any], *, until: float = 0.0) -> bool:
        """Send a command; False when the engine refuses it (expired, withdrawn, closed). Until
        ``until``, an answer to an offer the workflow has not taken in yet is tried again: the hold
        row commits inside the routing activity, a moment before the workflow has its result."""
        while True:
            try:
                await conversations.command(self.client, self.live_id(c), name, body)
                return True
            except RPCError:  # the conversation closed (the customer gave up) while this was on its way
                return False
            except WorkflowUpdateFailedError as failed:
                cause = failed.cause
                if not (isinstance(cause, ApplicationError) and cause.type == "NoOffer") or time.time() > until:
                    return False
            self.early += 1
            await asyncio.sleep(POLL)

    async def _watch_offers(self) -> None:
        db = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True, isolation_level=None)
        known: set[tuple[str, int]] = set()
        try:
            while True:
                for cid, agent, account, skill, step, outcome in db.execute(
                        "SELECT conversation_id, agent_id, account_id, skill_id, step, outcome FROM holds").fetchall():
                    c = self.by_live_id.get(cid)
                    if c is None or (cid, step) in known:
                        continue
                    known.add((cid, step))
                    timeout = skill_accept_timeout(self.sim, SkillRef(account=account, skill=skill))
                    task = asyncio.create_task(self._agent(c, self.sim.agents[agent], timeout,
                                                           bool(json.loads(outcome).get("assigned"))))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                await asyncio.sleep(POLL)
        finally:
            db.close()

    async def _agent(self, c: Conversation, agent: SimAgent, timeout: float, assigned: bool) -> None:
        seen = self.seen[c.id]
        if seen.offered is None:
            seen.offered = self._since(c)
        if not assigned:
            answer, after = agent.respond(timeout)
            if answer == "expire":
                return
            await asyncio.sleep(after)
            until = time.time() + timeout - after
            if answer == "decline":
                await self._command(c, "decline", {"agent": agent.id}, until=until)
                return
            if not await self._command(c, "accept", {"agent": agent.id}, until=until):
                return
        seen.answered = self._since(c)
        await asyncio.sleep(c.handle)
        await self._command(c, "close", {"by": agent.id})
        seen.ended = True


async def run_live(directory: Directory, traffic: Traffic, *, count: int, speed: float,
                   seed: int | None = None) -> dict[str, Any]:
    """The live slice and its pure twin; the engine's added wait per conversation answered in both."""
    fast = compressed(traffic, speed)
    chosen = pick(Simulation(directory, traffic, seed=seed).arrivals(), count, speed)
    with tempfile.TemporaryDirectory(prefix="switchboard-whatif-") as tmp:
        db_file = Path(tmp) / "switchboard.db"
        port = free_port()
        server = start_dev_server(port=port, ui_port=None, db_file=None, die_with_parent=True)
        store = None
        try:
            await wait_until_serving(port, server)
            store = await Store.open(f"sqlite+aiosqlite:///{db_file}")
            await store_directory.save(store, directory)
            settings = Settings(temporal_address=f"127.0.0.1:{port}", namespace="default",
                                task_queue=f"whatif-{uuid.uuid4().hex[:8]}", database_url=None, directory=None)
            client = await connect(settings)
            async with build_worker(client, store, settings.task_queue):
                epoch = time.time() + 1.0
                agents = Simulation(directory, fast, seed=seed, epoch=epoch)  # its agents answer live
                live = LiveRun(client, settings.task_queue, db_file, agents, chosen, epoch, uuid.uuid4().hex[:6])
                await live.drive()
        finally:
            if store is not None:
                await store.close()
            stop(server)
    twin = Simulation(directory, fast, seed=seed, epoch=epoch)
    pure = {c.id: c for c in twin.run(fresh(twin, chosen))}
    return {**_compare(chosen, live.seen, pure, speed), "early_answers_retried": live.early}


def _compare(chosen: list[Conversation], seen: dict[str, Seen], pure: dict[str, Conversation],
             speed: float) -> dict[str, Any]:
    both = [(live, simulated) for c in chosen
            if (live := seen[c.id].answered) is not None and (simulated := pure[c.id].wait) is not None]
    added = [live - simulated for live, simulated in both]
    offered = [at for c in chosen if (at := seen[c.id].offered) is not None]

    def stat(values: list[float], f) -> float | None:
        return round(f(values), 3) if values else None

    return {
        "conversations": len(chosen), "speed": speed,
        "answered_live": sum(1 for s in seen.values() if s.answered is not None),
        "answered_simulated": sum(1 for c in pure.values() if c.answered is not None),
        "abandoned_live": sum(1 for s in seen.values() if s.abandoned is not None),
        "abandoned_simulated": sum(1 for c in pure.values() if c.abandoned is not None),
        "compared": len(both),
        "mean_wait_live_s": stat([b[0] for b in both], statistics.fmean),
        "mean_wait_simulated_s": stat([b[1] for b in both], statistics.fmean),
        "engine_added_wait_s": {"mean": stat(added, statistics.fmean), "median": stat(added, statistics.median),
                                "p90": stat(added, p90)},
        "start_to_offer_s": {"mean": stat(offered, statistics.fmean), "p90": stat(offered, p90)},
    }


def describe(live: dict[str, Any]) -> str:
    added, offer = live["engine_added_wait_s"], live["start_to_offer_s"]
    return (f"\nLive: {live['conversations']} conversations of the busiest hour, {live['speed']:g}x compressed, "
            f"through Temporal, the worker and the store\n"
            f"  answered live {live['answered_live']}, simulated {live['answered_simulated']}; abandoned live "
            f"{live['abandoned_live']}, simulated {live['abandoned_simulated']}\n"
            f"  mean wait of the {live['compared']} answered in both: live {live['mean_wait_live_s']}s, "
            f"simulated {live['mean_wait_simulated_s']}s\n"
            f"  engine's added wait: mean {added['mean']}s, median {added['median']}s, p90 {added['p90']}s; "
            f"start to offer: mean {offer['mean']}s, p90 {offer['p90']}s\n"
            f"  answers tried again because the workflow had not taken the offer in yet: "
            f"{live['early_answers_retried']}\n")
