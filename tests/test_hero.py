"""SPEC R7 (dedicated hero) on the real Temporal dev server, every channel row of R7.2 included.

Customer ids carry a per-test suffix so that the visibility query that finds a customer's open
conversations sees only this test's.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from routing.errors import Refusal
from store import presence
from service import heroes

DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    default_voice_skill: phone
    skills:
      - id: sales
      - id: care
        rollover: {mode: fully_managed, handler: {account: bpo, skill: desk}}
      - id: phone
    agents:
      - {id: ann, skills: [sales], capacity: 1, status: online}
      - {id: bob, skills: [sales], capacity: 2, status: online}
      - {id: cal, skills: [care], capacity: 2, status: online}
      - {id: vic, skills: [phone], capacity: 2, status: online}
  - id: bpo
    brand: {name: Answer Bureau}
    skills:
      - id: desk
    agents:
      - {id: zed, skills: [desk], capacity: 5, status: online}
"""


@pytest.fixture
async def acme(stack):
    await stack.load(DIRECTORY)
    stack.customer = f"cust-{uuid.uuid4().hex[:8]}"
    return stack


async def _hero(stack, **who):
    return await heroes.set_hero(stack.store, stack.client, "acme", stack.customer, **who)


async def _start(stack, channel="web", skill="sales"):
    return await stack.start("acme", skill, channel=channel, customer=stack.customer)


def _hero_reason(view) -> str:
    return next(e["reason"] for e in view["timeline"] if e["kind"] == "hero")


async def test_r7_1_a_new_conversation_is_offered_to_the_hero_first(acme):
    await _hero(acme, agent="ann")
    view = await acme.offered(await _start(acme), "ann")
    assert view["hero"] == "ann" and _hero_reason(view) == "R7.1 offered to hero ann first"


async def test_r7_1_an_inbox_hero_routes_to_the_inbox(acme):
    await _hero(acme, inbox="sales")
    view = await acme.offered(await _start(acme, skill="phone"))
    assert view["offer"]["skill"] == "sales" and view["hero"] == "sales"


async def test_r7_1_a_hero_who_declines_passes_it_to_the_hero_inbox(acme):
    await _hero(acme, agent="ann")
    handle = await _start(acme)
    await acme.offered(handle, "ann")
    await handle.execute_update("decline", {"agent": "ann"})
    view = await acme.wait_for(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] == "bob")
    assert "passed on it" in [e["reason"] for e in view["timeline"] if e["kind"] == "hero"][-1]


@pytest.mark.parametrize("channel", ["web", "sms", "abc", "gbm", "whatsapp"])
async def test_r7_2_messaging_with_the_hero_away_goes_to_the_next_agent_of_the_hero_inbox(acme, channel):
    await _hero(acme, agent="ann")
    await acme.set_status("ann", "away")
    view = await acme.offered(await _start(acme, channel=channel, skill="phone"), "bob")
    assert view["offer"]["skill"] == "sales"
    assert _hero_reason(view) == ("R7.2 hero ann is not online; messaging goes to the next available agent "
                                  "of the hero inbox sales")


async def test_r7_2_voice_with_the_hero_away_goes_to_the_default_voice_skill(acme):
    await _hero(acme, agent="ann")
    await acme.set_status("ann", "offline")
    view = await acme.offered(await _start(acme, channel="voice"), "vic")
    assert _hero_reason(view) == "R7.2 hero ann is not online; voice goes to the default voice skill phone"


@pytest.mark.parametrize("channel", ["email", "voicemail"])
async def test_r7_2_email_and_voicemail_are_assigned_to_the_hero_whatever_their_availability(acme, channel):
    await _hero(acme, agent="ann")
    await acme.set_status("ann", "offline")
    handle = await _start(acme, channel=channel)
    view = await acme.wait_for(handle, lambda v: v["status"] == "assigned")
    assert view["assignee"] == "ann" and view["offer"] is None
    assert _hero_reason(view).endswith(f"{channel} is assigned to the hero anyway")
    # At capacity as well: assigned without taking a slot, and closing gives back none.
    second = await _start(acme, channel=channel)
    assert (await acme.wait_for(second, lambda v: v["status"] == "assigned"))["assignee"] == "ann"
    assert next(r for r in await presence.load_summary(acme.store) if r.id == "ann").load == 1
    for h in (handle, second):
        await h.execute_update("close", {"by": "ann"})
        await h.result()
    assert next(r for r in await presence.load_summary(acme.store) if r.id == "ann").load == 0


async def test_r7_3_a_first_hero_does_not_move_the_open_conversation(acme):
    handle = await _start(acme)
    agent = (await acme.offered(handle))["offer"]["agent"]
    await handle.execute_update("accept", {"agent": agent})
    other = "bob" if agent == "ann" else "ann"
    await _hero(acme, agent=other)
    view = await acme.wait_for(handle, lambda v: v["hero"] == other)
    assert view["assignee"] == agent and view["status"] == "assigned"


async def test_r7_3_reassign_to_hero_moves_it_now(acme):
    await acme.set_status("ann", "offline")
    handle = await _start(acme)
    await acme.offered(handle, "bob")
    await handle.execute_update("accept", {"agent": "bob"})
    await acme.set_status("ann", "online")
    await _hero(acme, agent="ann")
    view = await handle.execute_update("reassign_to_hero", {"by": "bob"})
    assert view["assignee"] is None
    view = await acme.offered(handle, "ann")
    assert "reassigned_to_hero" in [e["kind"] for e in view["timeline"]]
    assert await presence.holds_of(acme.store, "bob") == []


async def test_r7_3_reassign_to_hero_without_a_hero_is_refused(acme):
    handle = await _start(acme)
    view = await acme.offered(handle)
    await handle.execute_update("accept", {"agent": view["offer"]["agent"]})
    before = await acme.state(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("reassign_to_hero", {"by": view["offer"]["agent"]})
    assert "has no hero" in refused.value.cause.message
    assert await acme.state(handle) == before


async def test_r7_4_replacing_the_hero_moves_the_open_conversation_at_once(acme):
    await _hero(acme, agent="ann")
    handle = await _start(acme)
    await acme.offered(handle, "ann")
    await handle.execute_update("accept", {"agent": "ann"})
    await _hero(acme, agent="bob")
    view = await acme.wait_for(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] == "bob")
    assert view["hero"] == "bob"
    assert any(e["kind"] == "reassigned_to_hero" and "R7.4" in (e["reason"] or "") for e in view["timeline"])
    assert await presence.holds_of(acme.store, "ann") == []


async def test_r7_5_the_hero_transfers_it_away_and_stays_the_hero(acme):
    await _hero(acme, agent="ann")
    handle = await _start(acme)
    await acme.offered(handle, "ann")
    await handle.execute_update("accept", {"agent": "ann"})
    await handle.execute_update("transfer", {"by": "ann", "agent": "bob"})
    await acme.offered(handle, "bob")
    await handle.execute_update("accept", {"agent": "bob"})
    await handle.execute_update("close", {"by": "bob"})
    view = await acme.offered(await _start(acme), "ann")  # the next conversation: the hero again
    assert view["hero"] == "ann"


async def test_r7_6_deactivating_a_hero_keeps_the_hero_as_their_inbox_and_reassigns_their_conversations(acme):
    await _hero(acme, agent="ann")
    handle = await _start(acme)
    await acme.offered(handle, "ann")
    await handle.execute_update("accept", {"agent": "ann"})
    done = await heroes.deactivate_agent(acme.store, acme.client, "ann")
    assert [h.inbox for h in done.heroes] == ["sales"] and done.heroes[0].agent is None
    view = await acme.wait_for(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] == "bob")
    assert any(e["kind"] == "reassigned" and "R7.6" in e["reason"] for e in view["timeline"])
    assert view["hero"] == "sales"
    nxt = await acme.offered(await _start(acme, skill="phone"), "bob")  # the hero inbox now
    assert nxt["hero"] == "sales" and nxt["offer"]["skill"] == "sales"


async def test_r7_7_hero_comes_before_the_policy_and_the_inbox_policy_applies_on_fall_through(acme):
    await _hero(acme, agent="cal", inbox="care")
    view = await acme.offered(await _start(acme, skill="sales"), "cal")
    assert view["handler_account"] is None, "the hero first, whatever the policy"
    await acme.set_status("cal", "offline")
    view = await acme.offered(await _start(acme, skill="sales"), "zed")
    assert view["handler_account"] == "bpo" and view["rollover_mode"] == "fully_managed"
    assert [e["kind"] for e in view["timeline"]][1:3] == ["hero", "rollover_decision"]


@pytest.mark.parametrize(("who", "needle"), [
    ({"agent": "zed"}, "no agent 'zed' in account 'acme'"),
    ({"inbox": "nope"}, "no skill 'nope'"),
    ({}, "give an agent or an inbox"),
])
async def test_r7_bad_hero_changes_are_refused(acme, who, needle):
    with pytest.raises(Refusal) as refused:
        await _hero(acme, **who)
    assert needle in refused.value.message
