"""DESIGN "Every step is fenced", in the workflow: moves, timers, clocks and rights on the dev
server (issue 10's findings). Each test says what the workflow before the redesign (commit
6680cc5) did instead.

Account ids carry a per-test suffix, so nothing one test leaves on the shared dev server meets
another. Times are real: the timers here are a few seconds long.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.worker import _workflow as workflow_worker
from temporalio.worker._workflow_instance import _WorkflowLogicFlag

from gateway import conversations as gateway_conversations
from gateway import create_app
from routing.directory import SkillRef
from routing.model import Event, StartConversation
from store import presence, tokens
from store import schema as t
from service import conversations
from worker import build_worker
from workflows import search_attributes as sa
from workflows.conversation import workflow_id
from workflows.state import ConversationState
from test_robustness import activities, local_result


def _directory(n: str) -> str:
    return f"""
accounts:
  - id: acme{n}
    brand: {{name: Acme Motors}}
    skills:
      - id: sales
        accept_timeout: 120s
        transfer_targets: [{{account: parts{n}, skill: slow}}, {{account: parts{n}, skill: service}}]
      - id: billing
        transfer_targets: [{{account: parts{n}, skill: service}}]
      - id: waiting
      - id: full
        accept_timeout: 2s
      - id: quick
        accept_timeout: 2s
      - id: backup
        accept_timeout: 60s
        rollover: {{mode: backup, handler: {{account: parts{n}, skill: service}}, backup_window: 3s}}
    agents:
      - {{id: ann{n}, skills: [sales, quick, backup], capacity: 5, status: online}}
      - {{id: ben{n}, skills: [sales], capacity: 5, status: online}}
      - {{id: bob{n}, skills: [billing], capacity: 2, status: online}}
      - {{id: bea{n}, skills: [full], capacity: 1, status: online}}
      - {{id: wes{n}, skills: [waiting], capacity: 1, status: offline}}
      - {{id: mia{n}, role: manager}}
  - id: parts{n}
    brand: {{name: Parts Co}}
    skills:
      - id: service
      - id: slow
        accept_timeout: 2s
    agents:
      - {{id: pia{n}, skills: [service, slow], capacity: 5, status: online}}
  - id: globex{n}
    brand: {{name: Globex}}
    skills: [{{id: claims}}]
    agents:
      - {{id: sam{n}, skills: [claims], capacity: 1, status: online}}
gateways:
  - {{name: web{n}, accounts: [acme{n}]}}
"""


class Names:
    def __init__(self, n: str) -> None:
        for name in ("acme", "parts", "globex", "ann", "ben", "bob", "bea", "wes", "mia", "pia", "sam", "web"):
            setattr(self, name, f"{name}{n}")


@pytest.fixture
async def world(stack):
    n = "-" + uuid.uuid4().hex[:6]
    await stack.load(_directory(n))
    return stack, Names(n)


def _kinds(view) -> list[str]:
    return [e["kind"] for e in view["timeline"]]


def _event(view, kind: str) -> dict:
    """The first event of ``kind`` in a full view's timeline, or in what an update added."""
    return next(e for e in view["timeline" if "timeline" in view else "events"] if e["kind"] == kind)


def _at(event: dict) -> datetime:
    return datetime.fromisoformat(event["at"])


async def _assigned(stack, handle, agent: str):
    await stack.offered(handle, agent)
    return await handle.execute_update("accept", {"agent": agent})


async def _route_steps(handle) -> list[int]:
    """The step of every routing activity the workflow scheduled, in order."""
    return [local_result(e)["step"] for e in activities(list((await handle.fetch_history()).events), "route")]


@asynccontextmanager
async def _worker(stack, task_queue: str):
    async with build_worker(stack.client, stack.store, task_queue):
        yield


# ---- R2.4: a refused move spends its step ----------------------------------------------------------


async def test_r2_4_a_refused_move_still_spends_its_step_number(world):
    """Every routing step has a number of its own, refused or not. Before: the number was taken
    only when the store accepted the step, so the next one reused the refused move's."""
    stack, names = world
    handle = await stack.start(names.acme, "billing")
    await _assigned(stack, handle, names.bob)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("transfer", {"by": names.bob, "account": names.parts, "skill": "slow"})
    assert refused.value.cause.type == "TransferNotAllowed"
    await handle.execute_update("transfer", {"by": names.bob, "account": names.parts, "skill": "service"})
    await stack.offered(handle, names.pia)
    assert await _route_steps(handle) == [1, 2, 3]


# ---- a move that keeps the status re-arms the wait ---------------------------------------------------


async def test_r6_4_a_transfer_between_offers_rearms_the_offer_clock_and_the_fallback_fires(world):
    """Offered in sales (120 s to answer), then transferred to parts/slow (2 s): the new offer
    expires after about 2 s and R6.4 sends it back to sales; the search attributes say where it
    is after each move. Before: offered -> offered left the 120 s timer running and published
    nothing, so the fallback waited two minutes and HandlerAccount stayed empty."""
    stack, names = world
    handle = await stack.start(names.acme, "sales")
    first = (await stack.offered(handle))["offer"]["agent"]
    view = await handle.execute_update("transfer", {"by": names.mia, "account": names.parts, "skill": "slow"})
    assert view["status"] == "offered" and view["offer"]["agent"] == names.pia
    attrs = await _attributes(handle, lambda a: a.get(sa.HANDLER_ACCOUNT) == names.parts, timeout=1.5)
    assert (attrs.get(sa.HANDLER_SKILL), attrs.get(sa.CONVERSATION_STATUS), attrs.get(sa.ASSIGNED_AGENT)) == \
        ("slow", "offered", None)

    view = await stack.wait_for(handle, lambda v: "transfer_fallback" in _kinds(v) and v["status"] == "offered",
                                timeout=10)
    waited = _at(_event(view, "transfer_fallback")) - _at(_event(view, "transferred"))
    assert timedelta(seconds=1.9) <= waited < timedelta(seconds=6), waited
    assert _event(view, "transfer_fallback")["reason"].startswith("R6.4 nobody of")
    assert view["handler_account"] is None and view["offer"]["agent"] in (names.ann, names.ben)
    await _attributes(handle, lambda a: a.get(sa.HANDLER_ACCOUNT) is None, timeout=3)
    await handle.execute_update("accept", {"agent": view["offer"]["agent"]})
    attrs = await _attributes(handle, lambda a: a.get(sa.CONVERSATION_STATUS) == "assigned", timeout=3)
    assert attrs.get(sa.ASSIGNED_AGENT) == view["offer"]["agent"] and first in (names.ann, names.ben)


async def test_r6_4_a_transfer_between_queues_rearms_the_wait(world):
    """Queued in acme/waiting (nobody online), a manager moves it to acme/full, whose one agent is
    busy and whose acceptance window is 2 s: it queues there, and after about 2 s R6.4 sends it
    back. Before: queued -> queued kept the old 30 s queue re-check, so nothing happened for 30 s."""
    stack, names = world
    busy = await stack.start(names.acme, "full", customer="cust-busy")
    await _assigned(stack, busy, names.bea)
    handle = await stack.start(names.acme, "waiting")
    await stack.wait_for(handle, lambda v: v["status"] == "queued")
    view = await handle.execute_update("transfer", {"by": names.mia, "skill": "full"})
    assert view["status"] == "queued" and [e["kind"] for e in view["events"]][-2:] == ["transferred", "queued"]
    view = await stack.wait_for(handle, lambda v: "transfer_fallback" in _kinds(v), timeout=10)
    waited = _at(_event(view, "transfer_fallback")) - _at(_event(view, "transferred"))
    assert timedelta(seconds=1.9) <= waited < timedelta(seconds=6), waited
    assert _event(view, "transfer_fallback")["skill"] == "waiting"
    assert await presence.queue_length(stack.store, SkillRef(account=names.acme, skill="waiting")) == 1


async def _attributes(handle, predicate, *, timeout: float):
    """The search attributes once ``predicate`` holds of them (the upsert follows the move)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        attrs = (await handle.describe()).typed_search_attributes
        if predicate(attrs):
            return attrs
        if loop.time() > deadline:
            raise AssertionError(f"search attributes not as expected within {timeout}s: {attrs}")
        await asyncio.sleep(0.05)


# ---- R2.5: an accept racing a move ------------------------------------------------------------------


async def test_r2_5_an_accept_racing_a_move_is_refused(world):
    """The store is held while a manager's transfer is on its way: the offered agent's accept is
    refused (the offer was withdrawn when the move began), and the conversation ends offered to
    the transfer's target, never assigned to the old agent. Before: the offer stayed open while
    the move ran, the accept went through, and the move then took it away from the assignee."""
    stack, names = world
    handle = await stack.start(names.acme, "sales")
    agent = (await stack.offered(handle))["offer"]["agent"]
    async with stack.store.transaction():  # the worker's route step waits for this
        # Accepted means the move's handler has begun (the offer withdrawn) before the accept is
        # even delivered. The route is a local activity: while it waits for the store, the
        # workflow task stays open and is only heartbeated (about every 8 s), so a `state` query
        # could wait that long and time out on a loaded machine; the update's stage does not.
        moving = await handle.start_update("transfer", {"by": names.mia, "account": names.parts, "skill": "service"},
                                           wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("accept", {"agent": agent})
        assert refused.value.cause.type == "NoOffer"
    view = await moving.result()
    assert view["status"] == "offered" and view["offer"]["agent"] == names.pia
    assert "accepted" not in _kinds(await stack.state(handle))
    assert await presence.holds_of(stack.store, agent) == []


# ---- continue-as-new --------------------------------------------------------------------------------


async def test_r2_2_continue_as_new_carries_the_pending_re_route(world):
    """A run that starts from state carried right after a decline (status routing, the re-route
    pending, the decliner excluded) routes at once, to someone else. Before: the pending re-route
    lived outside the carried state, so the new run waited forever in 'routing'."""
    stack, names = world
    conversation_id = f"t-{uuid.uuid4().hex[:12]}"
    start = StartConversation(conversation_id=conversation_id, account=names.acme, skill="sales", channel="web",
                              customer="cust-1")
    now = datetime.now().astimezone()
    carried = ConversationState.opened(start, now - timedelta(seconds=5), now - timedelta(seconds=5))
    carried.step, carried.status, carried.pending, carried.excluded = 1, "routing", "declined", [names.ann]
    carried.target = SkillRef(account=names.acme, skill="sales")
    carried.brand_name, carried.rollover_mode = "Acme Motors", "none"
    carried.extend([Event(at=now - timedelta(seconds=5), kind="started"),
                    Event(at=now - timedelta(seconds=4), kind="offered", agent=names.ann),
                    Event(at=now - timedelta(seconds=1), kind="declined", agent=names.ann, actor=names.ann)])
    # Ann would be first (same load, same idle time, first by id) if she had not declined.
    handle = await stack.client.start_workflow(
        "Conversation", args=[start.model_dump(mode="json"), carried.model_dump(mode="json")],
        id=workflow_id(conversation_id), task_queue=stack.task_queue)
    stack.started.append(conversation_id)
    view = await stack.offered(handle, names.ben)
    assert _kinds(view)[-1] == "offered"
    assert await presence.holds_of(stack.store, names.ann) == []


async def test_bounded_history_a_run_that_only_receives_messages_rolls_over(world):
    """500 rejected signals to an assigned conversation: its history passes the limit (80 events,
    ``HISTORY_LIMIT``) several times over while the status stays 'assigned', so it continues as
    new (more than one run) and still answers after. Before: the limit was checked between status
    changes only, so the history grew without end."""
    stack, names = world
    handle = await stack.start(names.acme, "billing")
    await _assigned(stack, handle, names.bob)
    first_run = (await handle.describe()).run_id
    current = stack.handle(handle.id.removeprefix("conversation-"))
    for batch in range(5):
        await asyncio.gather(*(current.signal("accept", {"agent": names.bob}) for _ in range(50)),
                             *(current.signal("join", {"nobody": batch}) for _ in range(50)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (described := await current.describe()).run_id == first_run and loop.time() < deadline:
        await asyncio.sleep(0.2)  # the last signals may still be in the run's next task
    assert described.run_id != first_run, f"one run, {described.history_length} events"
    view = await stack.state(current)
    assert view["status"] == "assigned" and view["assignee"] == names.bob
    assert view["earlier_events"] > 0 and _kinds(view)[-1] == "rejected"
    closed = await current.execute_update("close", {"by": names.bob})
    assert closed["status"] == "closed"


# ---- R5.6: rights judged on the state when the command applies -------------------------------------


async def test_r5_6_a_close_by_an_agent_with_no_part_in_it_is_refused(world):
    """Over Temporal, with no gateway in front: Sam of Globex may not close Acme's conversation.
    Before: the workflow took any close a client sent."""
    stack, names = world
    handle = await stack.start(names.acme, "billing")
    await _assigned(stack, handle, names.bob)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("close", {"by": names.sam})
    assert refused.value.cause.type == "NotAllowed"
    await handle.signal("close", {"by": names.sam})
    view = await stack.wait_for(handle, lambda v: _kinds(v)[-1] == "rejected")
    assert view["status"] == "assigned" and view["assignee"] == names.bob


async def test_r5_6_an_owner_agent_closing_after_a_rollover_is_refused_by_the_gateway_and_a_client_alike(
        world, monkeypatch):
    """Ann had it, then transferred it to Parts (a manual rollover) and Pia took it. A close by Ann
    is refused whether it comes over Temporal or through the gateway, including a gateway that
    read the conversation before the rollover (its own check passed on that stale read): the
    workflow judges the state as it is when the close applies. Before: both closed it."""
    stack, names = world
    handle = await stack.start(names.acme, "sales")
    view = await stack.offered(handle)
    ann = view["offer"]["agent"]
    await handle.execute_update("accept", {"agent": ann})

    app = create_app(store=stack.store, client=stack.client, task_queue=stack.task_queue)
    bearer = await tokens.create(stack.store, ann)
    real_visible = gateway_conversations.visible

    async def read_then_roll_over(gw, party, conversation_id):
        seen = await real_visible(gw, party, conversation_id)  # Ann is the assignee in this read
        await handle.execute_update("transfer", {"by": ann, "account": names.parts, "skill": "service"})
        await _assigned(stack, handle, names.pia)
        return seen

    monkeypatch.setattr(gateway_conversations, "visible", read_then_roll_over)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        response = await http.post(f"/conversations/{handle.id.removeprefix('conversation-')}/close", json={},
                                   headers={"Authorization": f"Bearer {bearer}"})
        monkeypatch.setattr(gateway_conversations, "visible", real_visible)
        fresh = await http.post(f"/conversations/{handle.id.removeprefix('conversation-')}/close", json={},
                                headers={"Authorization": f"Bearer {bearer}"})
    with pytest.raises(WorkflowUpdateFailedError) as raw:
        await handle.execute_update("close", {"by": ann})

    assert response.status_code == 403, response.text
    assert (response.json()["error"], response.json()["message"]) == (raw.value.cause.type, raw.value.cause.message)
    assert raw.value.cause.type == "NotAllowed"
    assert fresh.status_code == 404  # R5.1: with the gateway's own fresh read, Ann does not see it at all
    view = await stack.state(handle)
    assert view["status"] == "assigned" and view["assignee"] == names.pia and view["handler_account"] == names.parts


# ---- the right clock -------------------------------------------------------------------------------


async def test_r2_3_queue_order_is_arrival_order_even_when_no_worker_ran_at_arrival(world):
    """Five conversations start 0.2 s apart on a task queue nobody polls yet, then a worker comes:
    their queue places are in start order, 0.2 s apart. Before: ``waiting_since`` was the time of
    the first workflow task, when the worker came, so all five got about the same instant."""
    stack, names = world
    await stack.set_status(names.wes, "offline")
    task_queue = f"tq-{uuid.uuid4().hex[:10]}"
    ids = [f"t-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    for conversation_id in ids:
        await conversations.start(stack.client, StartConversation(
            conversation_id=conversation_id, account=names.acme, skill="waiting", channel="web", customer="c"),
            task_queue)
        stack.started.append(conversation_id)
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    async with _worker(stack, task_queue):
        for conversation_id in ids:
            await stack.wait_for(stack.handle(conversation_id), lambda v: v["status"] == "queued")
        waiting = {r.conversation_id: r.waiting_since for r in await _rows(stack, t.queue)}
        for conversation_id in ids:
            await stack.handle(conversation_id).terminate("test finished")
    since = [waiting[c] for c in ids]
    assert since == sorted(since)
    assert all(later - earlier >= timedelta(seconds=0.15) for earlier, later in zip(since, since[1:])), since


async def _rows(stack, table) -> list:
    async with stack.store.engine.connect() as conn:
        return list(await conn.execute(select(table)))


async def test_r2_2_the_acceptance_clock_starts_when_the_offer_lands(world):
    """The store is held for 3 s while the first routing step waits (skill quick: 2 s to accept):
    when the offer lands it still has about 2 s to live, and Ann's accept goes through. Before:
    the store dated the offer from the step's start, so it landed already expired."""
    stack, names = world
    async with stack.store.transaction():
        handle = await stack.start(names.acme, "quick")
        await asyncio.sleep(3)
    view = await stack.offered(handle, names.ann)
    started, offered = _at(_event(view, "started")), _at(_event(view, "offered"))
    assert offered - started >= timedelta(seconds=2.5)
    assert datetime.fromisoformat(view["offer"]["expires_at"]) - offered == timedelta(seconds=2)
    view = await handle.execute_update("accept", {"agent": names.ann})
    assert view["status"] == "assigned"


@pytest.mark.parametrize("single_batch", [False, True], ids=["legacy-order", "single-batch"])
async def test_r3_3_an_accept_and_a_deadline_in_one_task_do_not_close_it(world, monkeypatch, single_batch):
    """The worker stops while Ann has the offer (skill backup: 3 s backup window, 60 s to accept);
    her accept arrives as a signal, the backup window closes, and only then a worker comes back:
    the accept and the timer land in one workflow task. She has it, and it is not closed as an
    idle timeout.

    With the SDK's legacy job order, signals run (and wait conditions are checked) before timers
    fire, so the wait ends on the accept. With single-batch activations (SDK logic flag 2, which
    the SDK means to make its default) the accept and the timer are applied together and the wait
    times out with the conversation already assigned: the deadline is judged again on the state.
    Before: that deadline handler closed any assigned conversation as an idle timeout."""
    stack, names = world
    task_queue = f"tq-{uuid.uuid4().hex[:10]}"
    conversation_id = f"t-{uuid.uuid4().hex[:12]}"
    async with _worker(stack, task_queue):
        handle = await conversations.start(stack.client, StartConversation(
            conversation_id=conversation_id, account=names.acme, skill="backup", channel="web", customer="c"),
            task_queue)
        stack.started.append(conversation_id)
        await stack.offered(handle, names.ann)
    await handle.signal("accept", {"agent": names.ann})
    await asyncio.sleep(4)  # the backup window closes while nobody runs the workflow
    if single_batch:
        monkeypatch.setattr(workflow_worker, "_DEFAULT_ENABLED_WORKFLOW_LOGIC_FLAGS",
                            frozenset({_WorkflowLogicFlag.PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH}))
    async with _worker(stack, task_queue):
        await stack.wait_for(handle, lambda v: v["status"] in ("assigned", "closed") or "rolled_over" in _kinds(v))
        await asyncio.sleep(0.5)
        view = await stack.state(handle)
    assert view["status"] == "assigned" and view["assignee"] == names.ann, view["timeline"][-4:]
    assert "closed" not in _kinds(view)


# ---- R4.1: a rollback goes to the owner skill it was last in ---------------------------------------


async def test_r4_1_a_rollback_goes_to_the_owner_skill_it_was_last_in(world):
    """Sales, then transferred inside Acme to billing, then by Bob to Parts (a manual rollover);
    Pia rolls it back naming no skill: it goes to billing, where it last was with its owner.
    Before: a rollback with no skill went to the skill it started in (sales)."""
    stack, names = world
    handle = await stack.start(names.acme, "sales")
    agent = (await stack.offered(handle))["offer"]["agent"]
    await handle.execute_update("accept", {"agent": agent})
    await handle.execute_update("transfer", {"by": agent, "skill": "billing"})
    await _assigned(stack, handle, names.bob)
    await handle.execute_update("transfer", {"by": names.bob, "account": names.parts, "skill": "service"})
    await _assigned(stack, handle, names.pia)
    view = await handle.execute_update("rollback", {"by": names.pia})
    assert (view["handler_account"], _event(view, "rolled_back")["skill"]) == (None, "billing")
    await stack.offered(handle, names.bob)
