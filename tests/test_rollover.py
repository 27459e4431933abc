"""SPEC R3 (rollover), R4 (rollback) and the data side of R5 on the real Temporal dev server.

Account ids carry a per-test suffix so that visibility queries (``HandlerAccount='bpo-...'``)
see only this test's conversations on the shared dev server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import pytest
from temporalio.client import WorkflowUpdateFailedError

from store import outbox, presence
from workflows import search_attributes as sa

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _directory(n: str) -> str:
    today = datetime.now(timezone.utc).weekday()
    # Windows that certainly do (always) or do not (another day, far from midnight) hold "now".
    away = DAYS[(today + 3) % 7]
    return f"""
accounts:
  - id: acme{n}
    brand: {{name: Acme Motors, url: https://acme.example, logo: https://acme.example/logo.png,
            hours: "Mon-Fri 9-17", contacts: [{{name: Dana, phone: "+1 555 0100"}}], widget: "Hi from Acme"}}
    timezone: UTC
    skills:
      - id: plain
      - id: managed
        rollover: {{mode: fully_managed, handler: {{account: bpo{n}, skill: acme-desk}}}}
      - id: backup
        rollover: {{mode: backup, handler: {{account: bpo{n}, skill: acme-desk}}, backup_window: 10m}}
      - id: nights
        rollover: {{mode: schedule, handler: {{account: bpo{n}, skill: acme-desk}}, schedule: {{mon-sun: "00:00-24:00"}}}}
      - id: days
        rollover: {{mode: schedule, handler: {{account: bpo{n}, skill: acme-desk}}, schedule: {{{away}: "10:00-14:00"}}}}
      - id: hybrid-in
        rollover: {{mode: hybrid, handler: {{account: bpo{n}, skill: acme-desk}}, schedule: {{mon-sun: "00:00-24:00"}}}}
      - id: hybrid-out
        rollover: {{mode: hybrid, handler: {{account: bpo{n}, skill: acme-desk}}, schedule: {{{away}: "10:00-14:00"}},
                   backup_window: 10m}}
      - id: parts
    agents:
      - {{id: ann{n}, skills: [plain, managed, backup, nights, days, hybrid-in, hybrid-out, parts], capacity: 5,
         status: online}}
      - {{id: mia{n}, role: manager, skills: [plain]}}
  - id: globex{n}
    brand: {{name: Globex}}
    skills:
      - id: claims
        rollover: {{mode: fully_managed, handler: {{account: bpo{n}, skill: globex-desk}}}}
    agents:
      - {{id: gus{n}, role: manager, skills: [claims]}}
  - id: bpo{n}
    brand: {{name: Answer Bureau}}
    skills:
      - id: acme-desk
      - id: globex-desk
    agents:
      - {{id: zed{n}, skills: [acme-desk], capacity: 3, status: online}}
      - {{id: yan{n}, skills: [acme-desk], capacity: 3, status: offline}}
      - {{id: max{n}, role: manager, skills: [acme-desk]}}
      - {{id: bot{n}, kind: bot, skills: [globex-desk], capacity: null, status: online}}
"""


class Names:
    def __init__(self, n: str) -> None:
        self.acme, self.globex, self.bpo = f"acme{n}", f"globex{n}", f"bpo{n}"
        self.ann, self.mia, self.gus = f"ann{n}", f"mia{n}", f"gus{n}"
        self.zed, self.yan, self.max, self.bot = f"zed{n}", f"yan{n}", f"max{n}", f"bot{n}"


@pytest.fixture
async def world(stack):
    n = "-" + uuid.uuid4().hex[:6]
    await stack.load(_directory(n))
    return stack, Names(n)


def _decision(view) -> str:
    return next(e["reason"] for e in view["timeline"] if e["kind"] == "rollover_decision")


async def _assigned_to_handler(stack, names, skill="managed"):
    handle = await stack.start(names.acme, skill)
    await stack.offered(handle, names.zed)
    await handle.execute_update("accept", {"agent": names.zed})
    return handle


# ---- R3 ------------------------------------------------------------------------------------------

async def test_r3_1_none_stays_with_the_owner(world):
    stack, names = world
    view = await stack.offered(await stack.start(names.acme, "plain"), names.ann)
    assert view["handler_account"] is None and view["rollover_mode"] == "none"
    assert _decision(view).startswith("R3.1 none")


async def test_r3_2_fully_managed_goes_straight_to_the_handler(world):
    stack, names = world
    handle = await stack.start(names.acme, "managed")
    view = await stack.offered(handle, names.zed)
    assert (view["handler_account"], view["handler_skill"]) == (names.bpo, "acme-desk")
    assert view["rollover_mode"] == "fully_managed" and _decision(view).startswith("R3.2 fully_managed")


async def test_r3_3_backup_rolls_over_when_no_owner_agent_online(world):
    stack, names = world
    await stack.set_status(names.ann, "offline")
    view = await stack.offered(await stack.start(names.acme, "backup"), names.zed)
    assert view["handler_account"] == names.bpo and view["rollover_mode"] == "backup"
    rolled = next(e for e in view["timeline"] if e["kind"] == "rolled_over")
    assert rolled["reason"] == "backup: no owner agent of the skill is online"


async def test_r3_3_backup_offers_the_owner_first(world):
    stack, names = world
    view = await stack.offered(await stack.start(names.acme, "backup"), names.ann)
    assert view["handler_account"] is None and view["rollover_mode"] == "backup"
    assert "owner first" in _decision(view)


async def test_r3_4_schedule_inside_the_window_goes_to_the_handler(world):
    stack, names = world
    view = await stack.offered(await stack.start(names.acme, "nights"), names.zed)
    assert view["rollover_mode"] == "schedule" and view["handler_account"] == names.bpo
    started = datetime.fromisoformat(view["timeline"][0]["at"])
    assert f"is inside {started:%a} 00:00-24:00" in _decision(view)


async def test_r3_4_schedule_outside_the_window_stays_with_the_owner_without_backup(world):
    stack, names = world
    await stack.set_status(names.ann, "offline")
    view = await stack.wait_for(await stack.start(names.acme, "days"), lambda v: v["status"] == "queued")
    assert view["handler_account"] is None, "schedule mode has no backup: it waits for the owner"
    assert "outside the rollover schedule; stays with the owner" in _decision(view)


async def test_r3_5_hybrid_inside_the_schedule_goes_to_the_handler(world):
    stack, names = world
    view = await stack.offered(await stack.start(names.acme, "hybrid-in"), names.zed)
    assert view["rollover_mode"] == "hybrid" and _decision(view).startswith("R3.5 hybrid")


async def test_r3_5_hybrid_outside_the_schedule_is_backup(world):
    stack, names = world
    view = await stack.offered(await stack.start(names.acme, "hybrid-out"), names.ann)
    assert "owner first with backup" in _decision(view)
    await stack.set_status(names.ann, "offline")
    view = await stack.offered(await stack.start(names.acme, "hybrid-out"), names.zed)
    assert next(e for e in view["timeline"] if e["kind"] == "rolled_over")["reason"].startswith("backup: no owner")


async def test_r3_6_the_decision_is_in_the_timeline_with_mode_rule_window_and_time(world):
    stack, names = world
    view = await stack.offered(await stack.start(names.acme, "nights"), names.zed)
    event = next(e for e in view["timeline"] if e["kind"] == "rollover_decision")
    started = datetime.fromisoformat(view["timeline"][0]["at"])
    assert event["reason"].startswith("R3.4 schedule: ")
    assert started.strftime("%a %H:%M") in event["reason"] and "UTC" in event["reason"]
    assert (event["account"], event["skill"]) == (names.acme, "nights")


async def test_r3_7_handler_side_gets_both_skills_and_the_owner_brand_with_the_offer(world):
    stack, names = world
    handle = await stack.start(names.acme, "managed")
    view = await stack.offered(handle, names.zed)
    assert (view["account"], view["skill"]) == (names.acme, "managed")
    assert (view["handler_account"], view["handler_skill"]) == (names.bpo, "acme-desk")
    assert view["brand_name"] == "Acme Motors"
    [hold] = await presence.holds_of(stack.store, names.zed)
    brand = hold.outcome["brand"]
    assert brand["url"] == "https://acme.example" and brand["logo"] == "https://acme.example/logo.png"
    assert brand["hours"] == "Mon-Fri 9-17" and brand["widget"] == "Hi from Acme"
    assert brand["contacts"] == [{"name": "Dana", "phone": "+1 555 0100", "email": None}]
    assert hold.outcome["owner"] == {"account": names.acme, "skill": "managed"}
    attrs = (await handle.describe()).typed_search_attributes
    assert (attrs.get(sa.HANDLER_ACCOUNT), attrs.get(sa.HANDLER_SKILL)) == (names.bpo, "acme-desk")
    assert (attrs.get(sa.OWNER_ACCOUNT), attrs.get(sa.OWNER_SKILL)) == (names.acme, "managed")
    assert attrs.get(sa.ROLLOVER_MODE) == "fully_managed"


async def test_r3_8_one_bot_serves_the_conversations_of_many_owners(world):
    stack, names = world
    handles = [await stack.start(names.globex, "claims") for _ in range(4)]
    for handle in handles:
        view = await stack.offered(handle, names.bot)
        assert view["brand_name"] == "Globex" and view["handler_account"] == names.bpo
    assert len(await presence.holds_of(stack.store, names.bot)) == 4


async def test_r3_handler_account_query_lists_exactly_what_the_handler_has(world):
    stack, names = world
    mine = [await stack.start(names.acme, "managed"), await stack.start(names.globex, "claims")]
    other = await stack.start(names.acme, "plain")
    for handle in mine:
        await stack.offered(handle)
    await stack.offered(other)
    query = f"{sa.HANDLER_ACCOUNT.name}='{names.bpo}'"
    expected = sorted(h.id for h in mine)
    for _ in range(100):  # visibility is eventually consistent
        found = sorted([w.id async for w in stack.client.list_workflows(query)])
        if found == expected:
            break
        await asyncio.sleep(0.1)
    assert found == expected


# ---- R4 ------------------------------------------------------------------------------------------

async def test_r4_1_rollback_returns_it_to_the_owner_skill_it_came_from(world):
    stack, names = world
    handle = await _assigned_to_handler(stack, names)
    view = await handle.execute_update("rollback", {"by": names.zed, "skill": None, "note": "needs a refund"})
    assert view["handler_account"] is None and view["handler_skill"] is None and view["assignee"] is None
    view = await stack.offered(handle, names.ann)
    assert (view["account"], view["skill"]) == (names.acme, "managed")
    rolled = next(e for e in view["timeline"] if e["kind"] == "rolled_back")
    assert rolled["actor"] == names.zed and "with a note for the next agent" in rolled["reason"]
    assert [n["text"] for n in view["notes"]] == ["needs a refund"]
    assert await presence.holds_of(stack.store, names.zed) == []
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.HANDLER_ACCOUNT) is None and attrs.get(sa.ASSIGNED_AGENT) is None


async def test_r4_1_rollback_to_a_named_owner_skill(world):
    stack, names = world
    handle = await _assigned_to_handler(stack, names)
    await handle.execute_update("rollback", {"by": names.zed, "skill": "parts"})
    view = await stack.offered(handle, names.ann)
    assert view["offer"]["skill"] == "parts" and view["skill"] == "managed"
    assert next(e for e in view["timeline"] if e["kind"] == "rolled_back")["skill"] == "parts"


async def test_r4_2_a_rolled_back_conversation_is_not_rolled_over_again(world):
    stack, names = world
    handle = await _assigned_to_handler(stack, names)
    await handle.execute_update("rollback", {"by": names.zed})
    await stack.offered(handle, names.ann)
    await handle.execute_update("decline", {"agent": names.ann})  # re-routes inside the owner
    view = await stack.wait_for(handle, lambda v: v["status"] == "queued")
    assert view["handler_account"] is None
    assert [e["kind"] for e in view["timeline"]].count("rollover_decision") == 1
    assert await presence.queue_length(stack.store, _ref(names.acme, "managed")) == 1


async def test_r4_2_backup_does_not_fire_again_after_a_rollback(world):
    stack, names = world
    await stack.set_status(names.ann, "offline")
    handle = await stack.start(names.acme, "backup")
    await stack.offered(handle, names.zed)  # rolled over: no owner agent online
    await handle.execute_update("rollback", {"by": names.zed})
    view = await stack.wait_for(handle, lambda v: v["status"] == "queued")
    assert view["handler_account"] is None, "waits for the owner even though no owner agent is online"


@pytest.mark.parametrize(("who", "body", "needle"), [
    ("owner-held", {"by": "zed"}, "is not with a handler; its owner"),
    ("unknown-skill", {"by": "zed", "skill": "nope"}, "unknown skill 'nope'"),
    ("owner-agent", {"by": "ann"}, "is not on the handling side"),
    ("other-handler-agent", {"by": "yan"}, "and 'zed-"),
    ("unknown-agent", {"by": "nobody"}, "unknown agent 'nobody'"),
    ("malformed", {"by": "zed", "skill": 7}, "field 'skill' = 7"),
])
async def test_r4_3_refused_rollbacks_change_nothing(world, who, body, needle):
    stack, names = world
    if who == "owner-held":
        handle = await stack.start(names.acme, "plain")
        await stack.offered(handle, names.ann)
    else:
        handle = await _assigned_to_handler(stack, names)
    body = {k: (getattr(names, v) if isinstance(v, str) and hasattr(names, v) else v) for k, v in body.items()}
    before = await stack.state(handle)
    holds = await presence.load_summary(stack.store)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("rollback", body)
    assert needle in refused.value.cause.message
    after = await stack.state(handle)
    assert {k: v for k, v in after.items() if k != "timeline"} == {k: v for k, v in before.items() if k != "timeline"}
    assert await presence.load_summary(stack.store) == holds


# ---- R5, data side ----------------------------------------------------------------------------------

async def test_r5_1_owner_agents_are_not_offered_while_a_handler_has_it(world):
    stack, names = world
    await stack.set_status(names.ann, "offline")
    handle = await stack.start(names.acme, "backup")
    await stack.offered(handle, names.zed)
    await handle.execute_update("decline", {"agent": names.zed})
    await stack.set_status(names.ann, "online")  # wakes the owner's queue; this one is not in it
    view = await stack.wait_for(handle, lambda v: v["status"] == "queued")
    assert view["handler_account"] == names.bpo
    assert await presence.holds_of(stack.store, names.ann) == []
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("accept", {"agent": names.ann})


@pytest.mark.parametrize("manager", ["mia", "max"])
async def test_r5_2_r5_4_owner_and_handler_managers_join_and_private_message_the_handling_agent(world, manager):
    stack, names = world
    handle = await _assigned_to_handler(stack, names)
    manager = getattr(names, manager)
    view = await handle.execute_update("join", {"manager": manager})
    assert view["participants"] == [manager]
    view = await handle.execute_update("private_message", {"from": manager, "to": names.zed, "text": "offer 10%"})
    assert view["new_notes"][-1] | {"at": None} == {"at": None, "by": manager, "text": "offer 10%",
                                                "kind": "private_message", "to": names.zed}
    assert [e["kind"] for e in (await stack.state(handle))["timeline"]][-2:] == ["joined", "private_message"]
    [delivered] = await outbox.feed(stack.store, names.zed)
    assert delivered.payload == {"from": manager, "text": "offer 10%"}


@pytest.mark.parametrize(("command", "body", "needle"), [
    ("join", {"manager": "ann"}, "is not a manager of"),  # an owner agent
    ("join", {"manager": "gus"}, "is not a manager of"),  # a manager of an unrelated account
    ("private_message", {"from": "gus", "to": "zed", "text": "hi"}, "is not a manager of"),
    ("private_message", {"from": "mia", "to": "ann", "text": "hi"}, "is not handling"),
    ("private_message", {"from": "mia", "to": "zed", "text": ""}, "field 'text'"),
])
async def test_r5_5_nobody_supervises_a_conversation_they_have_no_part_in(world, command, body, needle):
    stack, names = world
    handle = await _assigned_to_handler(stack, names)
    body = {k: getattr(names, v) if k != "text" else v for k, v in body.items()}
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(command, body)
    assert needle in refused.value.cause.message
    view = await stack.state(handle)
    assert view["participants"] == [] and view["notes"] == []
    assert await outbox.feed(stack.store, names.zed) == []


def _ref(account: str, skill: str):
    from routing.directory import SkillRef

    return SkillRef(account=account, skill=skill)

