"""Timer paths on the time-skipping test server: offer expiry, queue re-check, backup window, idle."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType

from conftest import every_run
from store import presence

DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    skills:
      - id: sales
        accept_timeout: 20s
      - id: care
        accept_timeout: 10s
        idle_timeout: 5m
        rollover: {mode: backup, handler: {account: bpo, skill: acme-care}, backup_window: 25s}
    agents:
      - {id: ann, skills: [sales, care], capacity: 1, status: online}
      - {id: bob, skills: [sales], capacity: 1, status: online}
  - id: bpo
    brand: {name: Answer Bureau}
    skills:
      - id: acme-care
    agents:
      - {id: zed, skills: [acme-care], capacity: 2, status: online}
"""


@pytest.fixture
async def acme(ts_stack):
    await ts_stack.load(DIRECTORY)
    return ts_stack


@pytest.fixture
def skip(ts_env):
    return ts_env.sleep


async def test_r2_2_an_unanswered_offer_expires_and_the_next_agent_is_tried(acme, skip):
    handle = await acme.start("acme", "sales")
    first = (await acme.offered(handle))["offer"]["agent"]
    await skip(21)
    view = await acme.wait_for(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] != first)
    expired = [e for e in view["timeline"] if e["kind"] == "offer_expired"]
    assert [e["agent"] for e in expired] == [first]
    await skip(21)
    view = await acme.wait_for(handle, lambda v: v["status"] == "queued")
    assert [e["agent"] for e in view["timeline"] if e["kind"] == "offer_expired"] == [first, view["timeline"][-3]["agent"]]
    assert all(row.load == 0 for row in await presence.load_summary(acme.store))


async def test_r2_3_a_lost_wake_up_is_caught_by_the_queue_re_check(acme, skip):
    from datetime import datetime, timezone

    for agent in ("ann", "bob"):
        await presence.set_status(acme.store, agent, "offline", datetime.now(timezone.utc))
    handle = await acme.start("acme", "sales")
    await acme.wait_for(handle, lambda v: v["status"] == "queued")
    # Presence changes without the wake-up signal: only the durable re-check timer can notice
    # here (no reconciler runs on this server; where it runs, its sweep wakes it within a minute).
    await presence.set_status(acme.store, "bob", "online", datetime.now(timezone.utc))
    await skip(30 * 60 + 1)
    await acme.offered(handle, "bob")


async def test_r2_2_accept_stops_the_offer_clock(acme, skip):
    handle = await acme.start("acme", "sales")
    agent = (await acme.offered(handle))["offer"]["agent"]
    await handle.signal("accept", {"agent": agent})  # updates wait for real time on this server
    await acme.wait_for(handle, lambda v: v["status"] == "assigned")
    await skip(60)
    view = await acme.state(handle)
    assert view["status"] == "assigned" and view["assignee"] == agent


async def test_r3_3_backup_rolls_over_when_no_owner_agent_accepts_within_the_window(acme, skip):
    handle = await acme.start("acme", "care")
    await acme.offered(handle, "ann")
    await skip(11)  # ann lets it expire; nobody else in care: queued at the owner until the window ends
    await acme.wait_for(handle, lambda v: v["status"] == "queued")
    await skip(15)
    view = await acme.offered(handle, "zed")
    assert (view["handler_account"], view["handler_skill"]) == ("bpo", "acme-care")
    assert (view["account"], view["skill"]) == ("acme", "care")
    rolled = [e for e in view["timeline"] if e["kind"] == "rolled_over"]
    assert rolled and "backup window" in rolled[0]["reason"]


async def test_r8_1_an_idle_assigned_conversation_closes_on_the_skill_idle_timeout(acme, skip):
    handle = await acme.start("acme", "care")
    await acme.offered(handle, "ann")
    await handle.signal("accept", {"agent": "ann"})
    await acme.wait_for(handle, lambda v: v["status"] == "assigned")
    await skip(5 * 60 + 1)
    result = await handle.result()
    assert result["status"] == "closed" and result["timeline"][-1]["reason"] == "idle timeout"
    assert next(r for r in await presence.load_summary(acme.store) if r.id == "ann").load == 0


async def test_r2_3_a_conversation_queued_for_hours_re_checks_less_and_less_and_never_fails(acme, skip):
    """The safety net waits 30 min at a time (push wake-ups do the work): a queue of hours costs less
    than one billable action per ten minutes (a re-check is a timer and a route; a new run a
    start and a continue-as-new), and
    the back-off never overflows however long the wait (issue 14: push wake-ups do the work)."""
    for agent in ("ann", "bob"):
        await acme.set_status(agent, "offline")
    handle = await acme.start("acme", "sales")
    await acme.wait_for(handle, lambda v: v["status"] == "queued")
    for _ in range(12):  # half an hour at a time: each jump fires the timers due on its way
        await skip(1800)
    await acme.set_status("bob", "online")
    view = await acme.offered(handle, "bob")
    runs = await every_run(acme.client, handle.id)  # six hours of re-checks continue as new
    events = [e.event_type for run in runs for e in run]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    timers = events.count(EventType.EVENT_TYPE_TIMER_STARTED)
    assert 11 <= timers <= 13, f"{timers} timers: one per half hour for 6 h"
    routes = events.count(EventType.EVENT_TYPE_MARKER_RECORDED)
    starts = len(runs) - 1 + events.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
    assert timers + routes + starts <= 6 * 60 // 10, f"{timers} timers, {routes} routes, {starts} for new runs in 6 h"
    assert [e["kind"] for e in view["timeline"]].count("queued") == 1, "a re-check that finds nobody records nothing"
