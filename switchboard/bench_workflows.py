"""The bench's floor: the cheapest workflows Temporal can run, to measure Switchboard against.

They live in a module of their own because workflow classes defined in ``__main__`` fail the
sandbox's validation, and outside the ``switchboard.bench`` package because the sandbox imports a
workflow's module (and its package's ``__init__``) afresh for every run: inside the package each
floor workflow would re-import the whole engine (30 MB and 50 ms of CPU a run).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_noop")
async def noop() -> None:
    """Does nothing: what is left is the cost of one activity round trip."""


@workflow.defn(name="BenchEmpty")
class Empty:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BenchOneActivity")
class OneActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=10))


WORKFLOWS = [Empty, OneActivity]
ACTIVITIES = [noop]
