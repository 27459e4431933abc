"""SPEC R3.3-R3.6 on the time-skipping server: a week of workflow time across a DST switch.

This module has its own time-skipping server: it moves the clock months ahead, to the week of
the next US spring-forward, and then probes the rollover decision at chosen local times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from conftest import time_skipping_env

NEW_YORK = ZoneInfo("America/New_York")
DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    skills:
      - id: nights   # schedule: off_hours (outside the skill's hours)
        hours: {mon-fri: "09:00-17:00"}
        rollover: {mode: schedule, schedule: off_hours, handler: {account: bpo, skill: desk}}
      - id: weekends # hybrid with explicit windows; outside them, backup
        rollover: {mode: hybrid, handler: {account: bpo, skill: desk}, backup_window: 10m,
                   schedule: {sat-sun: "00:00-24:00", mon-fri: ["00:00-08:00", "18:00-24:00"]}}
      - id: care
        accept_timeout: 60s
        rollover: {mode: backup, handler: {account: bpo, skill: desk}, backup_window: 20s}
    agents:
      - {id: ann, skills: [nights, weekends, care], capacity: null, status: online}
  - id: bpo
    brand: {name: Answer Bureau}
    skills:
      - id: desk
    agents:
      - {id: bot-1, kind: bot, skills: [desk], capacity: null, status: online}
"""


def spring_forward_after(today: date) -> date:
    """The second Sunday of March (US DST start) at least a few days after ``today``."""
    for year in (today.year, today.year + 1):
        march = date(year, 3, 1)
        second_sunday = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
        if second_sunday - timedelta(days=3) > today:
            return second_sunday
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """Overrides the session server: this module moves the clock far ahead."""
    async for env in time_skipping_env():
        yield env


@pytest.fixture
async def acme(ts_stack):
    await ts_stack.load(DIRECTORY)
    return ts_stack


async def _skip_to(env: WorkflowEnvironment, local: datetime) -> None:
    now = await env.get_current_time()
    assert local > now, f"probe {local} is in the server's past ({now})"
    await env.sleep(local - now)


async def _where(stack, skill: str) -> tuple[str, str]:
    """Start a conversation now; return who it was offered to and the decision's reason; close it."""
    handle = await stack.start("acme", skill)
    view = await stack.offered(handle)
    await handle.signal("close", {"by": "admin", "reason": "probe"})
    # Not ``handle.result()``: waiting on a result lets this server skip time far ahead (years).
    # Polled to completion: a release still in flight would hold this server's clock for good.
    while (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
        await asyncio.sleep(0.02)
    return view["offer"]["agent"], next(e["reason"] for e in view["timeline"] if e["kind"] == "rollover_decision")


async def test_r3_4_r3_5_schedules_across_a_week_with_a_dst_switch(acme, ts_env):
    sunday = spring_forward_after((await ts_env.get_current_time()).date())
    friday, monday, thursday = (sunday + timedelta(days=d) for d in (-2, 1, 4))
    # (local wall-clock time, expected for "nights" off_hours, expected for "weekends" hybrid)
    probes = [
        (friday, "16:59", "ann", "ann"),
        (friday, "17:01", "bot-1", "ann"),
        (friday, "18:30", "bot-1", "bot-1"),
        (sunday - timedelta(days=1), "12:00", "bot-1", "bot-1"),
        (sunday, "03:30", "bot-1", "bot-1"),  # an hour after the clocks went forward
        (monday, "07:59", "bot-1", "bot-1"),
        (monday, "08:01", "bot-1", "ann"),  # EDT now: 12:01 UTC; on EST rules this would be inside 00:00-08:00
        (monday, "09:01", "ann", "ann"),
        (monday, "17:30", "bot-1", "ann"),
        (thursday, "18:05", "bot-1", "bot-1"),
    ]
    seen = []
    for day, hhmm, nights, weekends in probes:
        hour, minute = map(int, hhmm.split(":"))
        await _skip_to(ts_env, datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK))
        seen.append((f"{day:%a} {hhmm}", (await _where(acme, "nights"))[0], (await _where(acme, "weekends"))[0]))
    assert seen == [(f"{d:%a} {t}", n, w) for d, t, n, w in probes]


async def test_r3_6_reasons_use_the_workflow_clock_in_the_owner_time_zone(acme, ts_env):
    now = (await ts_env.get_current_time()).astimezone(NEW_YORK)
    saturday = now.date() + timedelta(days=(5 - now.weekday()) % 7 or 7)
    await _skip_to(ts_env, datetime(saturday.year, saturday.month, saturday.day, 18, 5, tzinfo=NEW_YORK))
    _, nights = await _where(acme, "nights")
    _, weekends = await _where(acme, "weekends")
    assert nights == "R3.4 schedule: Sat 18:05 America/New_York is outside nights working hours"
    assert weekends == "R3.5 hybrid: Sat 18:05 America/New_York is inside Sat 00:00-24:00"


async def test_r3_3_backup_window_ends_an_open_offer_and_rolls_over(acme, ts_env):
    """The owner agent holds an offer (60 s) longer than the backup window (20 s): the window wins."""
    handle = await acme.start("acme", "care")
    await acme.offered(handle, "ann")
    await ts_env.sleep(21)
    view = await acme.offered(handle, "bot-1")
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds[-3:] == ["offer_withdrawn", "rolled_over", "offered"], kinds
    assert view["timeline"][-2]["reason"] == "backup: no owner agent accepted within the backup window"
    assert view["handler_account"] == "bpo"
