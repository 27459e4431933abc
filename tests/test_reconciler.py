"""SPEC R8.1: a conversation that ends any way (terminated, cancelled, timed out, failed) gives back
its holds and queue place within a bounded time, by the reconciler that runs on Temporal itself.

On the dev server: the time-skipping server does not run schedules.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update
from temporalio.client import Client, ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import Stack
from routing.directory import SkillRef
from routing.model import StartConversation
from store import Store, books, presence
from store import schema as t
from workflows.conversation import workflow_id

DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    skills:
      - id: sales
    agents:
      - {id: ann, skills: [sales], capacity: 1, status: online}
"""
SALES = SkillRef(account="acme", skill="sales")


@pytest.fixture
async def acme(stack: Stack) -> Stack:
    await stack.load(DIRECTORY)
    return stack


async def sweep(stack: Stack, **sweep_input: object) -> dict:
    """One run of the Reconciler workflow on the stack's worker, as the schedule starts it."""
    return await stack.client.execute_workflow(
        "Reconciler", args=[sweep_input] if sweep_input else [], id=f"reconciler-{uuid.uuid4().hex[:8]}",
        task_queue=stack.task_queue, execution_timeout=timedelta(seconds=30))


async def ended(handle: WorkflowHandle, status: WorkflowExecutionStatus) -> None:
    for _ in range(200):
        if (await handle.describe()).status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} is not {status.name}")


async def load_of(store: Store, agent: str) -> int:
    return next(r.load for r in await presence.load_summary(store) if r.id == agent)


async def held_by(store: Store, agent: str) -> list[str]:
    return [h.conversation_id for h in await presence.holds_of(store, agent)]


async def closed_at(store: Store, conversation_id: str):
    async with store.engine.connect() as conn:
        return (await conn.execute(select(t.conversations.c.closed_at).where(
            t.conversations.c.conversation_id == conversation_id))).scalar_one()


# Ids whose order differs between collations ("C" puts "c-b" before "ca", en_US after).
IDS = ["c-b", "ca", "c_a", "C-1", "c-10", "c-9", "cb", "c.a", "c-a", "Ca"]


async def check_r8_1_the_books_page_through_every_open_conversation_once(url: str) -> None:
    store = await Store.open(url)
    at = datetime(2026, 1, 5, tzinfo=timezone.utc)
    try:
        async with store.transaction() as conn:
            await conn.execute(insert(t.conversations), [
                {"conversation_id": c, "workflow_id": workflow_id(c), "first_run_id": "r", "account_id": "acme",
                 "skill_id": "sales", "step": 1, "started_at": at, "closed_at": at if n % 3 == 0 else None}
                for n, c in enumerate(IDS)])
            await conn.execute(insert(t.queue).values(  # a queue place left behind by closed books
                conversation_id=IDS[3], workflow_id=workflow_id(IDS[3]), account_id="acme", skill_id="sales",
                priority=0, waiting_since=at, step=1, outcome={}))
        seen, after = [], None
        while page := await books.open_conversations(store, after=after, limit=3):
            assert len(page) <= 3
            seen += [c for c, _ in page]
            after = page[-1][0]
        assert sorted(seen) == sorted(c for n, c in enumerate(IDS) if n % 3 or n == 3)  # each once
    finally:
        await store.close()


async def test_r8_1_the_books_page_through_every_open_conversation_once(tmp_path) -> None:
    await check_r8_1_the_books_page_through_every_open_conversation_once(
        f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}")


async def test_r8_1_a_terminated_conversation_gives_back_its_slot_within_a_bounded_time(acme):
    first = await acme.start("acme", "sales")
    await acme.offered(first, "ann")
    waiting = await acme.start("acme", "sales")
    await acme.wait_for(waiting, lambda v: v["status"] == "queued")  # ann has capacity 1
    await first.terminate("stuck")
    await ended(first, WorkflowExecutionStatus.TERMINATED)
    assert await held_by(acme.store, "ann") == [acme.started[0]]  # nothing else gives it back

    counts = await sweep(acme)
    assert counts["checked"] == 2 and counts["freed"] == 1 and counts["unknown"] == 0
    assert await closed_at(acme.store, acme.started[0]) is not None  # its books are closed: fenced
    # Woken by the sweep (the queue's own re-check is minutes away): the slot went to the next in line.
    await acme.offered(waiting, "ann")
    assert await held_by(acme.store, "ann") == [acme.started[1]]
    assert await load_of(acme.store, "ann") == 1
    assert await presence.queue_length(acme.store, SALES) == 0


async def test_r2_3_a_lost_wake_up_is_sent_again_by_the_reconcilers_sweep(acme):
    """Issue 14: a queued conversation's own safety net waits minutes, because the sweep wakes
    whoever an online agent has room for. Ann comes online in the store but the wake-up is lost
    (as if the worker died between the commit and the signal): the conversation stays queued
    until the next sweep, which offers it to her; a second sweep finds nothing to wake."""
    await acme.set_status("ann", "offline")
    handle = await acme.start("acme", "sales")
    await acme.wait_for(handle, lambda v: v["status"] == "queued")
    async with acme.store.transaction() as conn:  # online, and no wake-up sent
        await conn.execute(update(t.agents).where(t.agents.c.id == "ann").values(status="online"))
    await asyncio.sleep(0.5)
    assert (await acme.state(handle))["status"] == "queued", "nobody told it"
    counts = await sweep(acme)
    assert counts["woken"] == 1 and counts["freed"] == 0
    await acme.offered(handle, "ann")
    assert (await sweep(acme))["woken"] == 0, "ann has no room left, and nobody else waits"


async def test_r8_1_a_cancelled_conversation_gives_back_its_slot(acme):
    handle = await acme.start("acme", "sales")
    await acme.offered(handle, "ann")
    await handle.cancel()
    await ended(handle, WorkflowExecutionStatus.CANCELED)
    counts = await sweep(acme)
    assert counts["freed"] == 1
    assert await load_of(acme.store, "ann") == 0 and await held_by(acme.store, "ann") == []
    assert (await sweep(acme))["freed"] == 0  # idempotent: nothing left to free


async def test_r8_1_a_queued_conversation_that_timed_out_gives_back_its_queue_place(acme):
    await acme.set_status("ann", "offline")
    conversation_id = f"t-{uuid.uuid4().hex[:12]}"
    start = StartConversation(conversation_id=conversation_id, account="acme", skill="sales", channel="web",
                              customer="cust-1")
    handle = await acme.client.start_workflow(
        "Conversation", args=[start.model_dump(mode="json")], id=workflow_id(conversation_id),
        task_queue=acme.task_queue, execution_timeout=timedelta(seconds=2))
    await acme.wait_for(handle, lambda v: v["status"] == "queued")
    await ended(handle, WorkflowExecutionStatus.TIMED_OUT)
    assert await presence.queue_length(acme.store, SALES) == 1
    assert (await sweep(acme))["freed"] == 1
    assert await presence.queue_length(acme.store, SALES) == 0


async def test_r8_1_running_conversations_keep_their_slot_and_queue_place(acme):
    offered = await acme.start("acme", "sales")
    await acme.offered(offered, "ann")
    queued = await acme.start("acme", "sales")
    await acme.wait_for(queued, lambda v: v["status"] == "queued")
    counts = await sweep(acme, limit=1)  # one conversation per page: the sweep pages through both
    assert counts == {"checked": 2, "freed": 0, "unknown": 0, "woken": 0, "next": None}
    assert (await acme.state(offered))["status"] == "offered"
    assert await held_by(acme.store, "ann") == [acme.started[0]]
    assert await presence.queue_length(acme.store, SALES) == 1


async def test_r8_1_a_long_sweep_continues_as_new_and_frees_books_whose_workflow_is_gone(acme):
    """More pages than one run takes (``PAGES_PER_RUN``): the sweep carries on in a new run. The
    workflows were never started here (or are past retention): NOT_FOUND is an end too."""
    from workflows.reconciler import PAGES_PER_RUN

    gone = [f"gone-{n:03}" for n in range(PAGES_PER_RUN + 1)]
    at = datetime.now(timezone.utc)
    async with acme.store.transaction() as conn:
        await conn.execute(insert(t.conversations), [
            {"conversation_id": c, "workflow_id": workflow_id(c), "first_run_id": "r", "account_id": "acme",
             "skill_id": "sales", "step": 1, "started_at": at} for c in gone])
    handle = await acme.client.start_workflow("Reconciler", args=[{"limit": 1}],
                                              id=f"reconciler-{uuid.uuid4().hex[:8]}", task_queue=acme.task_queue)
    counts = await handle.result()
    assert (counts["checked"], counts["freed"]) == (len(gone), len(gone))
    latest = await acme.client.get_workflow_handle(handle.id).describe()
    assert latest.run_id != handle.first_execution_run_id  # it continued as new
    assert all([await closed_at(acme.store, c) for c in gone])


class _Unreachable:
    """A Temporal client whose server is away: every describe fails with UNAVAILABLE."""

    def get_workflow_handle(self, workflow_id: str) -> _Unreachable:
        return self

    async def describe(self, **_: object) -> None:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


async def test_r8_1_a_conversation_whose_workflow_cannot_be_described_is_left_for_the_next_round(acme):
    from activities.reconcile import ReconcileActivities
    from workflows.reconciler import Reconciler

    handle = await acme.start("acme", "sales")
    await acme.offered(handle, "ann")
    await handle.terminate("stuck")
    blind = Stack(client=acme.client, store=acme.store, task_queue=f"tq-{uuid.uuid4().hex[:10]}")
    reconcile = ReconcileActivities(acme.store, _Unreachable())
    async with Worker(acme.client, task_queue=blind.task_queue, workflows=[Reconciler],
                      activities=[reconcile.reconcile, reconcile.wake_waiting]):
        counts = await sweep(blind)
    assert (counts["checked"], counts["freed"], counts["unknown"]) == (1, 0, 1)
    assert await load_of(acme.store, "ann") == 1  # not freed on a guess
    assert (await sweep(acme))["freed"] == 1  # the next round, with the server back, frees it
    assert await load_of(acme.store, "ann") == 0


# --- the schedule -----------------------------------------------------------------------------------


def _settings(client: Client, task_queue: str, database_url: str):
    from service.config import Settings

    return Settings(temporal_address=client.service_client.config.target_host, namespace=client.namespace,
                    task_queue=task_queue, database_url=database_url, directory=None)


async def _schedule_of(client: Client, task_queue: str):
    from service.reconciler import schedule_id

    for _ in range(200):
        try:
            return await client.get_schedule_handle(schedule_id(task_queue)).describe()
        except RPCError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"no reconciler schedule for task queue {task_queue!r}")


async def test_r8_1_the_worker_schedules_the_reconciler_which_frees_a_terminated_conversation_by_itself(
        dev_env: Client, tmp_path, monkeypatch):
    from service.reconciler import schedule_id
    from worker import run_worker

    url = f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    store = await Store.open(url)
    stack = Stack(client=dev_env, store=store, task_queue=f"tq-{uuid.uuid4().hex[:10]}")
    await stack.load(DIRECTORY)
    monkeypatch.setenv("SWITCHBOARD_RECONCILE_EVERY", "2s")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(_settings(dev_env, stack.task_queue, url), stop=stop))
    try:
        described = await _schedule_of(dev_env, stack.task_queue)
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(seconds=2)]
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        handle = await stack.start("acme", "sales")
        await stack.offered(handle, "ann")
        await handle.terminate("stuck")
        loop = asyncio.get_running_loop()
        terminated = loop.time()
        while await load_of(store, "ann") != 0:
            assert loop.time() - terminated < 2 + 10, "not freed within the interval (and slack)"
            await asyncio.sleep(0.05)
        print(f"terminate to freed: {loop.time() - terminated:.2f}s with a 2s schedule")
        assert await held_by(store, "ann") == []
    finally:
        stop.set()
        await worker
        await dev_env.get_schedule_handle(schedule_id(stack.task_queue)).delete()
        await store.close()


async def test_r8_1_scheduling_the_reconciler_again_updates_it_and_keeps_an_operator_pause(dev_env: Client):
    from service.reconciler import schedule_id, schedule_reconciler

    task_queue = f"tq-{uuid.uuid4().hex[:10]}"
    await schedule_reconciler(dev_env, task_queue, every=timedelta(minutes=1))
    schedule = dev_env.get_schedule_handle(schedule_id(task_queue))
    try:
        await schedule.pause(note="operator: investigating")
        await schedule_reconciler(dev_env, task_queue, every=timedelta(seconds=30))  # a restart, new interval
        described = await schedule.describe()
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(seconds=30)]
        assert described.schedule.state.paused
    finally:
        await schedule.delete()


async def test_r8_1_a_server_without_schedules_does_not_stop_the_worker(ts_env):
    from service.reconciler import schedule_reconciler

    # The time-skipping test server has no schedules: the worker logs it and runs on.
    assert await schedule_reconciler(ts_env.client, f"tq-{uuid.uuid4().hex[:10]}",
                                     every=timedelta(minutes=1)) is None


@pytest.mark.parametrize("value", ["soon", "0", "-5s", "0.5s", "2h", "1e3"])
def test_r8_1_a_bad_reconcile_interval_is_refused_naming_the_variable(value):
    from service.config import reconcile_every

    with pytest.raises(RuntimeError, match=r"SWITCHBOARD_RECONCILE_EVERY"):
        reconcile_every({"SWITCHBOARD_RECONCILE_EVERY": value})


def test_r8_1_the_reconcile_interval_defaults_to_a_minute():
    from service.config import reconcile_every

    assert reconcile_every({}) == timedelta(minutes=1)
    assert reconcile_every({"SWITCHBOARD_RECONCILE_EVERY": "15s"}) == timedelta(seconds=15)


def test_r8_1_switchboard_worker_refuses_a_bad_interval_naming_the_variable():
    from click.testing import CliRunner

    from switchboard.cli import main

    result = CliRunner().invoke(main, ["worker"], env={"SWITCHBOARD_RECONCILE_EVERY": "soon"})
    assert result.exit_code == 1
    assert "SWITCHBOARD_RECONCILE_EVERY: 'soon' is not a duration" in result.output
