"""``POST /conversations`` when starts meet (SPEC R1.2): the start goes first and the id's owner is
looked at only when the id is in use, so starts of one id at once must still make one conversation
and answer 201 once. Real servers, as in ``test_gateway`` (whose ``world`` fixture this module uses).
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import event

from test_gateway import _directory, world  # noqa: F401  (world: the fixture)
from workflows.conversation import workflow_id


async def test_r1_2_two_gateways_starting_one_id_at_once_make_one_conversation_and_one_201(world):
    conversation_id = f"g-{uuid.uuid4().hex[:12]}"
    body = {"conversation_id": conversation_id, "account": world.acme, "skill": "sales", "channel": "web",
            "customer": "cust-1"}
    answers = await asyncio.gather(*(world.call(who, "POST", "/conversations", body)
                                     for who in ("web", "any", "web", "any")))  # two gateways, twice each
    world.stack.started.append(conversation_id)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert sorted(a.json()["created"] for a in answers) == [False, False, False, True]
    await world.offered_to(conversation_id, "ann")  # it runs, and visibility has caught up with its start
    runs = [w async for w in world.stack.client.list_workflows(f"WorkflowId = '{workflow_id(conversation_id)}'")]
    assert len(runs) == 1, runs


async def test_r1_2_a_start_meeting_another_accounts_running_id_starts_nothing_and_changes_nothing(world):
    conversation_id = await world.start("sales")  # acme's
    before = await world.stack.client.get_workflow_handle(workflow_id(conversation_id)).describe()
    taken = await world.call("gweb", "POST", "/conversations", {
        "conversation_id": conversation_id, "account": f"globex{world.n}", "skill": "claims", "channel": "web",
        "customer": "cust-2"})
    assert taken.status_code == 409 and taken.json()["error"] == "IdTaken", taken.text
    after = await world.stack.client.get_workflow_handle(workflow_id(conversation_id)).describe()
    assert (after.run_id, after.status) == (before.run_id, before.status)
    view = await world.stack.state(world.stack.handle(conversation_id))
    assert (view["account"], view["customer"]) == (world.acme, "cust-1")


async def test_r1_3_a_start_for_a_disabled_skill_is_422_naming_the_skill_and_starts_nothing(world):
    await world.stack.load(_directory(world.n).replace("      - id: other\n", "      - id: other\n        enabled: false\n"))
    conversation_id = f"g-{uuid.uuid4().hex[:12]}"
    refused = await world.call("web", "POST", "/conversations", {
        "conversation_id": conversation_id, "account": world.acme, "skill": "other", "channel": "web",
        "customer": "cust-1"})
    assert refused.status_code == 422 and refused.json()["error"] == "SkillDisabled", refused.text
    assert refused.json()["field"] == "skill"
    assert not [w async for w in world.stack.client.list_workflows(f"WorkflowId = '{workflow_id(conversation_id)}'")]


async def test_r5_5_a_gateway_serving_every_account_is_read_once_per_request(world):
    """The token is read with its principal's gateway entry in one statement. A gateway listed with
    no accounts (it serves every account) was read a second time on every request, to tell it from
    an unlisted one (which the first read already does); an unlisted gateway is still told the fix."""
    gateway_reads: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "gateways" in statement:  # the worker's routing steps beside it never read that table
            gateway_reads.append(statement)

    engine = world.stack.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        conversation_id = f"g-{uuid.uuid4().hex[:12]}"
        started = await world.call("any", "POST", "/conversations", {
            "conversation_id": conversation_id, "account": world.acme, "skill": "sales", "channel": "web",
            "customer": "cust-1"})
        world.stack.started.append(conversation_id)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert started.status_code == 201, started.text
    assert len(gateway_reads) == 1, gateway_reads
    await world.stack.load(_directory(world.n).replace(f"  - {{name: any{world.n}}}\n", ""))  # unlisted now
    unlisted = await world.call("any", "GET", f"/conversations/{conversation_id}")
    assert unlisted.status_code == 403 and "not in the directory's gateways: list" in unlisted.json()["message"], \
        unlisted.text
