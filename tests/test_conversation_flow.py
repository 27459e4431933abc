"""SPEC R1, R2, R8 on the real Temporal dev server (update paths)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.service import RPCError

from service import conversations
from store import presence
from workflows import search_attributes as sa

DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    skills:
      - id: sales
        accept_timeout: 30s
      - id: closed-skill
        enabled: false
    agents:
      - {id: ann, skills: [sales], capacity: 2, status: online}
      - {id: bob, skills: [sales], capacity: 2, status: online}
      - {id: cat, skills: [sales], capacity: 1, status: offline}
"""


@pytest.fixture
async def acme(stack):
    await stack.load(DIRECTORY)
    return stack


async def test_r1_1_start_offers_to_an_online_agent_of_the_skill(acme):
    handle = await acme.start("acme", "sales", first_message="Hi")
    view = await acme.offered(handle)
    assert view["offer"]["agent"] in ("ann", "bob")
    assert view["account"] == "acme" and view["skill"] == "sales" and view["brand_name"] == "Acme Motors"
    assert view["handler_account"] is None and view["assignee"] is None
    assert [e["kind"] for e in view["timeline"]][:1] == ["started"]


async def test_r1_2_starting_the_same_conversation_twice_keeps_one(acme):
    conversation_id = f"t-{uuid.uuid4().hex[:8]}"
    first = await acme.start("acme", "sales", conversation_id=conversation_id)
    second = await acme.start("acme", "sales", conversation_id=conversation_id)
    assert first.id == second.id
    assert second.result_run_id == first.result_run_id
    await acme.offered(first)
    holds = [h for agent in ("ann", "bob") for h in await presence.holds_of(acme.store, agent)]
    assert [h.conversation_id for h in holds] == [conversation_id]


async def test_r1_2_a_closed_conversation_id_cannot_be_started_again(acme):
    handle = await acme.start("acme", "sales")
    await handle.execute_update("close", {"by": "admin", "reason": "customer left"})
    await handle.result()
    with pytest.raises(WorkflowAlreadyStartedError):
        await acme.start("acme", "sales", conversation_id=acme.started[-1])


@pytest.mark.parametrize(("account", "skill", "needle"), [
    ("nope", "sales", "unknown account 'nope'"),
    ("acme", "nope", "unknown skill 'nope'"),
    ("acme", "closed-skill", "skill 'closed-skill' of account 'acme' is disabled"),
])
async def test_r1_3_unknown_or_disabled_target_fails_naming_the_field(acme, account, skill, needle):
    handle = await acme.start(account, skill)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    assert needle in cause.message
    assert await presence.queue_length(acme.store, _ref(account, skill)) == 0


@pytest.mark.parametrize(("payload", "needle"), [
    ({"account": "acme", "skill": "sales", "channel": "web"}, "missing field 'customer'"),
    ({"account": "acme", "skill": "sales", "channel": "fax", "customer": "c"}, "'channel' = 'fax'"),
    ({"account": "acme", "skill": "sales", "channel": "web", "customer": "c", "priority": "high"}, "'priority'"),
    ({"account": "acme", "skill": "sales", "channel": "web", "customer": "c", "colour": "red"},
     "unknown field 'colour'"),
])
async def test_r1_3_malformed_start_fails_naming_the_field(acme, payload, needle):
    conversation_id = f"t-{uuid.uuid4().hex[:8]}"
    handle = await acme.client.start_workflow(
        "Conversation", {"conversation_id": conversation_id, **payload},
        id=f"conversation-{conversation_id}", task_queue=acme.task_queue)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert needle in failure.value.cause.message


async def test_r1_3_a_start_input_that_is_not_an_object_fails_naming_it(acme):
    conversation_id = f"t-{uuid.uuid4().hex[:8]}"
    handle = await acme.client.start_workflow("Conversation", "oops", id=f"conversation-{conversation_id}",
                                              task_queue=acme.task_queue)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert failure.value.cause.message == "start: expected a JSON object, got str"


@pytest.mark.parametrize("command", ["accept", "decline", "close", "transfer", "rollback", "reassign_to_hero",
                                     "join", "private_message"])
async def test_r2_5_a_command_that_is_not_an_object_is_refused_naming_it(acme, command):
    handle = await acme.start("acme", "sales")
    before = await acme.offered(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(command, "oops")
    assert refused.value.cause.message == f"{command}: expected a JSON object, got str"
    assert await acme.state(handle) == before


async def test_r1_3_workflow_id_must_match_the_conversation_id(acme):
    handle = await acme.client.start_workflow(
        "Conversation", {"conversation_id": "c-1", "account": "acme", "skill": "sales", "channel": "web",
                         "customer": "c"}, id=f"wrong-{uuid.uuid4().hex[:6]}", task_queue=acme.task_queue)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert "needs workflow id 'conversation-c-1'" in failure.value.cause.message


async def test_r2_1_offer_goes_to_the_least_loaded_agent(acme):
    busy = await acme.start("acme", "sales")
    first = (await acme.offered(busy))["offer"]["agent"]
    handle = await acme.start("acme", "sales")
    view = await acme.offered(handle)
    assert view["offer"]["agent"] != first, "the agent already holding an offer is more loaded"


async def test_r2_2_decline_offers_the_next_agent_and_never_the_decliner_again(acme):
    handle = await acme.start("acme", "sales")
    first = (await acme.offered(handle))["offer"]["agent"]
    await handle.execute_update("decline", {"agent": first, "reason": "wrong language"})
    view = await acme.wait_for(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] != first)
    second = view["offer"]["agent"]
    await handle.execute_update("decline", {"agent": second})
    view = await acme.wait_for(handle, lambda v: v["status"] == "queued")
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("declined") == 2 and kinds[-1] == "queued"
    assert all(row.load == 0 for row in await presence.load_summary(acme.store))


async def test_r2_3_queue_serves_highest_priority_then_oldest_when_an_agent_comes_online(acme):
    for agent in ("ann", "bob"):
        await acme.set_status(agent, "offline")
    low = await acme.start("acme", "sales", priority=0)
    old = await acme.start("acme", "sales", priority=5)
    new = await acme.start("acme", "sales", priority=5)
    for handle in (low, old, new):
        await acme.wait_for(handle, lambda v: v["status"] == "queued")
    await acme.set_status("cat", "online")  # capacity 1: exactly one can be offered
    await acme.offered(old, "cat")
    for handle in (low, new):
        assert (await acme.state(handle))["status"] == "queued"
    await old.execute_update("accept", {"agent": "cat"})
    await old.execute_update("close", {"by": "cat", "reason": "done"})
    await acme.offered(new, "cat")  # woken by the close, not by the 30 s re-check
    assert (await acme.state(low))["status"] == "queued"


async def test_r2_4_no_agent_exceeds_capacity_and_no_conversation_is_held_twice(acme):
    await acme.set_status("bob", "offline")
    handles = [await acme.start("acme", "sales") for _ in range(4)]  # ann has capacity 2
    for handle in handles:
        await acme.wait_for(handle, lambda v: v["status"] in ("offered", "queued"))
    views = [await acme.state(h) for h in handles]
    assert sum(v["status"] == "offered" for v in views) == 2
    assert {v["offer"]["agent"] for v in views if v["offer"]} == {"ann"}
    ann = next(r for r in await presence.load_summary(acme.store) if r.id == "ann")
    assert ann.load == ann.capacity == 2


async def test_r2_5_accepting_an_offer_that_is_not_yours_is_refused_and_changes_nothing(acme):
    handle = await acme.start("acme", "sales")
    view = await acme.offered(handle)
    other = "bob" if view["offer"]["agent"] == "ann" else "ann"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("accept", {"agent": other})
    assert "not for agent" in refused.value.cause.message
    with pytest.raises(WorkflowUpdateFailedError) as malformed:
        await handle.execute_update("accept", {"agnet": other})
    assert "missing field 'agent'" in malformed.value.cause.message
    assert await acme.state(handle) == view


async def test_r2_5_an_invalid_signal_is_recorded_as_rejected_and_changes_nothing(acme):
    handle = await acme.start("acme", "sales")
    view = await acme.offered(handle)
    await handle.signal("accept", {"agent": "nobody"})
    after = await acme.wait_for(handle, lambda v: v["timeline"][-1]["kind"] == "rejected")
    assert "not for agent 'nobody'" in after["timeline"][-1]["reason"]
    assert after["status"] == "offered" and after["offer"] == view["offer"]


async def test_r2_2_accept_by_signal_assigns(acme):
    handle = await acme.start("acme", "sales")
    agent = (await acme.offered(handle))["offer"]["agent"]
    await handle.signal("accept", {"agent": agent})
    view = await acme.wait_for(handle, lambda v: v["status"] == "assigned")
    assert view["assignee"] == agent


async def test_r8_1_close_frees_capacity_and_ends_with_the_full_timeline(acme):
    handle = await acme.start("acme", "sales")
    agent = (await acme.offered(handle))["offer"]["agent"]
    assigned = await handle.execute_update("accept", {"agent": agent})
    assert assigned["status"] == "assigned" and assigned["assignee"] == agent
    await handle.execute_update("close", {"by": agent, "reason": "resolved"})
    result = await handle.result()
    assert result["status"] == "closed"
    assert [e["kind"] for e in result["timeline"]] == [
        "started", "rollover_decision", "offered", "accepted", "closed"]
    assert all(set(e) >= {"at", "kind", "actor", "account", "skill", "agent", "reason"} for e in result["timeline"])
    assert next(r for r in await presence.load_summary(acme.store) if r.id == agent).load == 0


async def test_an_update_answers_compactly_with_what_it_added_and_the_state_query_stays_full(acme):
    """Issue 14: an update's result (kept in the history's update event) does not grow with the
    conversation: no timeline, no notes, only the events the command added. Before: every update
    returned the whole view, so a long conversation's history grew with the square of its length."""
    handle = await acme.start("acme", "sales")
    agent = (await acme.offered(handle))["offer"]["agent"]
    sizes = []
    for n in range(6):
        await handle.signal("decline", {"agent": "nobody"})  # rejected: one more timeline event each
        answer = await handle.execute_update("accept" if n == 0 else "join", {"agent": agent} if n == 0 else
                                             {"manager": "admin"})
        assert "timeline" not in answer and "notes" not in answer and answer["status"] == "assigned"
        sizes.append(len(str(answer)))
    assert [e["kind"] for e in (await handle.execute_update("close", {"by": agent}))["events"]] == ["closed"]
    assert max(sizes[1:]) - min(sizes[1:]) < 200, f"the answer does not grow with the timeline: {sizes}"
    full = await handle.query("state")
    assert [e["kind"] for e in full["timeline"]].count("rejected") == 6 and full["timeline"][-1]["kind"] == "closed"
    summary = await handle.query("summary")
    assert "timeline" not in summary and summary["timeline_length"] == len(full["timeline"])


async def test_an_update_asked_for_the_full_view_answers_what_the_state_query_shows(acme):
    """CONTRACT: ``"view": "full"`` in any command's input makes the update answer the full view
    (what the HTTP gateway asks, so it needs no query before an accept); without it, compact."""
    handle = await acme.start("acme", "sales")
    agent = (await acme.offered(handle))["offer"]["agent"]
    answer = await handle.execute_update("accept", {"agent": agent, "view": "full"})
    assert answer == await handle.query("state")
    assert [e["kind"] for e in answer["timeline"]][-2:] == ["offered", "accepted"]
    compact = await handle.execute_update("join", {"manager": "admin", "view": "compact"})
    assert "timeline" not in compact and [e["kind"] for e in compact["events"]] == ["joined"]


async def _task_started(handle) -> None:
    """Until a worker has picked up the workflow's pending task (it runs, it has not answered)."""
    for _ in range(200):
        pending = (await handle.describe()).raw_description.pending_workflow_task
        if pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the close's workflow task never started")


async def test_r8_1_a_close_racing_a_signal_lands_once(acme):
    """Issue 14: the release runs in the close's own workflow task, which completes the workflow.
    A signal that reaches the server meanwhile makes it refuse that task and abort the close's
    update (nothing applied); ``service.conversations`` sends the update again with the same id,
    so the caller's close succeeds, the conversation closes once and the slot is free. The store
    is held so that the signal lands while the release waits for it."""
    handle = await acme.start("acme", "sales")
    agent = (await acme.offered(handle))["offer"]["agent"]
    await handle.execute_update("accept", {"agent": agent})
    cid = handle.id.removeprefix("conversation-")
    async with acme.store.transaction():  # the release waits for this
        closing = asyncio.create_task(conversations.command(acme.client, cid, "close", {"by": agent, "reason": "bye"}))
        await _task_started(handle)
        await handle.signal("wake")
    answer = await asyncio.wait_for(closing, 30)
    assert answer["status"] == "closed" and [e["kind"] for e in answer["events"]] == ["closed"]
    result = await handle.result()
    assert [e["kind"] for e in result["timeline"]].count("closed") == 1
    assert next(r for r in await presence.load_summary(acme.store) if r.id == agent).load == 0
    refused = [e for e in (await handle.fetch_history()).events if e.HasField("workflow_task_failed_event_attributes")]
    assert refused, "the race happened: the server refused the task that would have closed it"


async def test_r8_1_closing_a_queued_conversation_leaves_the_queue(acme):
    for agent in ("ann", "bob"):
        await acme.set_status(agent, "offline")
    handle = await acme.start("acme", "sales")
    await acme.wait_for(handle, lambda v: v["status"] == "queued")
    await handle.execute_update("close", {"by": "admin", "reason": "customer left"})
    await handle.result()
    assert await presence.queue_length(acme.store, _ref("acme", "sales")) == 0


async def test_r8_1_a_close_that_arrives_while_routing_wins(acme):
    """Start and close at once, many times: the close lands while the route activity runs.

    The route's offer must not resurrect the conversation, and its hold must be released.
    """
    handles = [await acme.start("acme", "sales") for _ in range(8)]
    # Through the service, as the gateway and the CLI send commands: the releases wake queued
    # conversations, and a wake that lands while a close's task completes is answered
    # WorkflowNotReady, which the service sends again.
    closes = [conversations.command(acme.client, h.id.removeprefix("conversation-"), "close",
                                    {"by": "admin", "reason": "customer left"}) for h in handles]
    await asyncio.gather(*closes)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=30)
    assert all(r["status"] == "closed" and r["timeline"][-1]["kind"] == "closed" for r in results)
    assert all(r.load == 0 for r in await presence.load_summary(acme.store))


async def test_r8_3_commands_to_a_closed_conversation_are_refused(acme):
    handle = await acme.start("acme", "sales")
    await acme.offered(handle)
    await handle.execute_update("close", {"by": "admin", "reason": "bye"})
    for name, body in (("accept", {"agent": "ann"}), ("close", {"by": "ann"})):
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refused:
            await handle.execute_update(name, body)
        # Refused by the validator while the workflow finishes, or by the server once it has.
        message = getattr(refused.value.cause, "message", None) or str(refused.value)
        assert "is closed" in message or "clos" in message.lower() or "completed" in message.lower(), message
    result = await handle.result()
    assert result["status"] == "closed" and result["timeline"][-1]["kind"] == "closed"


async def test_search_attributes_follow_the_conversation(acme):
    handle = await acme.start("acme", "sales", channel="sms", customer="cust-sa")
    agent = (await acme.offered(handle))["offer"]["agent"]
    await handle.execute_update("accept", {"agent": agent})
    await acme.wait_for(handle, lambda v: v["status"] == "assigned")
    desc = await handle.describe()
    attrs = desc.typed_search_attributes
    assert attrs.get(sa.ASSIGNED_AGENT) == agent
    assert attrs.get(sa.CONVERSATION_STATUS) == "assigned"
    assert (attrs.get(sa.OWNER_ACCOUNT), attrs.get(sa.OWNER_SKILL)) == ("acme", "sales")
    assert (attrs.get(sa.CHANNEL), attrs.get(sa.CUSTOMER_ID)) == ("sms", "cust-sa")
    assert attrs.get(sa.ROLLOVER_MODE) == "none" and attrs.get(sa.HANDLER_ACCOUNT) is None


def _ref(account: str, skill: str):
    from routing.directory import SkillRef

    return SkillRef(account=account, skill=skill)
