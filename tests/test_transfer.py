"""SPEC R6 (transfers, "manual rollover") on the real Temporal dev server.

Account ids carry a per-test suffix; the destination skill that is "closed" has a working-hours
window on a day that is not today, so the test holds whatever the day it runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from temporalio.client import WorkflowUpdateFailedError

from store import outbox, presence
from workflows.conversation import HISTORY_LIMIT
from workflows.state import NOTES_KEPT, TIMELINE_KEPT

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _directory(n: str) -> str:
    away = DAYS[(datetime.now(timezone.utc).weekday() + 3) % 7]
    return f"""
accounts:
  - id: acme{n}
    brand: {{name: Acme Motors}}
    skills:
      - id: sales
        transfer_targets: [{{account: parts{n}, skill: service}}, {{account: parts{n}, skill: night}},
                           {{account: parts{n}, skill: empty}}, {{account: parts{n}, skill: slow}}]
      - id: billing
    agents:
      - {{id: ann{n}, skills: [sales], capacity: 2, status: online}}
      - {{id: bob{n}, skills: [billing], capacity: 2, status: online}}
      - {{id: cal{n}, skills: [billing], capacity: 1, status: offline}}
      - {{id: mia{n}, role: manager, skills: [sales]}}
  - id: parts{n}
    brand: {{name: Parts Co}}
    timezone: Europe/Berlin
    skills:
      - id: service
        transfer_targets: [{{account: tyres{n}, skill: desk}}]
      - id: night
        hours: {{{away}: "09:00-17:00"}}
      - id: empty
        fallback_skill: service
      - id: slow
        accept_timeout: 1s
    agents:
      - {{id: pia{n}, skills: [service, slow], capacity: 2, status: online}}
      - {{id: pat{n}, skills: [empty], capacity: 2, status: offline}}
      - {{id: pam{n}, role: manager, skills: [service]}}
  - id: tyres{n}
    brand: {{name: Tyres Ltd}}
    skills:
      - id: desk
    agents:
      - {{id: tom{n}, skills: [desk], capacity: 2, status: online}}
"""


class Names:
    def __init__(self, n: str) -> None:
        for name in ("acme", "parts", "tyres", "ann", "bob", "cal", "mia", "pia", "pat", "pam", "tom"):
            setattr(self, name, f"{name}{n}")


@pytest.fixture
async def world(stack):
    n = "-" + uuid.uuid4().hex[:6]
    await stack.load(_directory(n))
    return stack, Names(n)


async def _with_ann(stack, names):
    handle = await stack.start(names.acme, "sales", customer="cust-9")
    await stack.offered(handle, names.ann)
    await handle.execute_update("accept", {"agent": names.ann})
    return handle


async def _accept(stack, handle, agent):
    await stack.offered(handle, agent)
    await handle.execute_update("accept", {"agent": agent})
    return await stack.state(handle)  # the full view: an update answers without the timeline


def _kinds(view) -> list[str]:
    return [e["kind"] for e in view["timeline"]]


async def test_r6_1_transfer_to_an_allowed_skill_of_another_account_makes_it_the_handler(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    view = await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "service"})
    assert (view["account"], view["skill"]) == (names.acme, "sales"), "the owner stays the owner"
    assert (view["handler_account"], view["handler_skill"]) == (names.parts, "service")
    assert view["assignee"] is None
    assert await presence.holds_of(stack.store, names.ann) == []
    view = await _accept(stack, handle, names.pia)
    transferred = next(e for e in view["timeline"] if e["kind"] == "transferred")
    assert transferred["actor"] == names.ann and "is a transfer target of" in transferred["reason"]


async def test_r6_1_a_target_not_on_the_allow_list_is_refused_and_nothing_changes(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    before = await stack.state(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("transfer", {"by": names.ann, "account": names.tyres, "skill": "desk"})
    assert f"{names.tyres}/desk is not a transfer target of {names.acme}/sales" in refused.value.cause.message
    assert await stack.state(handle) == before
    assert [h.conversation_id for h in await presence.holds_of(stack.store, names.ann)] == [before["conversation_id"]]


async def test_r6_2_the_note_goes_to_the_next_agent_and_the_warm_message_to_the_customer(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "service",
                                             "note": "wants the X5 brake kit", "warm_message": "Passing you to Parts"})
    view = await stack.offered(handle, names.pia)
    assert [(n["kind"], n["text"]) for n in view["notes"]] == [("note", "wants the X5 brake kit")]
    [hold] = await presence.holds_of(stack.store, names.pia)
    [warm] = await outbox.feed(stack.store, "customer:cust-9")
    assert warm.kind == "warm_message" and warm.payload == {"channel": "web", "text": "Passing you to Parts"}
    assert "Passing you to Parts" not in str(view["notes"]), "the warm message is never a note"
    assert "warm_message" in _kinds(view)


async def test_r6_3_a_closed_destination_is_refused_with_its_next_opening(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    before = await stack.state(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "night"})
    message = refused.value.cause.message
    assert f"skill {names.parts}/night is closed at" in message and "Europe/Berlin" in message
    assert "; it opens " in message and "09:00 Europe/Berlin" in message
    assert await stack.state(handle) == before
    assert await outbox.feed(stack.store, "customer:cust-9") == []


async def test_r6_4_no_destination_agent_online_falls_back_to_the_fallback_skill(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "empty"})
    view = await stack.offered(handle, names.pia)
    assert view["handler_skill"] == "service"
    fallback = next(e for e in view["timeline"] if e["kind"] == "transfer_fallback")
    assert fallback["reason"] == f"R6.4 no agent of {names.parts}/empty is online" and fallback["skill"] == "service"


async def test_r6_4_nobody_accepting_in_time_falls_back_to_the_sending_skill(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "slow"})
    await stack.offered(handle, names.pia)  # pia lets the 1 s offer expire
    view = await stack.wait_for(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] == names.ann)
    assert view["handler_account"] is None and view["offer"]["skill"] == "sales"
    assert next(e for e in view["timeline"] if e["kind"] == "transfer_fallback")["reason"] == \
        f"R6.4 nobody of {names.parts}/slow accepted within its acceptance window"


async def test_r6_5_the_receiving_side_transfers_back_without_an_allow_list_entry(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "service"})
    await _accept(stack, handle, names.pia)
    # parts/service lists only tyres; acme/sales is where it came from.
    view = await handle.execute_update("transfer", {"by": names.pia, "account": names.acme, "skill": "sales"})
    assert view["handler_account"] is None
    await _accept(stack, handle, names.ann)


async def test_r6_5_back_to_the_originating_agent(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "service"})
    await _accept(stack, handle, names.pia)
    await handle.execute_update("transfer", {"by": names.pia, "account": names.acme, "skill": "sales",
                                             "agent": names.ann})
    view = await stack.offered(handle, names.ann)
    assert next(e for e in reversed(view["timeline"]) if e["kind"] == "transferred")["agent"] == names.ann


async def test_r6_6_from_the_new_account_on_to_a_further_allowed_account_or_back_to_the_owner(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    await handle.execute_update("transfer", {"by": names.ann, "account": names.parts, "skill": "service"})
    await _accept(stack, handle, names.pia)
    view = await handle.execute_update("transfer", {"by": names.pia, "account": names.tyres, "skill": "desk"})
    assert (view["account"], view["handler_account"]) == (names.acme, names.tyres)
    await _accept(stack, handle, names.tom)
    view = await handle.execute_update("rollback", {"by": names.tom})
    assert view["handler_account"] is None
    view = await _accept(stack, handle, names.ann)
    chain = [(e["account"], e["skill"]) for e in view["timeline"] if e["kind"] in ("transferred", "rolled_back")]
    assert chain == [(names.parts, "service"), (names.tyres, "desk"), (names.acme, "sales")]


async def test_r6_7_inside_the_account_to_a_skill_and_to_a_named_agent(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    view = await handle.execute_update("transfer", {"by": names.ann, "skill": "billing", "note": "refund"})
    assert view["handler_account"] is None
    await _accept(stack, handle, names.bob)
    await handle.execute_update("transfer", {"by": names.bob, "agent": names.ann, "skill": "sales"})
    view = await _accept(stack, handle, names.ann)
    assert [n["text"] for n in view["notes"]] == ["refund"]


@pytest.mark.parametrize(("body", "needle"), [
    ({"agent": "cal", "skill": "billing"}, "is not online"),
    ({"agent": "pia", "skill": "billing"}, "is not in account"),
    ({"agent": "bob", "skill": "sales"}, "is not in skill 'sales'"),
    ({"skill": "nope"}, "unknown skill 'nope'"),
    ({"account": "nope", "skill": "x"}, "is not a transfer target"),
    ({"agent": "ann"}, "already has"),
    ({}, "give a 'skill'"),
    ({"skill": 3}, "field 'skill' = 3"),
])
async def test_r6_7_refused_transfers_name_the_reason_and_change_nothing(world, body, needle):
    stack, names = world
    handle = await _with_ann(stack, names)
    body = {k: getattr(names, v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = await stack.state(handle)
    loads = await presence.load_summary(stack.store)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("transfer", {"by": names.ann, **body})
    assert needle in refused.value.cause.message
    assert await stack.state(handle) == before
    assert await presence.load_summary(stack.store) == loads


async def test_r6_7_an_agent_at_capacity_is_refused(world):
    stack, names = world
    await stack.set_status(names.cal, "online")
    other = await stack.start(names.acme, "billing")
    await stack.offered(other)  # cal or bob; then the next goes to the other one
    busy = (await stack.state(other))["offer"]["agent"]
    if busy != names.cal:
        await stack.set_status(names.bob, "offline")
        await other.execute_update("decline", {"agent": busy})
        await stack.offered(other, names.cal)
    handle = await _with_ann(stack, names)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("transfer", {"by": names.ann, "skill": "billing", "agent": names.cal})
    assert refused.value.cause.message == f"transfer: agent '{names.cal}' is at capacity"


@pytest.mark.parametrize(("who", "allowed"), [("bob", False), ("mia", True), ("pam", False), ("tom", False)])
async def test_r6_7_only_the_assignee_or_a_manager_of_an_involved_account_transfers(world, who, allowed):
    stack, names = world
    handle = await _with_ann(stack, names)
    body = {"by": getattr(names, who), "skill": "billing"}
    if allowed:
        view = await handle.execute_update("transfer", body)
        assert view["assignee"] is None
    else:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("transfer", body)
        assert "is neither the assignee" in refused.value.cause.message


async def test_r6_7_the_senders_capacity_is_freed_at_once(world):
    stack, names = world
    handle = await _with_ann(stack, names)
    load = lambda rows: next(r.load for r in rows if r.id == names.ann)  # noqa: E731
    assert load(await presence.load_summary(stack.store)) == 1
    await handle.execute_update("transfer", {"by": names.ann, "skill": "billing"})
    assert load(await presence.load_summary(stack.store)) == 0


TRANSFERS = 150  # about 15 history events each: many runs, and past the state's 200 timeline events


async def test_r6_long_transfer_chains_stay_cheap_by_continuing_as_new(world):
    """150 transfers through one conversation: the history stays bounded, the state carries over."""
    stack, names = world
    handle = await _with_ann(stack, names)
    holders = [(names.ann, "sales"), (names.bob, "billing")]
    for n in range(TRANSFERS):
        sender, _ = holders[n % 2]
        receiver, skill = holders[(n + 1) % 2]
        await handle.execute_update("transfer", {"by": sender, "skill": skill, "note": f"hop {n}"})
        await stack.wait_for(handle, lambda v: v["status"] == "offered")
        await handle.execute_update("accept", {"agent": receiver})
    view = await stack.state(handle)
    assert view["assignee"] == holders[TRANSFERS % 2][0]
    # R9.3: the state keeps the most recent notes; the older ones are in earlier runs' histories.
    assert len(view["notes"]) == NOTES_KEPT and view["notes"][-1]["text"] == f"hop {TRANSFERS - 1}"
    assert len(view["timeline"]) == TIMELINE_KEPT and view["earlier_events"] > 0
    assert view["timeline"][-1]["kind"] == "accepted"
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId='{handle.id}'")]
    assert len(runs) >= 2, "continued as new at least once"
    longest = max([len((await stack.client.get_workflow_handle(handle.id, run_id=r.run_id).fetch_history()).events)
                   for r in runs])
    assert longest <= HISTORY_LIMIT + 20, "a run ends within a transfer of the limit"
    await handle.execute_update("close", {"by": view["assignee"], "reason": "done"})
    assert (await handle.result())["status"] == "closed"
    assert all(r.load == 0 for r in await presence.load_summary(stack.store))
