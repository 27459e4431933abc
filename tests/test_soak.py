"""The fault soak (switchboard/soak): SPEC R2.4 and R8.1 while workers die and Temporal restarts.

A bounded soak runs in every ``make test``: 40 conversations on SQLite, one kill -9 of the worker
and one restart of the dev server, about a minute. The full ones (``make soak``: 300
conversations, three kills, SQLite and PostgreSQL with two workers) run with SWITCHBOARD_SOAK=1.
Every figure must be zero; the failure message is the soak's report, naming the conversations.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from switchboard import pgcluster
from switchboard.soak import Options, fault_plan, run
from switchboard.soak.checks import Figures, assigned_twice
from switchboard.soak.load import Tracked

FULL = os.environ.get("SWITCHBOARD_SOAK") == "1"


async def soak(options: Options, timeout: float) -> None:
    lines: list[str] = []
    figures = await asyncio.wait_for(run(options, log=lines.append), timeout)
    report = figures.report(f"fault soak: {options.describe()}")
    print("\n".join(lines), report, sep="\n")
    assert figures.ok, report


async def test_r2_4_r8_1_bounded_fault_soak() -> None:
    """No conversation lost, stuck or assigned twice, no agent above capacity, no leaked hold, no
    failed workflow task, through one worker kill and one server restart."""
    await soak(Options(conversations=40, kills=1, server_restarts=1, workers=1, rate=1.5, seed=7), timeout=180)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the full soak takes minutes: SWITCHBOARD_SOAK=1 (or make soak)")
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_r2_4_r8_1_full_fault_soak(database: str) -> None:
    if database == "postgres" and (reason := pgcluster.missing()):
        pytest.skip(reason)
    await soak(Options(conversations=300, kills=3, server_restarts=1, workers=2, database=database), timeout=600)


# ---- the checks themselves: a check that cannot fail proves nothing ---------------------------

def test_a_second_assignment_is_caught_three_ways() -> None:
    c = Tracked("c-1", {})
    assert assigned_twice(c, {"timeline": [{"kind": "accepted", "agent": "ana"}, {"kind": "closed"}]}) is None
    timeline = [{"kind": "accepted", "agent": "ana"}, {"kind": "accepted", "agent": "ben"}]
    assert "timeline" in assigned_twice(c, {"timeline": timeline})
    c.assignees = {"ana", "ben"}
    assert "state reads" in assigned_twice(c, None)
    c.accepted_by = {"ana", "ben"}
    assert "accept succeeded" in assigned_twice(c, None)


def test_a_failed_check_fails_the_soak_and_names_the_conversation() -> None:
    figures = Figures(started=2)
    assert figures.ok
    figures.failed_tasks["soak-1-0007"] = ["NON_DETERMINISTIC_ERROR: [TMPRL1100] Nondeterminism error: ..."]
    assert not figures.ok
    assert dict(figures.table())["nondeterminism errors"] == 1
    assert "FAIL failed workflow tasks: soak-1-0007: NON_DETERMINISTIC_ERROR" in figures.report("soak")


def test_faults_fall_inside_the_load_one_per_slice() -> None:
    options = Options(conversations=100, kills=3, server_restarts=1, rate=2.0)
    plan = fault_plan(options, random.Random(1))
    assert sorted(kind for _, kind in plan) == ["kill", "kill", "kill", "restart"]
    times = [at for at, _ in plan]
    assert times == sorted(times) and 0.15 * 50 < times[0] and times[-1] < 0.85 * 50
