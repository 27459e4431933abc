"""The HTTP gateway (issue 6, CONTRACT "HTTP gateway") on real servers: the Temporal dev server,
a worker, a SQLite store, and the app in-process through httpx's ASGI transport.

Account, agent and gateway names carry a per-test suffix, so visibility queries see only this
test's conversations on the shared dev server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from click.testing import CliRunner
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from sqlalchemy import select
from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput

from gateway import create_app
from store import schema, tokens
from service import heroes
from switchboard.cli import main
from switchboard.devserver import free_port
from workflows.conversation import workflow_id

SWITCHBOARD = os.path.join(os.path.dirname(sys.executable), "switchboard")


def _directory(n: str) -> str:
    return f"""
accounts:
  - id: acme{n}
    brand: {{name: Acme Motors, url: https://acme.example, contacts: [{{name: Dana, phone: "+1 555 0100"}}]}}
    skills:
      - id: sales
        transfer_targets: [{{account: bpo{n}, skill: acme-desk}}]
      - id: desk
        rollover: {{mode: fully_managed, handler: {{account: bpo{n}, skill: acme-desk}}}}
      - id: quick
        accept_timeout: 1s
      - id: other
    agents:
      - {{id: ann{n}, skills: [sales, desk, quick, other], capacity: 50, status: online}}
      - {{id: bob{n}, skills: [sales]}}
      - {{id: mia{n}, role: manager}}
  - id: bpo{n}
    brand: {{name: Answer Bureau}}
    skills:
      - id: acme-desk
    agents:
      - {{id: zed{n}, skills: [acme-desk], capacity: 5, status: online}}
      - {{id: yan{n}, skills: [acme-desk]}}
      - {{id: max{n}, role: manager}}
  - id: globex{n}
    brand: {{name: Globex}}
    skills:
      - id: claims
    agents:
      - {{id: sam{n}, skills: [claims]}}
      - {{id: gus{n}, role: manager}}
gateways:
  - {{name: any{n}}}
  - {{name: web{n}, accounts: [acme{n}]}}
  - {{name: gweb{n}, accounts: [globex{n}]}}
"""


# The callers of every R5 table below: short name -> principal (the suffix is added per test).
PARTIES = {
    "ann": "ann", "bob": "bob", "mia": "mia",  # owner agent (assignee of OWNED), owner agent, owner manager
    "zed": "zed", "yan": "yan", "max": "max",  # handler agent (assignee of HANDLED), handler agent, manager
    "sam": "sam", "gus": "gus",  # agent and manager of an account with no part in it
    "any": "gateway:any", "web": "gateway:web", "gweb": "gateway:gweb",  # listed: every account, acme, globex
    "admin": "admin",
}


@dataclass
class World:
    stack: Any
    http: httpx.AsyncClient
    n: str
    bearer: dict[str, str]

    def name(self, short: str) -> str:
        return "admin" if short == "admin" else PARTIES[short] + self.n

    @property
    def acme(self) -> str:
        return f"acme{self.n}"

    @property
    def bpo(self) -> str:
        return f"bpo{self.n}"

    async def call(self, who: str, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.bearer[who]}"} if who else {}
        return await self.http.request(method, path, json=body, params=params or None, headers=headers)

    async def start(self, skill: str, *, customer: str = "cust-1", who: str = "web", **extra: Any) -> str:
        conversation_id = f"g-{uuid.uuid4().hex[:12]}"
        response = await self.call(who, "POST", "/conversations", {
            "conversation_id": conversation_id, "account": self.acme, "skill": skill, "channel": "web",
            "customer": customer, **extra})
        assert response.status_code == 201, response.text
        self.stack.started.append(conversation_id)
        return conversation_id

    async def wait(self, conversation_id: str, predicate, timeout: float = 20.0) -> dict[str, Any]:
        return await self.stack.wait_for(self.stack.handle(conversation_id), predicate, timeout=timeout)

    async def offered_to(self, conversation_id: str, short: str) -> dict[str, Any]:
        agent = self.name(short)
        return await self.wait(conversation_id, lambda v: (v.get("offer") or {}).get("agent") == agent)

    async def assigned(self, skill: str, short: str) -> str:
        """A conversation offered to and accepted by ``short``, through the gateway."""
        conversation_id = await self.start(skill)
        await self.offered_to(conversation_id, short)
        response = await self.call(short, "POST", f"/conversations/{conversation_id}/accept", {})
        assert response.status_code == 200 and response.json()["status"] == "assigned", response.text
        return conversation_id


@pytest.fixture
async def world(stack):
    n = "-" + uuid.uuid4().hex[:6]
    await stack.load(_directory(n))
    app = create_app(store=stack.store, client=stack.client, task_queue=stack.task_queue)
    bearer = {short: await tokens.create(stack.store, "admin" if short == "admin" else principal + n)
              for short, principal in PARTIES.items()}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        yield World(stack, http, n, bearer)


def _error(response: httpx.Response) -> str:
    return response.json().get("error") if response.headers.get("content-type", "").startswith(
        "application/json") and response.status_code >= 400 else ""


def _outcome(response: httpx.Response) -> str:
    """'ok' when R5 let the call through (the workflow or store answered: 2xx, 409, 422), else the
    gateway's own refusal: '403' or '404'."""
    if response.status_code in (403, 404) and _error(response) in ("Forbidden", "NotFound"):
        return str(response.status_code)
    if response.status_code < 300 or response.status_code in (409, 422):
        return "ok"
    return f"{response.status_code} {_error(response)}"


# ---- SPEC R5: the matrix --------------------------------------------------------------------------

# Bodies that R5 lets through but the workflow or store then refuses (or, join and private
# message, harmlessly does), so that one pair of conversations serves every cell.
COMMANDS = {
    "accept": {}, "decline": {},  # assigned: 409 NoOffer
    "close": {},  # sent to closed twins: 409 ConversationClosed
    "transfer": {"skill": "nowhere"},  # 422 UnknownSkill
    "rollback": {"skill": "nowhere"},  # 409 NotWithHandler (owned) / 422 UnknownSkill (handled)
    "reassign_to_hero": {},  # 409 NoHero
    "join": {}, "private_message": {"text": "hello"},
}
ENDPOINTS = ["read", *COMMANDS]

# (party, relation) -> outcome per endpoint in ENDPOINTS order. OWNED: the owner acme has it,
# assigned to ann. HANDLED: rolled over to bpo, assigned to zed.
HIDDEN = "404 " * 9
MATRIX = {
    "owned": {
        #        read accept decline close transfer rollback hero join pm
        "ann": "ok   ok     ok      ok    ok       ok       ok   403  403",  # assignee
        "bob": "ok   ok     ok      403   403      ok       403  403  403",  # R5.1 sees its own account's
        "mia": "ok   ok     ok      ok    ok       ok       ok   ok   ok",  # R5.2
        "zed": HIDDEN, "yan": HIDDEN, "max": HIDDEN,  # R5.5: no part in it (yet)
        "sam": HIDDEN, "gus": HIDDEN,  # R5.5
        "any": "ok   403    403     ok    403      ok       403  403  403",  # R8.1 the customer side closes
        "web": "ok   403    403     ok    403      ok       403  403  403",
        "gweb": HIDDEN,  # a gateway limited to other accounts
        "admin": "ok   ok     ok      ok    ok       ok       ok   ok   ok",
    },
    "handled": {
        "ann": HIDDEN, "bob": HIDDEN,  # R5.1: not by id while a handler has it
        "mia": "ok   ok     ok      ok    ok       403      ok   ok   ok",  # R5.2; R4.1 rollback is the handler's
        "zed": "ok   ok     ok      ok    ok       ok       ok   403  403",  # R5.3, R4.1
        "yan": "ok   ok     ok      403   403      403      403  403  403",  # sees; zed has it
        "max": "ok   ok     ok      ok    ok       ok       ok   ok   ok",  # R5.4
        "sam": HIDDEN, "gus": HIDDEN,  # R5.5
        "any": "ok   403    403     ok    403      403      403  403  403",
        "web": "ok   403    403     ok    403      403      403  403  403",
        "gweb": HIDDEN,
        "admin": "ok   ok     ok      ok    ok       ok       ok   ok   ok",
    },
}


async def test_r5_every_role_relation_and_conversation_endpoint(world):
    owned, handled = await world.assigned("sales", "ann"), await world.assigned("desk", "zed")
    closed = {"owned": await world.assigned("sales", "ann"), "handled": await world.assigned("desk", "zed")}
    for twin in closed.values():  # close is tried on these: R5 gives the same answers on a closed one
        assert (await world.call("admin", "POST", f"/conversations/{twin}/close", {"by": "admin"})).status_code == 200
    conversations = {"owned": owned, "handled": handled}
    wrong = []
    for relation, rows in MATRIX.items():
        for party, expected in rows.items():
            for endpoint, want in zip(ENDPOINTS, expected.split(), strict=True):
                if endpoint == "read":
                    response = await world.call(party, "GET", f"/conversations/{conversations[relation]}")
                else:
                    target = closed[relation] if endpoint == "close" else conversations[relation]
                    response = await world.call(party, "POST", f"/conversations/{target}/{endpoint}",
                                                COMMANDS[endpoint])
                got = _outcome(response)
                if got != want:
                    wrong.append(f"{relation:8} {party:5} {endpoint:17} want {want:4} got {got}: {response.text[:160]}")
    assert not wrong, "\n".join(wrong)


# Agent and account routes: ann's presence, offers and feed; acme's and bpo's views; acme's heroes.
ROUTES = ["status(ann)", "offers(ann)", "events(ann)", "list(acme)", "hero(acme)", "unhero(acme)", "list(bpo)"]
ROUTE_MATRIX = {
    #          status offers events list(acme) hero  unhero list(bpo)
    "ann": "ok     ok     ok     403        403   403    404",  # acts for themselves only
    "bob": "403    403    403    403        403   403    404",
    "mia": "ok     ok     ok     ok         ok    ok     404",  # a manager of ann's account
    "zed": "404    404    404    404        404   404    403",  # R5.5: acme is not theirs
    "yan": "404    404    404    404        404   404    403",
    "max": "404    404    404    404        404   404    ok",
    "sam": "404    404    404    404        404   404    404",
    "gus": "404    404    404    404        404   404    404",
    "any": "403    403    403    403        403   403    403",  # gateways neither act for agents nor manage
    "web": "403    403    403    403        403   403    404",
    "gweb": "403    403    403    404        404   404    404",
    "admin": "ok     ok     ok     ok         ok    ok     ok",
}


async def test_r5_5_every_role_on_agent_and_account_routes(world):
    ann, acme, bpo = world.name("ann"), world.acme, world.bpo
    requests = {
        "status(ann)": ("PUT", f"/agents/{ann}/status", {"status": "online"}, {}),
        "offers(ann)": ("GET", f"/agents/{ann}/offers", None, {}),
        "events(ann)": ("GET", f"/agents/{ann}/events", None, {"max_seconds": 0}),
        "list(acme)": ("GET", f"/accounts/{acme}/conversations", None, {}),
        "hero(acme)": ("PUT", f"/accounts/{acme}/customers/vip/hero", {"agent": ann}, {}),
        "unhero(acme)": ("DELETE", f"/accounts/{acme}/customers/vip/hero", None, {}),
        "list(bpo)": ("GET", f"/accounts/{bpo}/conversations", None, {}),
    }
    wrong = []
    for party, expected in ROUTE_MATRIX.items():
        for route, want in zip(ROUTES, expected.split(), strict=True):
            method, path, body, params = requests[route]
            response = await world.call(party, method, path, body, **params)
            got = _outcome(response)
            if got != want:
                wrong.append(f"{party:5} {route:12} want {want:4} got {got}: {response.text[:160]}")
    assert not wrong, "\n".join(wrong)


async def test_r5_callers_act_only_for_themselves(world):
    conversation_id = await world.start("sales")
    await world.offered_to(conversation_id, "ann")
    for who, body in (("ann", {"agent": world.name("zed")}), ("bob", {"agent": world.name("ann")})):
        response = await world.call(who, "POST", f"/conversations/{conversation_id}/accept", body)
        assert response.status_code == 403 and response.json()["field"] == "agent", response.text
    response = await world.call("web", "POST", f"/conversations/{conversation_id}/close", {"by": world.name("ann")})
    assert response.status_code == 403 and response.json()["field"] == "by"
    assert (await world.stack.state(world.stack.handle(conversation_id)))["status"] == "offered"  # nothing changed
    # An admin acts for anyone.
    response = await world.call("admin", "POST", f"/conversations/{conversation_id}/accept",
                                {"agent": world.name("ann")})
    assert response.status_code == 200 and response.json()["assignee"] == world.name("ann")


async def test_r5_no_valid_token_is_401_everywhere(world):
    conversation_id = await world.start("sales")
    path = f"/conversations/{conversation_id}"
    assert (await world.http.get(path)).status_code == 401
    assert (await world.http.get(path, headers={"Authorization": "Bearer sb_nope"})).status_code == 401
    assert (await world.http.get(path, headers={"Authorization": "Basic YTpi"})).status_code == 401
    missing = await world.http.get(path)
    assert missing.json()["error"] == "Unauthorized" and missing.headers["www-authenticate"] == "Bearer"
    await tokens.revoke(world.stack.store, world.bearer["mia"])
    assert (await world.call("mia", "GET", path)).status_code == 401
    # A deactivated agent's token stops at once.
    await heroes.deactivate_agent(world.stack.store, None, world.name("bob"))
    response = await world.call("bob", "GET", path)
    assert response.status_code == 401 and "deactivated" in response.json()["message"]


async def test_r5_3_r5_4_handler_sees_the_owner_brand_and_both_skills_and_r5_1_the_owner_agent_nothing(world):
    conversation_id = await world.assigned("desk", "zed")
    view = (await world.call("zed", "GET", f"/conversations/{conversation_id}")).json()
    assert (view["brand_name"], view["account"], view["skill"]) == ("Acme Motors", world.acme, "desk")
    assert (view["handler_account"], view["handler_skill"]) == (world.bpo, "acme-desk")
    hidden = await world.call("ann", "GET", f"/conversations/{conversation_id}")
    unknown = await world.call("ann", "GET", "/conversations/never-was")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["message"].replace(conversation_id, "X") == unknown.json()["message"].replace(
        "never-was", "X"), "R5.1: a hidden conversation looks like none at all"
    offers = (await world.call("ann", "GET", f"/agents/{world.name('ann')}/offers")).json()
    assert conversation_id not in {h["conversation_id"] for h in offers["offers"] + offers["assigned"]}


# ---- R1: start --------------------------------------------------------------------------------------

async def test_r1_2_start_is_idempotent_on_the_conversation_id(world):
    conversation_id = await world.start("sales")
    body = {"conversation_id": conversation_id, "account": world.acme, "skill": "sales", "channel": "web",
            "customer": "cust-1"}
    again = await world.call("web", "POST", "/conversations", body)
    assert again.status_code == 200 and again.json() == {
        "conversation_id": conversation_id, "workflow_id": workflow_id(conversation_id), "created": False}
    taken = await world.call("any", "POST", "/conversations", {**body, "account": f"globex{world.n}",
                                                               "skill": "claims"})
    assert taken.status_code == 409 and taken.json()["error"] == "IdTaken"
    await world.call("web", "POST", f"/conversations/{conversation_id}/close", {})
    await world.stack.handle(conversation_id).result()
    reused = await world.call("web", "POST", "/conversations", body)
    assert reused.status_code == 409 and "never reused" in reused.json()["message"]


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"account": "nowhere"}, 422, "account"),
    ({"skill": "nowhere"}, 422, "skill"),
    ({"channel": "fax"}, 422, "body.channel"),
    ({"priority": 5000}, 422, "body.priority"),
    ({"conversation_id": "has space"}, 422, "body.conversation_id"),
    ({"colour": "red"}, 422, "body.colour"),
    ({"customer": None}, 422, "body.customer"),
])
async def test_r1_3_a_bad_start_is_refused_naming_the_field_and_starts_nothing(world, change, status, field):
    conversation_id = f"g-{uuid.uuid4().hex[:12]}"
    body = {"conversation_id": conversation_id, "account": world.acme, "skill": "sales", "channel": "web",
            "customer": "cust-1", **change}
    response = await world.call("web" if "account" not in change else "any", "POST", "/conversations", body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field and response.json()["message"], response.text
    assert not [w async for w in world.stack.client.list_workflows(f"WorkflowId = '{workflow_id(conversation_id)}'")]


async def test_r1_1_only_a_gateway_of_the_account_or_an_admin_starts(world):
    body = {"conversation_id": f"g-{uuid.uuid4().hex[:12]}", "account": world.acme, "skill": "sales",
            "channel": "sms", "customer": "cust-1"}
    for who in ("ann", "mia", "gweb"):
        assert (await world.call(who, "POST", "/conversations", body)).status_code == 403, who
    not_json = await world.http.post("/conversations", content=b"{nope", headers={
        "Authorization": f"Bearer {world.bearer['web']}", "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"] == "BadRequest"
    created = await world.call("admin", "POST", "/conversations", body)
    world.stack.started.append(body["conversation_id"])
    assert created.status_code == 201 and created.json()["created"] is True


# ---- R2, R8: answering offers and closing --------------------------------------------------------------

async def test_r2_2_offers_list_with_the_brand_then_accept_and_r8_1_the_gateway_closes(world):
    conversation_id = await world.start("sales", first_message="Hi")
    await world.offered_to(conversation_id, "ann")
    offers = (await world.call("ann", "GET", f"/agents/{world.name('ann')}/offers")).json()
    offer = next(h for h in offers["offers"] if h["conversation_id"] == conversation_id)
    assert offer["brand"]["name"] == "Acme Motors" and offer["brand"]["contacts"][0]["name"] == "Dana"
    assert offer["owner"] == {"account": world.acme, "skill": "sales"} and offer["expires_at"]
    view = (await world.call("ann", "POST", f"/conversations/{conversation_id}/accept", {})).json()
    assert view["status"] == "assigned" and view["assignee"] == world.name("ann")
    offers = (await world.call("ann", "GET", f"/agents/{world.name('ann')}/offers")).json()
    assert [h["conversation_id"] for h in offers["assigned"]] == [conversation_id] and offers["offers"] == []
    closed = await world.call("web", "POST", f"/conversations/{conversation_id}/close", {"reason": "customer left"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["timeline"][-1]["actor"] == f"gateway:web{world.n}"


async def test_r2_5_a_stale_accept_is_409_with_the_validators_message_and_changes_nothing(world):
    conversation_id = await world.start("sales")
    await world.offered_to(conversation_id, "ann")
    declined = await world.call("ann", "POST", f"/conversations/{conversation_id}/decline", {"reason": "busy"})
    assert declined.status_code == 200
    view = await world.wait(conversation_id, lambda v: v["status"] == "queued")  # bob is offline
    response = await world.call("ann", "POST", f"/conversations/{conversation_id}/accept", {})
    assert response.status_code == 409 and response.json()["error"] == "NoOffer", response.text
    assert response.json()["message"] == f"accept: conversation {conversation_id} has no open offer (status queued)"
    assert (await world.stack.state(world.stack.handle(conversation_id)))["timeline"] == view["timeline"]


class Queries(Interceptor):
    """Notes the name of every query the client sends (the real client, on the real server)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        sent = self.sent

        class Noting(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                sent.append(input.query)
                return await super().query_workflow(input)

        return Noting(next)


async def test_r5_6_an_accept_is_judged_by_the_workflow_with_no_read_first_and_a_strangers_is_still_404(world):
    """Issue 14: an accept through the gateway is one update (asking for the full view back), not
    a ``state`` query and then the update: the workflow alone judges who may answer the offer
    (R2.5, R5.6). Only a refusal costs the read, which keeps a stranger's answer a 404 (R5.5)."""
    queries = Queries()
    client = Client(**{**world.stack.client.config(), "interceptors": [queries]})
    app = create_app(store=world.stack.store, client=client, task_queue=world.stack.task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        async def accept(who: str, conversation_id: str) -> httpx.Response:
            return await http.post(f"/conversations/{conversation_id}/accept", json={},
                                   headers={"Authorization": f"Bearer {world.bearer[who]}"})

        conversation_id = await world.start("sales")
        await world.offered_to(conversation_id, "ann")
        stranger = await accept("sam", conversation_id)
        assert stranger.status_code == 404 and _error(stranger) == "NotFound", stranger.text
        assert queries.sent == ["state"], "the refusal was read to answer 404"
        queries.sent.clear()
        taken = await accept("ann", conversation_id)
        assert taken.status_code == 200 and taken.json()["status"] == "assigned", taken.text
        assert queries.sent == [], "no read before the accept"
        full = await world.stack.state(world.stack.handle(conversation_id))
        assert taken.json()["timeline"] == full["timeline"] and taken.json()["timeline"][-1]["kind"] == "accepted"
        again = await accept("ann", conversation_id)
        assert again.status_code == 409 and _error(again) == "NoOffer", again.text


async def test_r8_3_commands_to_a_closed_conversation_are_409(world):
    conversation_id = await world.assigned("sales", "ann")
    assert (await world.call("ann", "POST", f"/conversations/{conversation_id}/close", {})).status_code == 200
    for verb, body in (("close", {}), ("accept", {}), ("transfer", {"skill": "other"})):
        response = await world.call("ann", "POST", f"/conversations/{conversation_id}/{verb}", body)
        assert response.status_code == 409 and response.json()["error"] == "ConversationClosed", response.text
    assert (await world.call("ann", "GET", f"/conversations/{conversation_id}")).json()["status"] == "closed"


async def test_invalid_command_input_is_422_naming_the_field(world):
    conversation_id = await world.assigned("sales", "ann")
    path = f"/conversations/{conversation_id}"
    for verb, body, field in (("close", {"by": "ann", "colour": 1}, "body.colour"),
                              ("transfer", {"skill": 7}, "body.skill"),
                              ("private_message", {"text": ""}, "body.text"),
                              ("transfer", {}, "skill")):  # the workflow's validator ("give a 'skill'")
        response = await world.call("ann", "POST", f"{path}/{verb}", body)
        assert response.status_code == 422 and response.json().get("field") == field, response.text
    assert (await world.call("ann", "POST", f"{path}/close", ["by"])).status_code == 422
    assert (await world.call("ann", "GET", "/conversations/bad id!")).status_code == 422
    assert (await world.call("ann", "GET", "/conversations/never-was")).status_code == 404


# ---- R6, R4: transfer and rollback -------------------------------------------------------------------

async def test_r6_1_transfer_then_r4_1_rollback_through_the_gateway(world):
    conversation_id = await world.assigned("sales", "ann")
    path = f"/conversations/{conversation_id}"
    moved = await world.call("ann", "POST", f"{path}/transfer", {
        "account": world.bpo, "skill": "acme-desk", "note": "wants a refund", "warm_message": "Passing you on"})
    assert moved.status_code == 200 and moved.json() == {"conversation_id": conversation_id, "command": "transfer",
                                                         "visible": False}, "R5.1: ann no longer sees it"
    await world.offered_to(conversation_id, "zed")
    offer = (await world.call("zed", "GET", f"/agents/{world.name('zed')}/offers")).json()["offers"][0]
    assert offer["brand"]["name"] == "Acme Motors" and offer["notes"][0]["text"] == "wants a refund"
    await world.call("zed", "POST", f"{path}/accept", {})
    back = await world.call("zed", "POST", f"{path}/rollback", {"note": "owner's call"})
    assert back.status_code == 200 and back.json()["visible"] is False
    assert (await world.call("zed", "GET", path)).status_code == 404
    await world.offered_to(conversation_id, "ann")
    view = (await world.call("ann", "POST", f"{path}/accept", {})).json()
    assert view["handler_account"] is None and view["assignee"] == world.name("ann")
    moves = [(e["kind"], e["actor"]) for e in view["timeline"] if e["kind"] in ("transferred", "rolled_back")]
    assert moves == [("transferred", world.name("ann")), ("rolled_back", world.name("zed"))]
    refused = await world.call("ann", "POST", f"{path}/rollback", {})
    assert refused.status_code == 409 and refused.json()["error"] == "NotWithHandler"


# ---- R5.2, R5.4: managers ------------------------------------------------------------------------------

async def test_r5_2_r5_4_managers_join_and_private_message_and_the_agent_feed_carries_it(world):
    conversation_id = await world.assigned("desk", "zed")
    path = f"/conversations/{conversation_id}"
    joined = await world.call("max", "POST", f"{path}/join", {})
    assert joined.status_code == 200 and world.name("max") in joined.json()["participants"]
    sent = await world.call("mia", "POST", f"{path}/private_message", {"text": "VIP, be nice"})
    assert sent.status_code == 200, sent.text
    feed = await world.call("zed", "GET", f"/agents/{world.name('zed')}/events", max_seconds=0)
    assert feed.headers["content-type"].startswith("text/event-stream")
    events = _sse(feed.text)
    assert [e["event"] for e in events] == ["assigned", "private_message"]
    assert events[0]["data"]["brand"]["name"] == "Acme Motors"
    assert events[1]["data"] == {"conversation_id": conversation_id, "from": world.name("mia"), "text": "VIP, be nice",
                                 "at": events[1]["data"]["at"]}
    again = await world.http.get(f"/agents/{world.name('zed')}/events", params={"max_seconds": 0}, headers={
        "Authorization": f"Bearer {world.bearer['zed']}", "Last-Event-ID": events[1]["id"]})
    assert [e["event"] for e in _sse(again.text)] == ["assigned"], "nothing after the last event id"
    # Who reads the private message: its recipient and managers; not another agent, nor the customer side.
    notes = {who: (await world.call(who, "GET", path)).json()["notes"] for who in ("zed", "yan", "max", "web")}
    assert [n["text"] for n in notes["zed"]] == [n["text"] for n in notes["max"]] == ["VIP, be nice"]
    assert notes["yan"] == notes["web"] == []


async def test_agent_feed_streams_a_new_offer_with_the_brand_then_its_expiry(world):
    ann = world.name("ann")

    async def start_soon() -> str:
        await asyncio.sleep(0.3)
        return await world.start("quick", customer="cust-9")  # accept_timeout 1s, ann is its only agent

    feed, conversation_id = await asyncio.gather(
        world.call("ann", "GET", f"/agents/{ann}/events", max_seconds=3.5), start_soon())
    events = [e for e in _sse(feed.text) if e["data"].get("conversation_id") == conversation_id]
    assert [e["event"] for e in events] == ["offer", "offer_expired"], feed.text
    offer = events[0]["data"]
    assert offer["status"] == "offered" and offer["skill"] == "quick" and offer["brand"]["name"] == "Acme Motors"
    assert events[1]["data"]["reason"] == "offer_expired"


async def test_manager_view_lists_owned_and_handled_from_visibility_with_filters_and_pages(world):
    owned, handled = await world.assigned("sales", "ann"), await world.assigned("desk", "zed")
    queued = await world.start("sales")
    await world.offered_to(queued, "ann")
    await world.call("ann", "POST", f"/conversations/{queued}/decline", {})
    await world.wait(queued, lambda v: v["status"] == "queued")

    async def listed(who: str, account: str, **params: Any) -> dict[str, Any]:
        response = await world.call(who, "GET", f"/accounts/{account}/conversations", **params)
        assert response.status_code == 200, response.text
        return response.json()

    async def ids(who: str, account: str, expected: set[str], **params: Any) -> set[str]:
        for _ in range(100):  # visibility follows the workflows within moments
            found = {c["conversation_id"] for c in (await listed(who, account, **params))["conversations"]}
            if found == expected:
                return found
            await asyncio.sleep(0.1)
        return found

    assert await ids("mia", world.acme, {owned, handled, queued}) == {owned, handled, queued}  # R5.2
    assert await ids("mia", world.acme, {handled}, handler=world.bpo) == {handled}
    assert await ids("mia", world.acme, {queued}, status="queued") == {queued}
    assert await ids("mia", world.acme, {handled}, skill="desk") == {handled}
    assert await ids("max", world.bpo, {handled}) == {handled}  # R5.4
    assert await ids("max", world.bpo, {handled}, skill="acme-desk") == {handled}
    row = (await listed("max", world.bpo))["conversations"][0]
    assert (row["brand_name"], row["account"], row["handler_account"], row["assignee"], row["status"]) == (
        "Acme Motors", world.acme, world.bpo, world.name("zed"), "assigned")
    first = await listed("mia", world.acme, page_size=2)
    second = await listed("mia", world.acme, page_size=2, next_page_token=first["next_page_token"])
    pages = [c["conversation_id"] for c in first["conversations"] + second["conversations"]]
    assert sorted(pages) == sorted({owned, handled, queued}) and second["next_page_token"] is None
    for token in ("not-base64!", "AAAA", json.dumps({"a": 1})):
        bad = await world.call("mia", "GET", f"/accounts/{world.acme}/conversations", next_page_token=token)
        assert bad.status_code == 400 and bad.json()["field"] == "next_page_token", bad.text
    assert (await world.call("mia", "GET", f"/accounts/{world.acme}/conversations", status="gone")).status_code == 422


# ---- presence and heroes ---------------------------------------------------------------------------

async def test_r2_3_status_online_through_the_gateway_offers_the_queue_at_once(world):
    bob = world.name("bob")
    await world.call("ann", "PUT", f"/agents/{world.name('ann')}/status", {"status": "away"})
    conversation_id = await world.start("sales")
    await world.wait(conversation_id, lambda v: v["status"] == "queued")
    response = await world.call("mia", "PUT", f"/agents/{bob}/status", {"status": "online"})
    assert response.status_code == 200 and response.json() == {"agent": bob, "status": "online", "woke": 1}
    await world.offered_to(conversation_id, "bob")
    bad = await world.call("bob", "PUT", f"/agents/{bob}/status", {"status": "asleep"})
    assert bad.status_code == 422 and bad.json()["field"] == "body.status"
    assert (await world.call("admin", "PUT", "/agents/nobody/status", {"status": "online"})).status_code == 404


async def test_r7_heroes_are_set_and_cleared_by_the_accounts_managers(world):
    hero = f"/accounts/{world.acme}/customers/cust-7/hero"
    response = await world.call("mia", "PUT", hero, {"agent": world.name("ann")})
    assert response.status_code == 200 and response.json() == {"account": world.acme, "customer": "cust-7",
                                                               "agent": world.name("ann"), "inbox": None}
    conversation_id = await world.start("sales", customer="cust-7")
    view = await world.offered_to(conversation_id, "ann")
    assert view["hero"] == world.name("ann")
    for body, field in (({"agent": world.name("zed")}, "agent"), ({"inbox": "nowhere"}, "inbox"), ({}, "agent")):
        refused = await world.call("mia", "PUT", hero, body)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert (await world.call("mia", "DELETE", hero)).status_code == 204
    gone = await world.call("mia", "DELETE", hero)
    assert gone.status_code == 404 and gone.json()["error"] == "NotFound"


async def test_no_worker_answering_is_503_not_a_hang(world):
    idle = create_app(store=world.stack.store, client=world.stack.client, task_queue=f"idle-{uuid.uuid4().hex[:8]}",
                timeout=1.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=idle), base_url="http://gateway") as http:
        headers = {"Authorization": f"Bearer {world.bearer['web']}"}
        conversation_id = f"g-{uuid.uuid4().hex[:12]}"
        started = await http.post("/conversations", headers=headers, json={
            "conversation_id": conversation_id, "account": world.acme, "skill": "sales", "channel": "web",
            "customer": "c"})
        world.stack.started.append(conversation_id)
        assert started.status_code == 201
        response = await http.get(f"/conversations/{conversation_id}", headers=headers)
        assert response.status_code == 503 and response.json()["error"] == "Unavailable", response.text


# ---- tokens and the command line -----------------------------------------------------------------------

async def _run(world: World, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """``switchboard ARGS`` in-process (click's runner, in a thread: the command runs its own loop)."""
    env = {"SWITCHBOARD_DATABASE_URL": world.stack.store.engine.url.render_as_string(False)}
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_token_create_prints_the_token_last_stores_only_its_hash_and_revoke_ends_it(world):
    code, out, err = await _run(world, "token", "create", world.name("ann"))
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert (await world.http.get(f"/agents/{world.name('ann')}/offers",
                                 headers={"Authorization": f"Bearer {token}"})).status_code == 200
    async with world.stack.store.engine.connect() as conn:
        rows = [tuple(r) for r in await conn.execute(select(schema.tokens))]
    assert not any(token in str(value) for row in rows for value in row), "only the hash is stored"
    assert hashlib.sha256(token.encode()).hexdigest() in {r[0] for r in rows}
    code, out, _ = await _run(world, "token", "revoke", "-", stdin=token + "\n")
    assert code == 0 and world.name("ann") in out
    assert (await world.http.get(f"/agents/{world.name('ann')}/offers",
                                 headers={"Authorization": f"Bearer {token}"})).status_code == 401
    code, _, err = await _run(world, "token", "revoke", token)
    assert code == 1 and "no live token" in err and "Traceback" not in err
    for principal, words in (("nobody", "not an agent"), ("gateway:", "gateway name")):
        code, out, err = await _run(world, "token", "create", principal)
        assert code == 1 and words in err and "sb_" not in out, err
    code, out, _ = await _run(world, "token", "revoke", "--principal", world.name("zed"))
    assert code == 0 and "revoked 1 token" in out
    assert (await world.call("zed", "GET", f"/agents/{world.name('zed')}/offers")).status_code == 401


async def test_switchboard_gateway_serves_the_contract_on_the_environment(world):
    port = free_port()
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": world.stack.store.engine.url.render_as_string(False),
           "TEMPORAL_ADDRESS": world.stack.client.service_client.config.target_host,
           "SWITCHBOARD_TASK_QUEUE": world.stack.task_queue}
    proc = await asyncio.create_subprocess_exec(SWITCHBOARD, "gateway", "--port", str(port), env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    docs = await http.get("/docs")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert docs.status_code == 200 and "swagger" in docs.text.lower()
            conversation_id = f"g-{uuid.uuid4().hex[:12]}"
            headers = {"Authorization": f"Bearer {world.bearer['web']}"}
            started = await http.post("/conversations", headers=headers, json={
                "conversation_id": conversation_id, "account": world.acme, "skill": "sales", "channel": "sms",
                "customer": "c"})
            world.stack.started.append(conversation_id)
            assert started.status_code == 201, started.text
            await world.offered_to(conversation_id, "ann")
            view = await http.get(f"/conversations/{conversation_id}", headers=headers)
            assert view.status_code == 200 and view.json()["offer"]["agent"] == world.name("ann")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


# ---- no 5xx for any input: schemathesis over /openapi.json ----------------------------------------------

EXAMPLES = 8  # per operation and pass: ~240 requests, a few seconds
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


async def test_openapi_any_generated_input_gets_no_5xx_and_answers_as_documented(world):
    """Schemathesis generates requests from the app's own /openapi.json and checks every answer:
    never a 5xx, only documented status codes and content types, bodies matching their schema.
    One pass with generated ids (mostly nothing there), one against a real conversation, agent
    and account, as an admin so that R5 lets the requests reach the workflow and the store."""
    openapi = (await world.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(openapi)
    auth = {"Authorization": f"Bearer {world.bearer['admin']}"}
    failures, sent = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        real = {"agent_id": world.name("yan"), "account_id": world.acme}
        if "{conversation_id}" in operation.path:  # a fresh one each, so each command meets an open conversation
            real["conversation_id"] = await world.assigned("sales", "ann")
        for fixed in ({}, {k: v for k, v in real.items() if "{" + k + "}" in operation.path}):
            query = {"max_seconds": 0} if operation.path.endswith("/events") else None  # a stream that ends
            for case in _examples(operation.as_strategy(path_parameters=fixed, headers=auth, query=query)):
                response = await world.http.request(**_httpx(case.as_transport_kwargs(base_url="http://gateway")))
                sent += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except (AssertionError, BaseExceptionGroup) as failure:  # one check failed, or several
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                    f"{response.text[:200]}\n{failure}")
    assert sent > 150
    assert not failures, "\n\n".join(failures[:10])


def _examples(strategy) -> list[Any]:
    found = []

    @hypothesis.settings(max_examples=EXAMPLES, database=None, derandomize=True, deadline=None,
                         phases=[hypothesis.Phase.generate], suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(strategy)
    def collect(case) -> None:
        found.append(case)

    collect()
    return found


def _httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Requests-style keyword arguments (what schemathesis serializes) for httpx."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if "data" in kwargs:
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("cookies", None)
    return kwargs


def _sse(text: str) -> list[dict[str, Any]]:
    """Parse a server-sent event stream: a list of {event, id, data}."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            events.append({"event": fields.get("event"), "id": fields.get("id"), "data": json.loads(fields["data"])})
    return events
