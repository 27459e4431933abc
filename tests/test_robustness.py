"""Robustness (issue 9) on the real dev server: no clock, payload or stranger can brick a conversation.

- R9.2: a deadline already past when the wait starts still gets a timer, so the commands a task
  emits do not depend on how late it runs (before: no timer, and ``_on_deadline`` at once);
- R9.2: no input, two inputs, bytes, a non-object or undecodable JSON to any signal is ``rejected``
  (before: a failed workflow task on every retry); the same to an update is refused by its validator;
- R7.6: ``agent_deactivated`` is a hint the store checks; R8.1, R7.3: a stranger's close or
  reassign_to_hero sent straight over Temporal is refused; R8.4: a closed id started again by a raw
  client fails at once and holds nothing.

Limits (R9.1-R9.3) are in test_robustness_limits.py, directory changes (R9.4) in
test_robustness_directory.py; both use the helpers here.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from routing.directory import SkillRef
from routing.model import StartConversation
from store import heroes, presence
from workflows.conversation import Conversation, workflow_id
from workflows.state import ConversationState

from conftest import every_run, now

DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    skills:
      - id: sales
        transfer_targets: [{account: parts, skill: service}, {account: parts, skill: slow}]
      - id: billing
    agents:
      - {id: ann, skills: [sales], capacity: 2, status: online}
      - {id: bob, skills: [billing], capacity: 2, status: online}
      - {id: mia, role: manager, skills: [sales]}
  - id: parts
    brand: {name: Parts Co}
    skills:
      - id: service
      - id: slow
        accept_timeout: 1s
    agents:
      - {id: pia, skills: [service, slow], capacity: 2, status: online}
  - id: other
    brand: {name: Other Inc}
    skills: [{id: desk}]
    agents:
      - {id: oz, skills: [desk], capacity: 1, status: online}
"""

COMMANDS = ("accept", "decline", "close", "transfer", "rollback", "reassign_to_hero", "join", "private_message")
HINTS = ("hero_changed", "agent_deactivated")


def deep(levels: int) -> list[Any]:
    """A JSON array nested ``levels`` deep."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


MALFORMED: dict[str, list[Any]] = {  # how a raw client can get a payload wrong
    "no input": [], "two inputs": [{"agent": "ann"}, {"agent": "ann"}],
    "bytes": [b"\x00\xff not json"],  # binary/plain
    "not an object": [[1, 2]],
    "too deep to decode": [deep(250)],  # the pydantic converter's parser stops at 200 levels
    "a view neither compact nor full": [{"view": ["full"]}],
}


@pytest.fixture
async def acme(stack):
    await stack.load(DIRECTORY)
    return stack


async def assigned(stack, agent: str = "ann", skill: str = "sales", **start: Any) -> WorkflowHandle:
    """A conversation of acme/``skill`` that ``agent`` has accepted; the handle follows the latest run."""
    first = await stack.start("acme", skill, **start)
    handle = stack.handle(first.id.removeprefix("conversation-"))
    await stack.offered(handle, agent)
    await handle.execute_update("accept", {"agent": agent})
    return handle


async def events(handle: WorkflowHandle) -> list[HistoryEvent]:
    """The history of the handle's run (the latest one for a handle without a run id)."""
    return list((await handle.fetch_history()).events)


def of(history: list[HistoryEvent], kind: str) -> list[HistoryEvent]:
    wanted = EventType.Value(f"EVENT_TYPE_{kind}")
    return [e for e in history if e.event_type == wanted]


def activities(history: list[HistoryEvent], name: str | None = None) -> list[HistoryEvent]:
    """The activities a run ran, in order: scheduled ones and local ones (a ``MarkerRecorded`` event
    each, written when it is done), of the type ``name`` if one is given."""
    found = []
    for e in history:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kind = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and \
                e.marker_recorded_event_attributes.marker_name == "core_local_activity":
            kind = json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)["activity_type"]
        else:
            continue
        if name is None or kind == name:
            found.append(e)
    return found


def local_result(event: HistoryEvent) -> Any:
    """A local activity's result, as JSON, from its marker."""
    return json.loads(event.marker_recorded_event_attributes.details["result"].payloads[0].data)


def kinds(view: dict[str, Any]) -> list[str]:
    """Event kinds of a full view's timeline, or of what an update's compact result added."""
    return [e["kind"] for e in view["timeline" if "timeline" in view else "events"]]


async def loads(stack) -> dict[str, int]:
    return {row.id: row.load for row in await presence.load_summary(stack.store)}


# --- R9.2: the same history makes the same commands, however late the task runs ----------------------


async def test_r9_2_a_deadline_already_past_still_starts_a_timer(acme):
    """The transfer's fallback window (1 s, R6.4) is set from the step's start; the step waits 2.5 s
    for the store's write lock (held here, on the worker's own Store), so the window is over when
    its result lands. The old ``_wait`` computed ``max(deadline - now, 0)``: a zero timeout starts
    no timer and reroutes in the same task, so what the task emitted depended on the clock (a
    retried task after a worker crash could emit other commands than the first attempt)."""
    handle = await assigned(acme)
    async with acme.store.transaction():  # the route activity of the transfer waits for this
        transfer = asyncio.create_task(handle.execute_update(
            "transfer", {"by": "ann", "account": "parts", "skill": "slow"}))
        await asyncio.sleep(2.5)
    await transfer
    view = await acme.wait_for(handle, lambda v: "transfer_fallback" in kinds(v) and v["status"] == "offered")
    assert view["offer"]["agent"] == "ann" and view["handler_account"] is None, "fell back to acme/sales"

    history = await events(handle)
    assert of(history, "WORKFLOW_TASK_FAILED") == []
    routes = activities(history, "route")  # local activities: a marker each, once done
    done = routes[1].event_id  # step 1 opened it, step 2 is the transfer
    next_route = routes[2].event_id  # the fallback step
    timers = [e for e in of(history, "TIMER_STARTED") if done < e.event_id < next_route]
    assert timers, "a deadline already past must still start a timer"
    assert timers[0].timer_started_event_attributes.start_to_fire_timeout.ToMilliseconds() <= 1
    withdrawn = next(e for e in view["timeline"] if e["kind"] == "offer_withdrawn")
    assert withdrawn["agent"] == "pia" and "R6.4" in withdrawn["reason"], "the window, not pia's offer, ran out"

    replayer = Replayer(workflows=[Conversation], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(await handle.fetch_history())


# --- R9.2: no payload fails a workflow task ----------------------------------------------------------


async def test_r9_2_a_malformed_signal_is_recorded_as_rejected_and_fails_no_task(acme):
    """Every command signal and the two internal hints, sent as a raw client can send them. The
    old typed signal handlers raised a TypeError on a missing or extra input: a failed workflow
    task on every retry, and the conversation stuck."""
    handle = await assigned(acme)
    for name in (*COMMANDS, *HINTS):
        for args in MALFORMED.values():
            await handle.signal(name, args=args)
    expected = len(COMMANDS + HINTS) * len(MALFORMED)
    view = await acme.wait_for(handle, lambda v: kinds(v).count("rejected") == expected)
    rejected = [e["reason"] for e in view["timeline"] if e["kind"] == "rejected"]
    assert Counter(r.split(":")[0] for r in rejected) == {n: len(MALFORMED) for n in COMMANDS + HINTS}, rejected
    assert all(len(r) < 300 for r in rejected)
    assert (view["status"], view["assignee"]) == ("assigned", "ann"), "nothing moved"

    history = [e for run in await every_run(acme.client, handle.id) for e in run]  # it may continue as new
    signals = of(history, "WORKFLOW_EXECUTION_SIGNALED")
    assert len(signals) == expected
    assert any(p.metadata["encoding"] == b"binary/plain"
               for e in signals for p in e.workflow_execution_signaled_event_attributes.input.payloads)
    result = await handle.execute_update("close", {"by": "ann"})
    assert result["status"] == "closed"
    await handle.result()
    assert of(await events(handle), "WORKFLOW_TASK_FAILED") == []


async def test_r9_2_a_malformed_update_is_refused_by_its_validator_and_leaves_no_trace(acme):
    handle = await assigned(acme)
    before = await events(handle)
    for name in COMMANDS:
        for how, args in MALFORMED.items():
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(name, args=args)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError), (name, how)
            if how != "too deep to decode":  # that one the SDK refuses itself, before the validator
                assert cause.type == "InvalidInput" and cause.message.startswith(f"{name}: "), (name, how, cause)
    after = await events(handle)
    assert of(after, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == of(before, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    assert of(after, "WORKFLOW_TASK_FAILED") == []
    assert len(after) == len(before), "a validator's refusal is not written to the history"
    assert (await acme.state(handle))["status"] == "assigned"


# --- R7.6: a hint is checked against the store -------------------------------------------------------


async def test_r7_6_agent_deactivated_for_an_active_agent_changes_nothing(acme):
    """The old workflow took the hint at its word and moved the conversation away from ann."""
    handle = await assigned(acme)
    before = await loads(acme)
    await handle.signal("agent_deactivated", "ann")
    view = await acme.wait_for(handle, lambda v: "rejected" in kinds(v))
    rejected = next(e for e in view["timeline"] if e["kind"] == "rejected")
    assert "agent 'ann' is active" in rejected["reason"]
    assert (view["status"], view["assignee"]) == ("assigned", "ann")
    assert await loads(acme) == before
    assert [h.conversation_id for h in await presence.holds_of(acme.store, "ann")] == [view["conversation_id"]]
    assert of(await events(handle), "WORKFLOW_TASK_FAILED") == []


# --- R8.1, R7.3: rights over Temporal are the gateway's ----------------------------------------------


async def test_r8_1_a_close_by_an_agent_with_no_part_in_it_is_refused_over_temporal(acme):
    """The old ``close`` update closed for anyone who named themselves in ``by``."""
    handle = await assigned(acme)
    before = await acme.state(handle)
    for stranger in ("oz", "bob", "pia"):  # another account; the owner's, not the assignee; the handler-to-be
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("close", {"by": stranger})
        assert refused.value.cause.type == "NotAllowed", refused.value.cause
        assert f"'{stranger}' may not close" in refused.value.cause.message
    assert await acme.state(handle) == before
    assert (await handle.execute_update("close", {"by": "mia"}))["status"] == "closed", "an owner manager may"


async def test_r7_3_reassign_to_hero_by_a_stranger_is_refused(acme):
    """The old workflow asked the store for the hero and moved it, whoever asked."""
    handle = await assigned(acme, customer="cust-h")
    await heroes.set_hero(acme.store, "acme", "cust-h", agent="bob")
    before = await acme.state(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("reassign_to_hero", {"by": "oz"})
    assert refused.value.cause.type == "NotAllowed", refused.value.cause
    assert await acme.state(handle) == before
    assert [h.conversation_id for h in await presence.holds_of(acme.store, "bob")] == []
    view = await handle.execute_update("reassign_to_hero", {"by": "ann"})  # the assignee may
    assert view["assignee"] is None and (await acme.offered(handle, "bob"))["offer"]["agent"] == "bob"


# --- R8.4: an id is used once, whoever starts it ---------------------------------------------------


async def test_r8_4_a_closed_id_started_again_by_a_raw_client_fails_at_once_and_holds_nothing(acme):
    """The old workflow had no first-run check: the second run routed, was offered to ann and
    took her slot."""
    handle = await assigned(acme)
    conversation_id = handle.id.removeprefix("conversation-")
    start = (await acme.state(handle))
    await handle.execute_update("close", {"by": "ann"})
    await handle.result()
    assert await loads(acme) == {a: 0 for a in ("ann", "bob", "mia", "oz", "pia")}
    again = await acme.client.start_workflow(
        "Conversation", {k: start[k] for k in ("conversation_id", "account", "skill", "channel", "customer")},
        id=workflow_id(conversation_id), task_queue=acme.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
    assert again.result_run_id != handle.result_run_id
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(again.result(), timeout=15)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "IdReused" and cause.non_retryable, cause
    assert "never reused" in cause.message and conversation_id in cause.message
    assert await loads(acme) == {a: 0 for a in ("ann", "bob", "mia", "oz", "pia")}
    assert await presence.queue_length(acme.store, SkillRef(account="acme", skill="sales")) == 0
    assert of(await events(again), "WORKFLOW_TASK_FAILED") == []


async def test_r8_1_a_carried_state_naming_another_conversation_is_refused_and_releases_nothing(stack):
    """A raw start with a second input (what continue-as-new carries) that names another
    conversation must not close that one's books or free its slot when it ends."""
    await stack.load(DIRECTORY)
    victim = await stack.start("acme", "sales")
    offered = (await stack.offered(victim))["offer"]["agent"]
    start = StartConversation(conversation_id="forged-1", account="acme", skill="sales", channel="web",
                              customer="c")
    carried = ConversationState.opened(start, now(), now()).model_copy(
        update={"conversation_id": stack.started[-1], "status": "assigned", "assignee": offered})
    forged = await stack.client.start_workflow(
        "Conversation", args=[start.model_dump(mode="json"), carried.model_dump(mode="json")],
        id="conversation-forged-1", task_queue=stack.task_queue)
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(forged.result(), 20)  # before: it ran on as "assigned", for ever
    assert "another conversation's" in failure.value.cause.message
    assert [h.conversation_id for h in await presence.holds_of(stack.store, offered)] == [stack.started[-1]]
