"""Determinism guard (DESIGN "Bounded history"): recorded ``Conversation`` histories replay on today's code.

A failure here means a change to the workflow would break conversations already running when it
is deployed: guard the change with ``workflow.patched`` rather than re-recording the histories
(``make histories`` re-records them, with ``tests/record_histories.py``).

``histories/v0.1/`` and ``histories/v0.2/`` are the corpora of the releases before the breaking
0.2 and 0.3 releases (CHANGELOG "Versioning"): they do not replay here, which is why their
conversations drain on workers of their own release.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.conversation import Conversation
from workflows.reconciler import Reconciler

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
V0_1 = sorted((Path(__file__).parent / "histories" / "v0.1").glob("*.json"))
V0_2 = sorted((Path(__file__).parent / "histories" / "v0.2").glob("*.json"))
SWEEPS = sorted((Path(__file__).parent / "histories" / "reconciler").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    text = path.read_text()
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started["workflowId"], text)


def replayer(workflow_class: type) -> Replayer:
    return Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)


def test_histories_are_recorded():
    assert len(HISTORIES) >= 10 and SWEEPS, "run `make histories` to record them"


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
async def test_recorded_reconciler_sweep_replays(path: Path):
    """The sweep's wake-up step (``workflow.patched("wake-waiting")``) on a recorded sweep."""
    result = await replayer(Reconciler).replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_on_the_current_workflow(path: Path):
    result = await replayer(Conversation).replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


@workflow.defn(dynamic=True)
class PausesFirst(Conversation):
    """A deliberately non-deterministic edit: a timer before the first routing step."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> dict[str, Any]:
        if self.s is not None:
            await workflow.sleep(1)
        return await super().run(args)


async def test_the_guard_catches_a_change_in_command_order():
    history = load(next(p for p in HISTORIES if "offered-accepted-closed" in p.name))
    result = await replayer(PausesFirst).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError), repr(result.replay_failure)


async def test_v0_1_conversations_do_not_replay_on_this_release_so_they_drain_on_v0_1_workers():
    """The breaking release is real: if this passed, the drain procedure would be unnecessary."""
    assert V0_1, "the 0.1 corpus is kept to show the break"
    v0_1 = next(p for p in V0_1 if "offered-accepted-closed" in p.name)
    result = await replayer(Conversation).replay_workflow(load(v0_1), raise_on_replay_failure=False)
    assert result.replay_failure is not None


async def test_v0_2_conversations_do_not_replay_on_this_release_so_they_drain_on_v0_2_workers():
    """0.3 runs the store steps as local activities (CHANGELOG "Versioning"): a 0.2 history
    scheduled them as activities, so it cannot replay here."""
    assert V0_2, "the 0.2 corpus is kept to show the break"
    v0_2 = next(p for p in V0_2 if "offered-accepted-closed" in p.name)
    result = await replayer(Conversation).replay_workflow(load(v0_2), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError), repr(result.replay_failure)


def test_a_refused_transfer_is_an_answer_not_a_failed_activity():
    """Issue 11: a business refusal shows in the Temporal UI as a route step that answered, and
    the update's error; no failed activity, no failed workflow task (no worker traceback)."""
    history = json.loads((Path(__file__).parent / "histories" / "r6_1-transfer-refused-then-closed.json").read_text())
    types = [e["eventType"] for e in history["events"]]
    assert "EVENT_TYPE_ACTIVITY_TASK_FAILED" not in types and "EVENT_TYPE_WORKFLOW_TASK_FAILED" not in types
    assert types.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED") + sum(
        1 for e in history["events"] if e.get("workflowExecutionUpdateCompletedEventAttributes", {})
        .get("outcome", {}).get("failure")) == 1, "the transfer update itself failed, with the refusal"
