"""SPEC R9.1-R9.3 on the real dev server: oversized input is refused before anything runs, with a
short refusal; a hostile start fails at once; and the largest allowed inputs, many times over,
keep every payload, the state and every run's history far from Temporal's limits."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from routing.limits import TEXT_MAX, quote
from store import presence
from conftest import every_run
from test_robustness import acme, activities, assigned, deep, events, kinds, of  # noqa: F401 (acme is a fixture)
from workflows.conversation import workflow_id
from workflows.state import NOTES_BYTES, NOTES_KEPT, TIMELINE_KEPT

MB = 1024 * 1024
OVERSIZED: dict[str, tuple[str, dict[str, Any], str]] = {  # what: (command, input, the field named)
    "a 4,001-character note": (
        "transfer", {"by": "ann", "account": "parts", "skill": "service", "note": "n" * (TEXT_MAX + 1)}, "note"),
    "a 4,001-character warm message": (
        "transfer", {"by": "ann", "account": "parts", "skill": "service", "warm_message": "w" * (TEXT_MAX + 1)},
        "warm_message"),
    "a 10 kB skill id in a transfer": ("transfer", {"by": "ann", "account": "parts", "skill": "s" * 10_000}, "skill"),
    "a 10 kB sender id in a transfer": ("transfer", {"by": "b" * 10_000, "skill": "billing"}, "by"),
    "a 10 kB manager id in a join": ("join", {"manager": "m" * 10_000}, "manager"),
    "a 1 MB private message": ("private_message", {"from": "mia", "to": "ann", "text": "t" * 1_000_000}, "text"),
    "a 1 MB close reason": ("close", {"by": "ann", "reason": "r" * 1_000_000}, "reason"),
}


def scheduled(history) -> int:
    return len(activities(history))


@pytest.mark.parametrize("what", list(OVERSIZED))
async def test_r9_2_oversized_input_is_refused_by_the_validator_before_any_activity_runs(acme, what):
    verb, body, field = OVERSIZED[what]
    handle = await assigned(acme)
    before = await events(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(verb, body)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput", cause
    assert len(cause.message) < 300, cause.message
    assert f"field '{field}'" in cause.message and "characters)" in cause.message, cause.message
    assert repr(body[field])[:20] in cause.message, "the refusal quotes a prefix of the value"
    after = await events(handle)
    assert scheduled(after) == scheduled(before), "nothing ran"
    assert of(after, "WORKFLOW_TASK_FAILED") == []


def json_payload(data: bytes) -> RawValue:
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=data))


def raw_start(conversation_id: str, attributes: str) -> RawValue:
    return json_payload(f'{{"conversation_id": "{conversation_id}", "account": "acme", "skill": "sales", '
                        f'"channel": "web", "customer": "cust-1", "attributes": {attributes}}}'.encode())


HOSTILE_STARTS = {  # what a raw client sends: (the attributes' JSON, what the refusal says)
    "nested 250 deep": ('{"deep": ' + "[" * 249 + "]" * 249 + "}", "field 'attributes'"),
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "could not be decoded (encoding 'json/plain')"),
    "not JSON": ("{nope", "could not be decoded (encoding 'json/plain')"),
}


@pytest.mark.parametrize("what", list(HOSTILE_STARTS))
async def test_r9_2_a_hostile_start_from_a_raw_client_fails_at_once_naming_the_problem(acme, what):
    """The gateway refuses these at its edge; a raw Temporal client can send them. The pydantic
    converter's JSON parser stops at 200 levels, and decoding the start failed inside the SDK,
    which fails the workflow task, not the workflow, on every retry: the conversation was stuck
    "running" for good."""
    attributes, says = HOSTILE_STARTS[what]
    conversation_id = f"t-{uuid.uuid4().hex[:12]}"
    acme.started.append(conversation_id)
    handle = await acme.client.start_workflow("Conversation", raw_start(conversation_id, attributes),
                                              id=workflow_id(conversation_id), task_queue=acme.task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout=15)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable, cause
    assert cause.message.startswith("start: ") and says in cause.message and len(cause.message) < 300, cause.message
    history = await events(handle)
    assert of(history, "WORKFLOW_TASK_FAILED") == [] and scheduled(history) == 0
    assert all(row.load == 0 for row in await presence.load_summary(acme.store))


async def test_contract_a_start_of_another_workflow_type_on_the_task_queue_fails_at_once(acme):
    """``Conversation`` takes its inputs raw (a dynamic workflow), so it checks its own type."""
    conversation_id = f"t-{uuid.uuid4().hex[:12]}"
    acme.started.append(conversation_id)
    handle = await acme.client.start_workflow("Conversatoin", {"conversation_id": conversation_id},
                                              id=workflow_id(conversation_id), task_queue=acme.task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout=15)
    assert failed.value.cause.type == "UnknownWorkflowType", failed.value.cause
    assert "'Conversatoin'" in failed.value.cause.message


# --- R9.3: the state and every run's history stay bounded ------------------------------------------


async def test_r9_3_the_largest_inputs_many_times_keep_state_and_every_history_bounded(acme):
    """60 transfers with 4,000-character notes and warm messages, 30 private messages of 4,000
    characters and 200 rejected signals; the characters take 4 bytes each in UTF-8, the most a
    4,000-character text can weigh. The old workflow copied every note into every routing step's
    input and kept them all in its state: the history grew with the square of the notes.

    An update's result is compact (no notes, no timeline) and the notes kept are bounded in bytes
    (``NOTES_BYTES``): runs continue as new by size here, each stays under 2 MB, and the state
    carried from one to the next under 64 KB."""
    text = "\U0001F600" * TEXT_MAX
    handle = await assigned(acme)
    for n in range(60):
        await handle.execute_update("transfer", {"by": "mia", "skill": ("billing", "sales")[n % 2],
                                                 "note": f"{n} {text}"[:TEXT_MAX],
                                                 "warm_message": f"{n} {text}"[:TEXT_MAX]})
    await acme.offered(handle, "ann")  # the 60th transfer was back to sales
    await handle.execute_update("accept", {"agent": "ann"})
    for n in range(30):
        await handle.execute_update("private_message", {"from": "mia", "to": "ann", "text": f"{n} {text}"[:TEXT_MAX]})
    seen = lambda v: v["earlier_events"] + len(v["timeline"])  # noqa: E731 (events in all runs)
    before = seen(await acme.state(handle))
    for n in range(200):
        await handle.signal("close", [n])
    view = await acme.wait_for(handle, lambda v: seen(v) >= before + 200, timeout=30)
    size = len(json.dumps(view, ensure_ascii=False).encode())
    assert size < NOTES_BYTES + 80_000, size  # the notes kept, and a timeline of short events
    assert (view["status"], view["assignee"]) == ("assigned", "ann")
    assert view["notes"][-1]["text"].startswith("29 ") and 1 < len(view["notes"]) < NOTES_KEPT
    assert sum(len(n["text"].encode()) for n in view["notes"]) <= NOTES_BYTES
    # The most recent events: the 200 rejections, or as many of them as fit beside these notes in
    # the state a run hands over (64 KB) when it continued as new during the signals.
    assert 0 < len(view["timeline"]) <= TIMELINE_KEPT and view["earlier_events"] > 0
    assert set(kinds(view)) == {"rejected"}

    runs = await every_run(acme.client, handle.id)
    sizes = [sum(e.ByteSize() for e in history) for history in runs]
    assert len(runs) > 1 and all(size < 2 * MB for size in sizes), sizes
    carried = [len(h[0].workflow_execution_started_event_attributes.input.payloads[1].data) for h in runs[1:]]
    assert carried and all(c < 64 * 1024 for c in carried), carried
    # No input failed a task. A continue-as-new while signals wait is refused by the server
    # (UnhandledCommand) and the next task takes them: all 200 arrived, above.
    failed = [e.workflow_task_failed_event_attributes for history in runs for e in of(history, "WORKFLOW_TASK_FAILED")]
    assert all(f.failure.message == "UnhandledCommand" for f in failed), failed
    assert (await handle.execute_update("close", {"by": "ann"}))["status"] == "closed"


def test_r9_2_a_refusal_quotes_a_value_nested_too_deep_to_show():
    """``repr`` of a value nested past the interpreter's recursion limit raises; in the workflow
    that would fail the task the refusal is meant to spare."""
    assert quote(deep(5_000)) == "<list nested too deep to show>"
