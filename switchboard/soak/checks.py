"""What a fault soak measures, and how it prints it.

The store is read with plain SQL on ``agents`` and ``holds`` only; conversations through Temporal
(describe, result, history). Each failed check names the conversations (or agents) behind it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from switchboard.soak.load import BOUND, CALL_ERRORS, RPC, Load, Tracked, bounded, until
from switchboard.soak.tables import StoreReader

MAX_RUNS = 20  # continue-as-new runs followed back per conversation
CHECKS_AT_ONCE = 8
SHOWN = 20  # failures listed per check


@dataclass
class Figures:
    """Every check: what failed, by conversation (or agent) id, with a detail."""

    started: int = 0
    lost: dict[str, str] = field(default_factory=dict)
    stuck: dict[str, str] = field(default_factory=dict)
    assigned_twice: dict[str, str] = field(default_factory=dict)
    over_capacity: dict[str, str] = field(default_factory=dict)  # "t+12.5s ana": an agent above capacity
    load_not_holds: dict[str, str] = field(default_factory=dict)
    failed_tasks: dict[str, list[str]] = field(default_factory=dict)
    info: Counter[str] = field(default_factory=Counter)

    def table(self) -> list[tuple[str, int]]:
        nondeterminism = [m for messages in self.failed_tasks.values() for m in messages if _nondeterminism(m)]
        return [("conversations lost", len(self.lost)), ("conversations stuck", len(self.stuck)),
                ("conversations assigned twice", len(self.assigned_twice)),
                ("agent load above capacity (samples)", len(self.over_capacity)),
                ("agents whose load != live holds at the end", len(self.load_not_holds)),
                ("failed workflow tasks", sum(len(m) for m in self.failed_tasks.values())),
                ("nondeterminism errors", len(nondeterminism))]

    @property
    def ok(self) -> bool:
        return all(value == 0 for _, value in self.table())

    def report(self, title: str) -> str:
        lines = [title, f"  {'conversations started':<44}{self.started:>6}"]
        lines += [f"  {name:<44}{value:>6}" for name, value in self.table()]
        for name, failures in (("lost", self.lost), ("stuck", self.stuck), ("assigned twice", self.assigned_twice),
                               ("load != live holds", self.load_not_holds),
                               ("failed workflow tasks", {k: "; ".join(v) for k, v in self.failed_tasks.items()}),
                               ("above capacity", self.over_capacity)):
            for key, detail in list(failures.items())[:SHOWN]:
                lines.append(f"  FAIL {name}: {key}: {detail}")
            if len(failures) > SHOWN:
                lines.append(f"  FAIL {name}: ... and {len(failures) - SHOWN} more")
        causes = Counter(m.split(":", 1)[0] for messages in self.failed_tasks.values() for m in messages)
        lines += [f"  (failed workflow tasks with cause {cause}: {n})" for cause, n in sorted(causes.items())]
        lines += [f"  ({key}: {value})" for key, value in sorted(self.info.items())]
        return "\n".join(lines)


def _nondeterminism(message: str) -> bool:
    return message.startswith("NON_DETERMINISTIC_ERROR") or "nondetermin" in message.lower()


async def settle(client: Client, load: Load, idle: float, cap: float) -> None:
    """Wait for every started conversation's workflow to end (the release runs after the close),
    as long as some do (see ``until``)."""
    waiting, gate = [c for c in load.conversations if c.started], asyncio.Semaphore(CHECKS_AT_ONCE)

    async def still_running(c: Tracked) -> bool:
        try:
            async with gate:
                description = await bounded(client.get_workflow_handle(c.workflow_id).describe(rpc_timeout=RPC))
        except CALL_ERRORS:
            return True
        return description.status == WorkflowExecutionStatus.RUNNING

    async def look() -> None:
        nonlocal waiting
        while waiting:
            running = await asyncio.gather(*(still_running(c) for c in waiting))
            waiting = [c for c, yes in zip(waiting, running) if yes]
            await asyncio.sleep(1.0)

    watcher = asyncio.create_task(look())
    try:
        await until(lambda: len(waiting), idle, cap)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def final(client: Client, load: Load, store: StoreReader, figures: Figures) -> None:
    """The end checks: every conversation's run, timeline and history; then load against holds."""
    figures.started = sum(c.started for c in load.conversations)
    figures.info.update(load.tally)
    gate = asyncio.Semaphore(CHECKS_AT_ONCE)
    running: set[str] = set()

    async def check(c: Tracked) -> None:
        async with gate:
            try:
                if await _check_conversation(client, c, figures):
                    running.add(c.id)
            except CALL_ERRORS as error:  # Temporal would not say: that is a finding too
                figures.stuck[c.id] = f"could not be checked: {type(error).__name__}: {error}"
                running.add(c.id)

    await asyncio.gather(*(check(c) for c in load.conversations))
    holds = await store.holds()
    for row in await store.agents():
        mine = [h.conversation_id for h in holds if h.agent_id == row.id]
        live = [cid for cid in mine if cid in running]
        if row.load != len(live) or len(mine) != len(live):
            figures.load_not_holds[row.id] = (f"load {row.load}, live holds {len(live)}, hold rows {len(mine)}"
                                              f" ({', '.join(mine[:5])})")


async def _check_conversation(client: Client, c: Tracked, figures: Figures) -> bool:
    """Checks one conversation; True when its workflow is still running."""
    handle = client.get_workflow_handle(c.workflow_id)
    try:
        description = await _retried(lambda: handle.describe(rpc_timeout=RPC))
        status = description.status
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        if c.started:
            figures.lost[c.id] = "started, but no workflow has this id"
        else:
            figures.info["starts never confirmed (and no workflow)"] += 1
        return False
    if not c.started:
        figures.info["starts not confirmed, workflow found"] += 1
    view = c.view
    if status == WorkflowExecutionStatus.COMPLETED:
        view = await _retried(lambda: handle.result(rpc_timeout=RPC))
        if view.get("status") != "closed":
            figures.stuck[c.id] = f"completed with status {view.get('status')!r}"
    elif status == WorkflowExecutionStatus.RUNNING:
        pending = description.raw_description.pending_workflow_task
        figures.stuck[c.id] = (f"still running after the drain; last state read: {(view or {}).get('status')!r};"
                               f" {description.history_length} events"
                               + (f", a workflow task pending since attempt {pending.attempt}"
                                  if pending.attempt else ", no workflow task pending"))
    else:
        figures.stuck[c.id] = f"ended {status.name if status else status}, not closed"
    twice = assigned_twice(c, view)
    if twice:
        figures.assigned_twice[c.id] = twice
    failures, counts = await _failed_tasks(client, c.workflow_id)
    if failures:
        figures.failed_tasks[c.id] = failures
    figures.info.update(counts)
    return status == WorkflowExecutionStatus.RUNNING


def assigned_twice(c: Tracked, view: dict[str, Any] | None) -> str | None:
    """The soak moves nothing (no transfer, rollback, hero), so one assignment per conversation."""
    if len(c.accepted_by) > 1:
        return f"accept succeeded for {sorted(c.accepted_by)}"
    if len(c.assignees) > 1:
        return f"state reads showed assignees {sorted(c.assignees)}"
    taken = [(e.get("kind"), e.get("agent")) for e in (view or {}).get("timeline", [])
             if e.get("kind") in ("accepted", "assigned")]
    return f"timeline has {taken}" if len(taken) > 1 else None


# A signal (a queue's wake-up) that lands while the task completing the workflow runs: the server
# refuses that completion so the signal is not lost, and the next task completes it. No workflow
# code failed and nothing is retried by hand; it is counted, not failed.
LATE_SIGNAL = "completions the server retried for a late signal (UNHANDLED_COMMAND)"


async def _failed_tasks(client: Client, workflow_id: str) -> tuple[list[str], Counter[str]]:
    """``WorkflowTaskFailed`` events of every run (cause: message), and counts of other events
    worth a look: timed-out tasks (expected after a kill) and signals (wake-ups)."""
    failures: list[str] = []
    counts: Counter[str] = Counter()
    run_id: str | None = None
    for _ in range(MAX_RUNS):
        history = await _retried(lambda: client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history(
            rpc_timeout=RPC))
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failed = event.workflow_task_failed_event_attributes
                cause = WorkflowTaskFailedCause.Name(failed.cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
                if cause == "UNHANDLED_COMMAND":  # the server's own retry, see LATE_SIGNAL
                    counts[LATE_SIGNAL] += 1
                else:
                    failures.append(f"{cause}: {failed.failure.message[:200]}")
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                counts["workflow task timeouts (expected after a kill)"] += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                counts[f"signals received: {event.workflow_execution_signaled_event_attributes.signal_name}"] += 1
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            break
    return failures, counts


async def _retried(call, tries: int = 5) -> Any:
    """The checks run after the faults, yet a server still settling may drop a call: try again."""
    for attempt in range(tries):
        try:
            return await bounded(call())
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND or attempt == tries - 1:
                raise
        except CALL_ERRORS:
            if attempt == tries - 1:
                raise
        await asyncio.sleep(BOUND / 5)
