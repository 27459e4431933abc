"""SPEC R9 at the HTTP gateway's edge (bounds, bad bodies, Temporal's errors by their kind), R5.5
for gateway principals the directory does not list, and read paths that one stuck conversation
must not break. Real servers, as in ``test_gateway`` (whose ``world`` fixture this module uses).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest, StartWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from gateway import create_app
from gateway.errors import from_rpc
from store import presence, schema, tokens
from service import heroes
from test_gateway import _directory, _run, _sse, world  # noqa: F401  (world: the fixture)
from workflows.conversation import workflow_id

LONG = "x" * 10_000
SHORT = 300  # a refusal's message stays this short whatever the input


def _refused(response: httpx.Response, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text[:300]
    error = response.json()
    assert error["field"] == field and field in error["message"], error
    assert len(error["message"]) <= SHORT, f"{len(error['message'])} characters: {error['message'][:100]}"


# ---- R9.1, R9.2: bounds on every field, refused at the edge with a short quote ---------------------

BAD_BODIES = [  # (verb, body, field)
    ("close", {"reason": LONG}, "body.reason"),
    ("close", {"by": "a" * 201}, "body.by"),
    ("decline", {"reason": "r" * 4001}, "body.reason"),
    ("transfer", {"skill": "other", "note": LONG}, "body.note"),
    ("transfer", {"skill": "other", "warm_message": LONG}, "body.warm_message"),
    ("transfer", {"account": "acme\x01", "skill": "other"}, "body.account"),
    ("transfer", {"skill": "s" * 201}, "body.skill"),
    ("rollback", {"note": LONG}, "body.note"),
    ("private_message", {"text": LONG}, "body.text"),
    ("private_message", {"text": "hi", "to": "zed\x00"}, "body.to"),
    ("join", {"manager": LONG}, "body.manager"),
]


@pytest.mark.parametrize(("verb", "body", "field"), BAD_BODIES)
async def test_r9_2_gateway_refuses_oversized_note_with_short_quote(world, verb, body, field):
    conversation_id = await world.assigned("sales", "ann")
    before = await world.stack.state(world.stack.handle(conversation_id))
    _refused(await world.call("admin", "POST", f"/conversations/{conversation_id}/{verb}", body), field)
    after = await world.stack.state(world.stack.handle(conversation_id))
    assert after["timeline"] == before["timeline"], "refused before anything ran"


async def test_r9_1_every_path_and_query_id_is_bounded_with_a_short_quote(world):
    acme, ann = world.acme, world.name("ann")
    for method, path, body, params, field in (
            ("GET", f"/conversations/{LONG}", None, {}, "path.conversation_id"),
            ("POST", f"/conversations/{LONG}/close", {}, {}, "path.conversation_id"),
            ("PUT", f"/agents/{LONG}/status", {"status": "online"}, {}, "path.agent_id"),
            ("GET", f"/agents/{LONG}/offers", None, {}, "path.agent_id"),
            ("GET", f"/agents/{ann}%01/offers", None, {}, "path.agent_id"),
            ("GET", f"/accounts/{LONG}/conversations", None, {}, "path.account_id"),
            ("GET", f"/accounts/{acme}/conversations", None, {"skill": LONG}, "query.skill"),
            ("GET", f"/accounts/{acme}/conversations", None, {"handler": "bpo\x07"}, "query.handler"),
            ("PUT", f"/accounts/{acme}/customers/{LONG}/hero", {"agent": ann}, {}, "path.customer"),
            ("PUT", f"/accounts/{acme}/customers/vip/hero", {"agent": LONG}, {}, "body.agent"),
            ("PUT", f"/accounts/{acme}/customers/vip/hero", {"inbox": "sales\x00"}, {}, "body.inbox")):
        _refused(await world.call("admin", method, path, body, **params), field)


async def test_r9_1_long_customer_id_and_huge_first_message_are_422_not_503(world):
    base = {"account": world.acme, "skill": "sales", "channel": "web", "customer": "cust-1"}
    for change, field in (({"customer": "c" * 3000}, "body.customer"),
                          ({"customer": "cust\x00-1"}, "body.customer"),
                          ({"first_message": "m" * 4001}, "body.first_message"),
                          ({"first_message": "m" * 2_500_000}, "body"),  # over the body limit: never read
                          ({"attributes": {f"k{i}": i for i in range(51)}}, "body.attributes"),
                          ({"attributes": {"a": LONG}}, "body.attributes")):
        conversation_id = f"g-{uuid.uuid4().hex[:12]}"
        _refused(await world.call("web", "POST", "/conversations", {"conversation_id": conversation_id,
                                                                    **base, **change}), field)
        assert not [w async for w in world.stack.client.list_workflows(
            f"WorkflowId = '{workflow_id(conversation_id)}'")], "nothing started"


async def test_r9_2_control_character_in_the_customer_path_is_422_and_writes_no_hero(world):
    response = await world.call("mia", "PUT", f"/accounts/{world.acme}/customers/cust%00-7/hero",
                                {"agent": world.name("ann")})
    _refused(response, "path.customer")
    async with world.stack.store.engine.connect() as conn:
        rows = list(await conn.execute(select(schema.heroes).where(schema.heroes.c.account_id == world.acme)))
    assert rows == [], "nothing written"


async def test_r9_2_deeply_nested_body_is_422_not_500(world):
    start = (f'{{"conversation_id": "g-{uuid.uuid4().hex[:12]}", "account": "{world.acme}", "skill": "sales", '
             '"channel": "web", "customer": "c", "attributes": ')
    headers = {"Authorization": f"Bearer {world.bearer['web']}", "Content-Type": "application/json"}
    for levels, field in ((10_000, "body"), (30, "body.attributes"), (6, "body.attributes")):
        body = start + '{"a": ' * levels + "1" + "}" * levels + "}"
        response = await world.http.post("/conversations", content=body.encode(), headers=headers)
        _refused(response, field)
    deep_list = b"[" * 20_000 + b"]" * 20_000  # not even an object
    response = await world.http.post(f"/conversations/{uuid.uuid4().hex}/close", content=deep_list, headers=headers)
    _refused(response, "body")


async def test_r9_2_body_of_several_megabytes_is_422_never_5xx(world):
    headers = {"Authorization": f"Bearer {world.bearer['admin']}", "Content-Type": "application/json"}
    big = b'{"reason": "' + b"r" * 5_000_000 + b'"}'
    response = await world.http.post("/conversations/c-1/close", content=big, headers=headers)
    _refused(response, "body")
    assert "65536" in response.json()["message"]

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(100):
            yield b" " * 50_000

    response = await world.http.post("/conversations/c-1/close", content=chunks(), headers=headers)
    _refused(response, "body")


# ---- Temporal's errors by their kind -------------------------------------------------------------------

async def _real_rpc_errors(client) -> dict[RPCStatusCode, RPCError]:
    """RPC errors the dev server really answers: no such workflow, a start of a running id, a bad query."""
    found = {}
    try:
        await client.get_workflow_handle(f"never-{uuid.uuid4().hex}").describe()
    except RPCError as exc:
        found[exc.status] = exc
    request = StartWorkflowExecutionRequest(
        namespace=client.namespace, workflow_id=f"twice-{uuid.uuid4().hex}", request_id="",
        workflow_type=WorkflowType(name="Nothing"), task_queue=TaskQueue(name=f"nobody-{uuid.uuid4().hex}"))
    for attempt in range(2):
        try:
            await client.workflow_service.start_workflow_execution(
                StartWorkflowExecutionRequest(**{**_fields(request), "request_id": uuid.uuid4().hex}))
        except RPCError as exc:
            found[exc.status] = exc
    await client.get_workflow_handle(request.workflow_id).terminate("test finished")
    try:
        await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=client.namespace, query="WorkflowId ==== ("), retry=False)
    except RPCError as exc:
        found[exc.status] = exc
    return found


def _fields(message) -> dict:
    return {field.name: value for field, value in message.ListFields()}


async def test_contract_temporal_errors_map_to_the_status_that_fits_not_all_503(dev_env):
    real = await _real_rpc_errors(dev_env)
    assert set(real) >= {RPCStatusCode.NOT_FOUND, RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.INVALID_ARGUMENT}
    # The rest cannot be provoked on demand from a healthy dev server: the SDK's own error type.
    made = {code: RPCError(f"{code.name.lower()} (test)", code, b"") for code in (
        RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.CANCELLED, RPCStatusCode.INTERNAL)}
    expected = {RPCStatusCode.NOT_FOUND: 404, RPCStatusCode.ALREADY_EXISTS: 409, RPCStatusCode.INVALID_ARGUMENT: 422,
                RPCStatusCode.FAILED_PRECONDITION: 409, RPCStatusCode.DEADLINE_EXCEEDED: 503,
                RPCStatusCode.UNAVAILABLE: 503, RPCStatusCode.RESOURCE_EXHAUSTED: 429, RPCStatusCode.CANCELLED: 503,
                RPCStatusCode.INTERNAL: 503}
    got = {code: from_rpc(exc, "conversation 'c-1'").status for code, exc in {**real, **made}.items()}
    assert got == expected


# ---- R5.5: a gateway serves only what the directory lists for it --------------------------------------

async def test_r5_5_gateway_without_directory_entry_serves_no_account(world):
    conversation_id = await world.start("sales")  # as web, limited to acme
    stray = await tokens.create(world.stack.store, f"gateway:stray{world.n}")  # never listed
    body = {"conversation_id": f"g-{uuid.uuid4().hex[:12]}", "account": world.acme, "skill": "sales",
            "channel": "web", "customer": "c"}
    headers = {"Authorization": f"Bearer {stray}"}
    for method, path, payload in (("POST", "/conversations", body), ("GET", f"/conversations/{conversation_id}", None),
                                  ("POST", f"/conversations/{conversation_id}/close", {})):
        response = await world.http.request(method, path, json=payload, headers=headers)
        assert response.status_code == 403 and "gateways:" in response.json()["message"], response.text
    # The directory reloaded without a `gateways:` section: web, limited to acme before, gets nothing
    # rather than every account.
    await world.stack.load(_directory(world.n).split("gateways:")[0])
    globex = {**body, "conversation_id": f"g-{uuid.uuid4().hex[:12]}", "account": f"globex{world.n}",
              "skill": "claims"}
    response = await world.call("web", "POST", "/conversations", globex)
    world.stack.started.append(globex["conversation_id"])
    assert response.status_code == 403 and "gateways:" in response.json()["message"], response.text
    assert (await world.call("web", "GET", f"/conversations/{conversation_id}")).status_code == 403
    assert (await world.stack.state(world.stack.handle(conversation_id)))["status"] != "closed"


async def test_r5_5_token_create_refuses_a_gateway_the_directory_does_not_list(world):
    code, out, err = await _run(world, "token", "create", f"gateway:stray{world.n}")
    assert code == 1 and "gateways:" in err and "sb_" not in out, (code, out, err)
    code, out, err = await _run(world, "token", "create", f"gateway:web{world.n}")
    assert code == 0 and out.strip().splitlines()[-1].startswith("sb_"), err


# ---- one stuck conversation never breaks another's read path -------------------------------------------

async def _stuck_hold(world, like: str) -> str:
    """A Conversation workflow on a task queue no worker polls (its queries never answer), holding
    ann as the store says, with the same outcome as the conversation ``like``."""
    conversation_id = f"stuck-{uuid.uuid4().hex[:10]}"
    await world.stack.client.start_workflow("Conversation", {"conversation_id": conversation_id},
                                            id=workflow_id(conversation_id), task_queue=f"nobody-{uuid.uuid4().hex}")
    world.stack.started.append(conversation_id)
    async with world.stack.store.engine.connect() as conn:
        row = (await conn.execute(select(schema.holds).where(schema.holds.c.conversation_id == like))).one()
    async with world.stack.store.transaction() as conn:
        await conn.execute(insert(schema.holds).values(
            {**row._asdict(), "conversation_id": conversation_id, "workflow_id": workflow_id(conversation_id),
             "offered_at": row.offered_at - timedelta(seconds=1)}))
    return conversation_id


async def test_r2_2_a_stuck_conversation_does_not_break_the_agents_offers_or_feed(world):
    assigned = await world.assigned("sales", "ann")
    stuck = await _stuck_hold(world, assigned)
    ann = world.name("ann")
    quick = create_app(store=world.stack.store, client=world.stack.client, task_queue=world.stack.task_queue,
                       timeout=1.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=quick), base_url="http://gateway") as http:
        headers = {"Authorization": f"Bearer {world.bearer['ann']}"}
        response = await http.get(f"/agents/{ann}/offers", headers=headers)
        assert response.status_code == 200, response.text
        lists = response.json()
        assert [h["conversation_id"] for h in lists["assigned"]] == [assigned], "as its workflow says"
        # The stuck one as the store has it: an offer (accepting does not change the hold row).
        assert [h["conversation_id"] for h in lists["offers"]] == [stuck]
        assert lists["offers"][0]["brand"]["name"] == "Acme Motors"
        feed = await http.get(f"/agents/{ann}/events", params={"max_seconds": 1.5}, headers=headers)
        assert feed.status_code == 200
        events = _sse(feed.text)
        assert {(e["event"], e["data"]["conversation_id"]) for e in events} == {
            ("assigned", assigned), ("offer", stuck)}, feed.text
        # The stuck one leaves the store: the feed says so, still without an answer from it.
        async with world.stack.store.transaction() as conn:
            await conn.execute(schema.holds.delete().where(schema.holds.c.conversation_id == stuck))
        feed = await http.get(f"/agents/{ann}/events", params={"max_seconds": 0}, headers=headers)
        assert [e["data"]["conversation_id"] for e in _sse(feed.text)] == [assigned]


async def test_r2_2_the_feed_stays_up_when_a_conversation_it_knew_stops_answering(world):
    assigned = await world.assigned("sales", "ann")
    stuck = await _stuck_hold(world, assigned)
    ann = world.name("ann")
    quick = create_app(store=world.stack.store, client=world.stack.client, task_queue=world.stack.task_queue,
                       timeout=1.0)

    async def release_soon() -> None:
        await asyncio.sleep(0.8)
        async with world.stack.store.transaction() as conn:
            await conn.execute(schema.holds.delete().where(schema.holds.c.conversation_id == stuck))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=quick), base_url="http://gateway") as http:
        headers = {"Authorization": f"Bearer {world.bearer['ann']}"}
        feed, _ = await asyncio.gather(http.get(f"/agents/{ann}/events", params={"max_seconds": 4},
                                                headers=headers), release_soon())
    events = [(e["event"], e["data"]["conversation_id"], e["data"].get("reason")) for e in _sse(feed.text)]
    assert events == [("offer", stuck, None), ("assigned", assigned, None), ("released", stuck, "unknown")], events


# ---- the command line agrees with the gateway ----------------------------------------------------------

async def test_r5_6_cli_refuses_status_of_a_deactivated_agent_as_http_does(world):
    bob = world.name("bob")
    await heroes.deactivate_agent(world.stack.store, None, bob)
    http = await world.call("admin", "PUT", f"/agents/{bob}/status", {"status": "online"})
    assert http.status_code == 409 and http.json()["message"] == f"agent {bob!r} is deactivated"
    code, out, err = await _run(world, "agent", "status", bob, "online")
    assert code != 0 and f"agent {bob!r} is deactivated" in err, (code, out, err)
    assert (await presence.agent_row(world.stack.store, bob)).status == "offline", "nothing changed"
