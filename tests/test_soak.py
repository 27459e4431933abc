"""The fault soak (switchboard/soak): SPEC R2.4 and R8.1 while workers die and Temporal restarts.

A bounded soak runs in every ``make test``: 40 conversations on SQLite, one kill -9 of the worker
and one restart of the dev server, about a minute. The full ones (``make soak``: 300
conversations, three kills, SQLite and PostgreSQL with two workers) run with SWITCHBOARD_SOAK=1.
Every figure must be zero; the failure message is the soak's report, naming the conversations.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from switchboard import pgcluster
from switchboard.soak import Options, run

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
