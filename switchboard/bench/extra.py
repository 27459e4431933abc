"""The bench's longer runs: a long chain of transfers across continue-as-new, and many
conversations left open at once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from routing.model import StartConversation
from service.conversations import command as send_command
from service.conversations import start as start_conversation
from routing.directory import SkillRef
from store import Store, presence
from switchboard.bench.figures import Cpu, History, Latency, OpenRun, Transfers, percentile
from switchboard.bench.runs import OFFER_WAIT, UNLOADED_RUNS, WARM_UP, Bench
from switchboard.bench.world import DESK, OWNER, POLL, QUEUE, SKILL, at_concurrency, event_name, rss_mb
from service.runner import RUNNER
from routing.selection import recheck_after
from workflows.conversation import Conversation

REPLAYS = 9  # timed replays of the largest run, after one warm-up
IDLE_WINDOW = 10.0  # seconds the open conversations are watched doing nothing


async def transfers(bench: Bench, hops: int) -> Transfers:
    """Accepted, then ``hops`` transfers between two skills, each accepted, then closed; every run
    of it (continue-as-new) measured: bytes, the state it carried, and the replay of the largest."""
    conversation_id = f"bench-{bench.tag}-transfers"
    start = StartConversation(conversation_id=conversation_id, account=OWNER, skill=SKILL, channel="web",
                              customer="cust-transfers")
    handle = await start_conversation(bench.client, start, bench.task_queue)
    assignee, update_bytes = await _accept_offer(bench, handle)
    for hop in range(hops):
        await send_command(bench.client, conversation_id, "transfer",
                           {"by": assignee, "skill": DESK if hop % 2 == 0 else SKILL, "note": f"hop {hop}"})
        assignee, update_bytes = await _accept_offer(bench, handle)
    state_bytes = len(json.dumps(await handle.query("state")))
    await send_command(bench.client, conversation_id, "close", {"by": assignee, "reason": "bench"})
    await handle.result()
    counts, runs, largest, carried, run_id = [], 0, None, 0, handle.result_run_id
    while run_id:
        history = await bench.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        runs += 1
        counts.append(_types(history.events))
        size = sum(e.ByteSize() for e in history.events)
        if largest is None or size > largest[0]:
            largest = (size, history)
        last = history.events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            attrs = last.workflow_execution_continued_as_new_event_attributes
            carried = max(carried, max((len(p.data) for p in attrs.input.payloads[1:]), default=0))
            run_id = attrs.new_execution_run_id
    assert largest is not None  # the chain's first run at least
    replay_ms = await _replay_ms(largest[1])
    total = sum(counts[1:], counts[0])
    return Transfers(hops, History.of([total]), runs=runs, largest_run_bytes=largest[0], replay_ms=replay_ms,
                     carried_bytes=carried, update_bytes=update_bytes, state_bytes=state_bytes)


async def _replay_ms(history: Any) -> float:
    """Milliseconds to replay ``history`` on a warm replayer (the worker's runner), the median of
    ``REPLAYS`` (the first replay pays the replayer's start-up and is not counted; one replay
    alone moved 90-140 ms between runs on this machine): what a cache miss costs the worker."""
    replayer = Replayer(workflows=[Conversation], data_converter=pydantic_data_converter, workflow_runner=RUNNER)

    async def again() -> Any:
        for _ in range(REPLAYS + 1):
            yield history

    took = []
    async with replayer.workflow_replay_iterator(again()) as results:
        began = time.perf_counter()
        async for result in results:
            if result.replay_failure is not None:
                raise RuntimeError(f"the long conversation did not replay: {result.replay_failure!r}")
            took.append(time.perf_counter() - began)
            began = time.perf_counter()
    return percentile(took[1:], 50) * 1000  # the median of an odd count


def _types(events: Any) -> Any:
    from collections import Counter
    return Counter(event_name(e.event_type) for e in events)


async def _accept_offer(bench: Bench, handle: WorkflowHandle) -> tuple[str, int]:
    """Accept the offer once the workflow has it; the agent and the update result's size."""
    deadline = time.perf_counter() + OFFER_WAIT
    while (view := await handle.query("summary"))["status"] != "offered":
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{handle.id} was not offered within {OFFER_WAIT:g}s: {view}")
        await asyncio.sleep(POLL)
    agent = view["offer"]["agent"]
    result = await send_command(bench.client, handle.id.removeprefix("conversation-"), "accept", {"agent": agent})
    return agent, len(json.dumps(result))


async def open_conversations(bench: Bench, store: Store, count: int, concurrency: int) -> OpenRun:
    """``count`` conversations queued in an account nobody serves (they stay open); then the
    worker's RSS, CPU while nothing happens, and a new conversation's start->offer meanwhile."""
    async def start(n: int) -> None:
        await start_conversation(bench.client, StartConversation(
            conversation_id=f"bench-{bench.tag}-open-{n}", account=QUEUE, skill=SKILL, channel="web",
            customer=f"cust-{n}"), bench.task_queue)

    idle_floor = await _idle(bench)  # the same window with nothing open: the floor
    await at_concurrency(start, count, concurrency)
    deadline = time.perf_counter() + OFFER_WAIT + count / 10
    while await presence.queue_length(store, SkillRef(account=QUEUE, skill=SKILL)) < count:  # every step done
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{count} conversations were not all queued in time")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # the workflow tasks after the last steps
    idle = await _idle(bench)
    rss = rss_mb()
    for n in range(WARM_UP):
        await bench.converse(OWNER, f"bench-{bench.tag}-open-warm-{n}", "cust-open")
    offers = [(await bench.converse(OWNER, f"bench-{bench.tag}-open-seq-{n}", "cust-open")).offer_latency
              for n in range(UNLOADED_RUNS)]
    return OpenRun(count=count, rss_mb=rss, idle_cpu=idle, idle_floor=idle_floor, idle_seconds=IDLE_WINDOW,
                   offer=Latency(offers),
                   queued_actions_per_5min=queued_actions_per_5min())


async def _idle(bench: Bench) -> Cpu:
    """CPU per second of the server and of this process over ``IDLE_WINDOW`` with nothing asked."""
    before = bench.cpu.now()
    await asyncio.sleep(IDLE_WINDOW)
    used = bench.cpu.since(before)
    return Cpu(server=used.server / IDLE_WINDOW, worker=used.worker / IDLE_WINDOW)


def queued_actions_per_5min(hours: float = 1.0) -> float:
    """A queued conversation's billable actions per five minutes over its first ``hours``, from the
    safety net's schedule (each re-check: a timer, a route step); push wake-ups aside."""
    waited, checks = 0.0, 0
    while True:
        waited += recheck_after(checks).total_seconds()
        if waited > hours * 3600:
            break
        checks += 1
    return 2 * checks / (hours * 12)
