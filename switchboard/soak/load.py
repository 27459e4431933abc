"""The load of a fault soak, through the public contract only (CONTRACT "Temporal").

Conversations start at a steady rate. Simulated agents work as the gateway's agent feed does:
every 0.5 s they read the ``holds`` table and the ``state`` query of each conversation held (the
others are read every 5 s), and answer an offer made to them: accept (most), decline (some) or let
it expire (the rest). An assignee closes after a short random time.
In the drain nobody takes new work: what is assigned is closed by its assignee, the rest by the
owner's manager.

Nothing here may crash on the faults the soak injects: every call has a hard time bound, and a
call that fails is simply tried again on a later turn.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import (Client, WorkflowQueryFailedError, WorkflowQueryRejectedError,
                               WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from switchboard.soak.tables import StoreReader

ACCOUNT, MANAGER = "soak", "lead"
SKILLS = ("chat", "billing")
# id -> (capacity, skills); all online. 23 places for ~2.5 arrivals/s that last ~4 s each: room
# to catch up after a fault, so that what stays queued is the engine's doing, not the load's.
AGENTS = {"ana": (3, SKILLS), "ben": (2, SKILLS), "cyd": (1, SKILLS), "dee": (3, ("chat",)),
          "eli": (2, ("chat",)), "fay": (1, ("chat",)), "gus": (3, ("billing",)), "hal": (2, ("billing",)),
          "ivy": (3, SKILLS), "jon": (3, SKILLS)}
ACCEPT_TIMEOUT = "3s"

POLL = 0.5  # seconds between two reads of a held conversation's state (gateway/events.py)
SLOW_POLL = 5.0  # and of one that nobody holds (queued, routing)
RPC = timedelta(seconds=3)  # each call's own timeout
BOUND = 5.0  # and the hard bound around it, retries of the client included
LOOKS_AT_ONCE = 16
ACCEPT, DECLINE = 0.7, 0.15  # shares of offers accepted and declined; the rest expire
THINK = (0.1, 1.2)  # seconds an agent takes to answer an offer
HANDLE = (1.0, 4.0)  # seconds an assignee keeps a conversation
START_PATIENCE = 60.0  # seconds a start is retried before it counts as not started
CLOSE_PATIENCE = 30.0  # seconds a close is retried before the drain sends it again

CALL_ERRORS = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowQueryFailedError,
               WorkflowQueryRejectedError, asyncio.TimeoutError)


def directory_yaml() -> str:
    """The soak's directory file: one account, two skills, always open, no rollover."""
    skills = "".join(f"      - {{id: {s}, accept_timeout: {ACCEPT_TIMEOUT}, rollover: null}}\n" for s in SKILLS)
    agents = "".join(f"      - {{id: {a}, skills: [{', '.join(s)}], capacity: {c}, status: online}}\n"
                     for a, (c, s) in AGENTS.items())
    return (f"accounts:\n  - id: {ACCOUNT}\n    brand: {{name: Soak}}\n    timezone: UTC\n    skills:\n{skills}"
            f"    agents:\n{agents}      - {{id: {MANAGER}, role: manager, skills: [{SKILLS[0]}]}}\n")


@dataclass
class Tracked:
    """One conversation as the soak saw it."""

    id: str
    input: dict[str, Any]
    started: bool = False  # the server confirmed the start
    view: dict[str, Any] | None = None  # the last ``state`` read
    read_at: float = 0.0  # loop time of that read
    done: bool = False  # seen closed
    answered: set[tuple[str, str]] = field(default_factory=set)  # offers (agent, expires_at) decided
    accepted_by: set[str] = field(default_factory=set)  # agents whose accept succeeded
    assignees: set[str] = field(default_factory=set)  # every assignee a state read showed
    closing: bool = False  # a close is being sent

    @property
    def workflow_id(self) -> str:
        return f"conversation-{self.id}"


async def bounded(call: Awaitable[Any]) -> Any:
    """The call within BOUND seconds. The client reports a call cut short by a cancellation as an
    RPC error (CANCELLED, or an update's RPC timeout): a cancelled soak must not retry it."""
    try:
        async with asyncio.timeout(BOUND):
            return await call
    except Exception:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None
        raise


class Load:
    def __init__(self, client: Client, task_queue: str, store: StoreReader, rng: random.Random, count: int,
                 run: str) -> None:
        self.client, self.task_queue, self.store, self.rng = client, task_queue, store, rng
        self.conversations = [self._new(f"soak-{run}-{i:04d}") for i in range(count)]
        self.tally: Counter[str] = Counter()
        self.draining = False
        self._tasks: set[asyncio.Task] = set()

    def _new(self, conversation_id: str) -> Tracked:
        return Tracked(conversation_id, {
            "conversation_id": conversation_id, "account": ACCOUNT, "skill": self.rng.choice(SKILLS),
            "channel": "web", "customer": f"cust-{self.rng.randrange(50)}", "first_message": "Hi",
            "priority": self.rng.choice((0, 0, 1)), "attributes": {}})

    def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- starting ----------------------------------------------------------------------------

    async def start_all(self, rate: float) -> None:
        """Start every conversation, one each 1/rate seconds; returns once each start is settled."""
        loop = asyncio.get_running_loop()
        begin = loop.time()
        starts = []
        try:
            for i, c in enumerate(self.conversations):
                await asyncio.sleep(max(0.0, begin + i / rate - loop.time()))
                starts.append(asyncio.create_task(self._start(c)))
            await asyncio.gather(*starts)
        finally:  # cancelled: so are the starts under way
            for task in starts:
                task.cancel()

    async def _start(self, c: Tracked) -> None:
        """Retried until confirmed: the conflict policy makes a repeat of a start that went through
        return the same run, and a start of a closed one is refused as already started."""
        deadline = asyncio.get_running_loop().time() + START_PATIENCE
        while asyncio.get_running_loop().time() < deadline:
            try:
                await bounded(self.client.start_workflow(
                    "Conversation", c.input, id=c.workflow_id, task_queue=self.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, rpc_timeout=RPC))
                c.started = True
                return
            except WorkflowAlreadyStartedError:
                c.started = True
                return
            except CALL_ERRORS:
                self.tally["start retried"] += 1
                await asyncio.sleep(1.0)

    # ---- agents ------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Read the state of what is held each POLL seconds, of the rest each SLOW_POLL (of all
        in the drain); runs until cancelled."""
        gate, loop = asyncio.Semaphore(LOOKS_AT_ONCE), asyncio.get_running_loop()

        async def look(c: Tracked) -> None:
            async with gate:
                try:
                    view = await bounded(self.client.get_workflow_handle(c.workflow_id).query("state", rpc_timeout=RPC))
                except CALL_ERRORS:
                    self.tally["state read failed"] += 1
                    return
            c.read_at = loop.time()
            self._observe(c, view)

        while True:
            try:
                held = {row.conversation_id for row in await self.store.holds()}
            except Exception as error:  # a busy database is not a finding of the soak: read all
                self.tally[f"holds read failed ({type(error).__name__})"] += 1
                held = {c.id for c in self.conversations}
            now = loop.time()
            await asyncio.gather(*(look(c) for c in self.conversations if c.started and not c.done and (
                self.draining or c.id in held or now - c.read_at >= SLOW_POLL)))
            await asyncio.sleep(POLL)

    def _observe(self, c: Tracked, view: dict[str, Any]) -> None:
        c.view, status, assignee, offer = view, view.get("status"), view.get("assignee"), view.get("offer")
        if assignee:
            c.assignees.add(assignee)
        if status == "closed":
            c.done = True
        elif self.draining:
            self._close(c, assignee if status == "assigned" and assignee else MANAGER, delay=0.0)
        elif status == "offered" and offer and (offer["agent"], offer["expires_at"]) not in c.answered:
            key = (offer["agent"], offer["expires_at"])
            c.answered.add(key)
            self.spawn(lambda: self._answer(c, key))
        elif status == "assigned" and assignee:
            self._close(c, assignee, delay=self.rng.uniform(*HANDLE))

    async def _answer(self, c: Tracked, key: tuple[str, str]) -> None:
        agent, roll = key[0], self.rng.random()
        if roll >= ACCEPT + DECLINE:
            self.tally["offers ignored"] += 1
            return
        verb = "accept" if roll < ACCEPT else "decline"
        await asyncio.sleep(self.rng.uniform(*THINK))
        body = {"agent": agent} if verb == "accept" else {"agent": agent, "reason": "busy"}
        outcome = await self._update(c, verb, body)
        if outcome == "done" and verb == "accept":
            c.accepted_by.add(agent)
        elif outcome == "retry":
            c.answered.discard(key)  # the offer may still stand: the next read decides again

    def _close(self, c: Tracked, by: str, *, delay: float) -> None:
        if c.closing:
            return
        c.closing = True

        async def close() -> None:
            await asyncio.sleep(delay)
            deadline = asyncio.get_running_loop().time() + CLOSE_PATIENCE
            try:
                while asyncio.get_running_loop().time() < deadline:
                    outcome = await self._update(c, "close", {"by": by, "reason": "resolved"})
                    if outcome == "done":
                        c.done = True
                        self.tally["closed by the manager"] += by == MANAGER
                    if outcome != "retry":
                        return
                    await asyncio.sleep(1.0)
            finally:
                c.closing = False  # a later read sends another close if this one did not land

        self.spawn(close)

    async def _update(self, c: Tracked, name: str, body: dict[str, Any]) -> str:
        """``done``, ``refused`` (the workflow said no: counted by type) or ``retry`` (no answer)."""
        try:
            await bounded(self.client.get_workflow_handle(c.workflow_id).execute_update(name, body, rpc_timeout=RPC))
        except WorkflowUpdateFailedError as refused:
            kind = getattr(refused.cause, "type", None) or type(refused.cause).__name__
            self.tally[f"{name} refused: {kind}"] += 1
            if kind == "ConversationClosed":
                c.done = True
            return "refused"
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:  # the run has ended: the checks will say how
                self.tally[f"{name}: workflow already ended"] += 1
                c.done = True
                return "refused"
            self.tally[f"{name} unanswered"] += 1
            return "retry"
        except CALL_ERRORS:
            self.tally[f"{name} unanswered"] += 1
            return "retry"
        self.tally[f"{name} done"] += 1
        return "done"

    # ---- drain -------------------------------------------------------------------------------

    async def wind_down(self, idle: float, cap: float) -> None:
        """No more starts: agents go on as before until everything is closed (see ``until``)."""
        await until(lambda: sum(c.started and not c.done for c in self.conversations), idle, cap)

    async def drain(self, idle: float, cap: float) -> None:
        """Close everything still open (the poll loop sends the closes; see ``until``)."""
        self.draining = True
        self.tally["open when the drain began"] += sum(c.started and not c.done for c in self.conversations)
        await until(lambda: sum(c.started and not c.done for c in self.conversations), idle, cap)


async def until(left: Callable[[], int], idle: float, cap: float, *, every: float = 0.5) -> None:
    """Until ``left()`` is 0, or it has not gone down for ``idle`` seconds, or ``cap`` seconds have
    passed: a busy machine gets time to catch up, a conversation that is really stuck does not."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    end, best, last_progress = now + cap, left(), now
    while best and loop.time() < end and loop.time() - last_progress < idle:
        await asyncio.sleep(every)
        if (now_left := left()) < best:
            best, last_progress = now_left, loop.time()
