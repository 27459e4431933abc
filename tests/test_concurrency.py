"""SPEC R2.4 under load: many conversations, few agents, two workers, random answers.

No agent ever holds more than their capacity and no conversation is assigned twice. Checked
three ways: the database counters while it runs, the holds table, and the workflows' own
timelines afterwards (overlapping assignments per agent never exceed capacity).
"""

from __future__ import annotations

import asyncio
import os
import random
from datetime import datetime

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from store import Store, presence
from worker import build_worker

AGENTS = [f"agent-{n}" for n in range(10)]
# CI runs a bounded 100; SWITCHBOARD_SOAK=1 runs the full 200 (or SWITCHBOARD_CONCURRENCY_N).
CONVERSATIONS = int(os.environ.get("SWITCHBOARD_CONCURRENCY_N") or (200 if os.environ.get("SWITCHBOARD_SOAK") else 60))
DIRECTORY = "accounts:\n  - id: acme\n    brand: {name: Acme}\n    skills: [{id: sales, accept_timeout: 30s}]\n" \
            "    agents:\n" + "".join(f"      - {{id: {a}, skills: [sales], capacity: 2, status: online}}\n"
                                      for a in AGENTS)


async def _agent(stack, agent: str, rng: random.Random, done: asyncio.Event) -> None:
    """An agent's workspace: answer offers at random, close assigned conversations after a while."""
    while not done.is_set():
        for hold in await presence.holds_of(stack.store, agent):
            if done.is_set():
                return
            handle = stack.handle(hold.conversation_id)
            try:
                view = await handle.query("state")
                if view["status"] == "offered" and view["offer"]["agent"] == agent:
                    verb = "accept" if rng.random() < 0.8 else "decline"
                    await handle.execute_update(verb, {"agent": agent})
                elif view["status"] == "assigned" and view["assignee"] == agent:
                    await handle.execute_update("close", {"by": agent, "reason": "done"})
            except WorkflowUpdateFailedError:
                pass  # a refused stale command changes nothing; that is part of what is tested
        await asyncio.sleep(rng.uniform(0.01, 0.05))


async def test_r2_4_no_over_capacity_and_no_double_assignment_across_workers(stack, tmp_path):
    await stack.load(DIRECTORY)
    second_store = Store.connect(str(stack.store.engine.url))  # a second worker, its own connections
    rng = random.Random(42)
    done = asyncio.Event()
    second_client = await Client.connect(stack.client.service_client.config.target_host,
                                         data_converter=pydantic_data_converter)  # one worker per client
    async with build_worker(second_client, second_store, stack.task_queue):
        handles = await asyncio.gather(*(stack.start("acme", "sales", priority=rng.randint(0, 3))
                                         for _ in range(CONVERSATIONS)))
        agents = [asyncio.create_task(_agent(stack, a, random.Random(i), done)) for i, a in enumerate(AGENTS)]
        monitor = asyncio.create_task(_watch_capacity(stack, done))
        try:
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=400)
        finally:
            done.set()
            await asyncio.gather(*agents)
        assert await monitor >= 1
    await second_store.close()

    assert all(r["status"] == "closed" for r in results)
    for result in results:
        accepted = [e for e in result["timeline"] if e["kind"] == "accepted"]
        assert len(accepted) == 1, "\n".join(f"{e['at']} {e['kind']} {e['agent']} {e['reason']}" for e in result["timeline"])
    for agent in AGENTS:
        intervals = []
        for result in results:
            kinds = {e["kind"]: e for e in result["timeline"]}
            if result["assignee"] == agent:
                intervals.append((_at(kinds["accepted"]), _at(kinds["closed"])))
        assert _max_overlap(intervals) <= 2, agent
    assert all(row.load == 0 for row in await presence.load_summary(stack.store))


async def _watch_capacity(stack, done: asyncio.Event) -> int:
    """Sample every agent's load while the test runs; returns how many samples were taken."""
    samples = 0
    while not done.is_set():
        loads = await presence.load_summary(stack.store)
        assert all(row.load <= row.capacity for row in loads), loads
        samples += 1
        await asyncio.sleep(0.05)
    return samples


def _at(event: dict) -> datetime:
    return datetime.fromisoformat(event["at"])


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    points = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda p: (p[0], p[1]))
    current = peak = 0
    for _, delta in points:
        current += delta
        peak = max(peak, current)
    return peak
