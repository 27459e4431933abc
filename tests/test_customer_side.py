"""The customer's side (CONTRACT "Customer side") and the workspace routes of the HTTP gateway,
on real servers: the Temporal dev server, a worker, a SQLite store, the app in-process.

A channel gateway reads ``GET /gateways/{name}/events``: the warm message of a transfer (SPEC R6.2)
and the close (R8.1), in order, resumable with ``Last-Event-ID`` across a gateway restart, and only
for the accounts it serves. Streams are limited per principal (429). The workspace routes answer
within SPEC R5 like the rest of the gateway.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from conftest import now
from gateway import create_app, web
from store import books, metrics, outbox, tokens
from switchboard.devserver import free_port

SWITCHBOARD = os.path.join(os.path.dirname(sys.executable), "switchboard")

DIRECTORY = """
accounts:
  - id: acme{n}
    brand: {{name: Acme Motors}}
    skills:
      - id: sales
        transfer_targets: [{{account: parts{n}, skill: service}}]
      - id: billing
    agents:
      - {{id: ann{n}, skills: [sales, billing], capacity: 5, status: online}}
      - {{id: mia{n}, role: manager}}
  - id: parts{n}
    brand: {{name: Acme Parts}}
    skills:
      - id: service
    agents:
      - {{id: pat{n}, skills: [service], capacity: 5, status: online}}
gateways:
  - {{name: web{n}, accounts: [acme{n}]}}
  - {{name: other{n}, accounts: [parts{n}]}}
"""
WHO = {"ann": "ann", "mia": "mia", "pat": "pat", "web": "gateway:web", "other": "gateway:other"}


def _sse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            events.append({"event": fields.get("event"), "id": fields.get("id"), "data": json.loads(fields["data"])})
    return events


class Side:
    def __init__(self, stack, n: str, bearer: dict[str, str]) -> None:
        self.stack, self.n, self.bearer = stack, n, bearer

    def client(self, **app_options) -> httpx.AsyncClient:
        """A gateway process of its own over the same store (a restart is a new one)."""
        app = create_app(store=self.stack.store, client=self.stack.client, task_queue=self.stack.task_queue,
                         **app_options)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")

    def auth(self, who: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer[who]}", **headers}


@pytest.fixture
async def side(stack) -> AsyncIterator[Side]:
    n = "-" + uuid.uuid4().hex[:6]
    await stack.load(DIRECTORY.format(n=n))
    yield Side(stack, n, {short: await tokens.create(stack.store, p + n) for short, p in WHO.items()})


async def _assigned_to_ann(side: Side, http: httpx.AsyncClient) -> str:
    cid = f"c-{uuid.uuid4().hex[:10]}"
    started = await http.post("/conversations", headers=side.auth("web"), json={
        "conversation_id": cid, "account": f"acme{side.n}", "skill": "sales", "channel": "web", "customer": "cust-1"})
    assert started.status_code == 201, started.text
    side.stack.started.append(cid)
    await side.stack.wait_for(side.stack.handle(cid), lambda v: (v.get("offer") or {}).get("agent") == f"ann{side.n}")
    accepted = await http.post(f"/conversations/{cid}/accept", headers=side.auth("ann"), json={})
    assert accepted.status_code == 200, accepted.text
    return cid


async def test_r6_2_r8_1_the_channel_gateway_hears_the_warm_message_and_the_close_and_resumes_after_a_restart(
        side: Side) -> None:
    async with side.client() as http:
        cid = await _assigned_to_ann(side, http)
        moved = await http.post(f"/conversations/{cid}/transfer", headers=side.auth("ann"), json={
            "account": f"parts{side.n}", "skill": "service", "note": "brake pads", "warm_message": "Passing you on"})
        assert moved.status_code == 200, moved.text
        await side.stack.wait_for(side.stack.handle(cid), lambda v: v["status"] == "offered")
        closed = await http.post(f"/conversations/{cid}/close", headers=side.auth("web"), json={"reason": "left"})
        assert closed.status_code == 200, closed.text
        await side.stack.wait_for(side.stack.handle(cid), lambda v: v["status"] == "closed")

        async def events(client: httpx.AsyncClient, who: str = "web", **headers: str) -> list[dict]:
            answer = await client.get(f"/gateways/{WHO[who].removeprefix('gateway:')}{side.n}/events",
                                      params={"max_seconds": 1, "conversation_id": cid},
                                      headers=side.auth(who, **headers))
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
            return _sse(answer.text)

        # The release closes the books in the close's workflow task: the stream has it then.
        for _ in range(100):
            seen = await events(http)
            if len(seen) == 2:
                break
            await asyncio.sleep(0.1)
        assert [(e["event"], e["data"].get("text")) for e in seen] == [("warm_message", "Passing you on"),
                                                                     ("closed", None)], seen
        assert seen[0]["data"]["conversation_id"] == cid and seen[0]["data"]["account"] == f"acme{side.n}"
        assert seen[0]["data"]["channel"] == "web" and "brake pads" not in json.dumps(seen), "notes never go out"
        assert int(seen[0]["id"]) < int(seen[1]["id"])
    # A restarted gateway (another process over the same store) resumes after the last id it gave.
    async with side.client() as again:
        assert [e["event"] for e in await events(again, **{"Last-Event-ID": seen[0]["id"]})] == ["closed"]
        assert await events(again, **{"Last-Event-ID": seen[1]["id"]}) == []
        # R5.5: a gateway of another account hears nothing of it; nobody reads another gateway's stream.
        assert await events(again, "other") == []
        for who in ("ann", "other"):
            refused = await again.get(f"/gateways/web{side.n}/events", params={"max_seconds": 0},
                                      headers=side.auth(who))
            assert refused.status_code == 403 and refused.json()["error"] == "Forbidden", refused.text


async def test_a_close_is_written_for_the_customer_once_however_often_the_release_runs(store) -> None:
    async with store.transaction() as conn:
        await conn.execute(books.t.conversations.insert().values(
            conversation_id="c-1", workflow_id="conversation-c-1", first_run_id="r", account_id="acme",
            skill_id="sales", step=1, started_at=now()))
    for later in range(3):  # retried, late: one message
        await books.finish(store, "c-1", now() + timedelta(seconds=later))
    rows = await outbox.for_customers(store, None)
    assert [(r.kind, r.conversation_id, r.account_id) for r in rows] == [("closed", "c-1", "acme")]
    assert await outbox.for_customers(store, {"globex"}) == []
    assert await books.finish(store, "never-started", now()) == [] and len(await outbox.for_customers(store, None)) == 1


async def test_event_streams_are_limited_per_principal_with_a_429_naming_the_limit(side: Side) -> None:
    async with side.client(streams_per_principal=1) as http:
        long = asyncio.create_task(http.get(f"/agents/ann{side.n}/events", params={"max_seconds": 2},
                                            headers=side.auth("ann")))
        await asyncio.sleep(0.5)  # the first stream is open
        refused = await http.get(f"/agents/ann{side.n}/events", params={"max_seconds": 0}, headers=side.auth("ann"))
        assert refused.status_code == 429 and refused.json()["error"] == "TooManyStreams", refused.text
        assert "SWITCHBOARD_STREAMS_PER_PRINCIPAL" in refused.json()["message"]
        other = await http.get(f"/gateways/web{side.n}/events", params={"max_seconds": 0}, headers=side.auth("web"))
        assert other.status_code == 200, "the limit is per principal"
        assert (await long).status_code == 200
        again = await http.get(f"/agents/ann{side.n}/events", params={"max_seconds": 0}, headers=side.auth("ann"))
        assert again.status_code == 200, "a stream that ended gives its place back"


async def test_docs_are_served_offline_with_readable_operation_ids(side: Side) -> None:
    async with side.client() as http:
        docs = await http.get("/docs")
        assert "/static-offline-docs/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
        assert (await http.get("/static-offline-docs/swagger-ui-bundle.js")).status_code == 200
        redoc = await http.get("/redoc")
        assert redoc.status_code == 200
        # The docs pages (and only they) run inline scripts, from this origin alone.
        assert docs.headers["content-security-policy"] == redoc.headers["content-security-policy"] == web.DOCS_POLICY
        assert "content-security-policy" not in (await http.get("/openapi.json")).headers
        operations = {op["operationId"] for path in (await http.get("/openapi.json")).json()["paths"].values()
                      for op in path.values()}
        assert {"start_conversation", "accept", "transfer", "agent_events", "customer_events",
                "move_options", "account_queues"} <= operations


async def test_r5_workspace_routes_answer_within_the_callers_rights(side: Side) -> None:
    acme, parts = f"acme{side.n}", f"parts{side.n}"
    async with side.client() as http:
        me = (await http.get("/me", headers=side.auth("web"))).json()
        assert me == {"id": f"gateway:web{side.n}", "role": "gateway", "account": None, "accounts": [acme],
                      "brand_name": None}
        assert (await http.get(f"/agents/ann{side.n}", headers=side.auth("ann"))).json()["status"] == "online"
        assert (await http.get(f"/agents/ann{side.n}", headers=side.auth("pat"))).status_code == 404  # R5.5
        agents = (await http.get(f"/accounts/{acme}/agents", headers=side.auth("mia"))).json()
        assert [(a["id"], a["load"], a["capacity"]) for a in agents] == [(f"ann{side.n}", 0, 5), (f"mia{side.n}", 0, 1)]
        assert (await http.get(f"/accounts/{acme}/agents", headers=side.auth("ann"))).status_code == 403
        assert (await http.get(f"/accounts/{acme}/queues", headers=side.auth("pat"))).status_code == 404

        cid = await _assigned_to_ann(side, http)
        options = (await http.get(f"/conversations/{cid}/targets", headers=side.auth("ann"))).json()
        assert [t["skill"] for t in options["skills"]] == ["billing"] and options["rollback"] == []
        assert [(t["account"], t["skill"], t["open_now"]) for t in options["rollover"]] == [(parts, "service", True)]
        assert (await http.get(f"/conversations/{cid}/targets", headers=side.auth("mia"))).status_code == 200
        assert (await http.get(f"/conversations/{cid}/targets", headers=side.auth("web"))).status_code == 403
        moved = await http.post(f"/conversations/{cid}/transfer", headers=side.auth("ann"),
                                json={"account": parts, "skill": "service"})
        assert moved.status_code == 200, moved.text
        # R5.1: while Parts has it, Ann has no options for it; R4: Pat's are the owner's skills to roll back to.
        assert (await http.get(f"/conversations/{cid}/targets", headers=side.auth("ann"))).status_code == 404
        await side.stack.wait_for(side.stack.handle(cid),
                                  lambda v: (v.get("offer") or {}).get("agent") == f"pat{side.n}")
        accepted = await http.post(f"/conversations/{cid}/accept", headers=side.auth("pat"), json={})
        assert accepted.status_code == 200, accepted.text
        options = (await http.get(f"/conversations/{cid}/targets", headers=side.auth("pat"))).json()
        assert options["may_roll_back"] and sorted(t["skill"] for t in options["rollback"]) == ["billing", "sales"]
        assert options["here"] == {"account": parts, "skill": "service"}


async def test_a_stopped_gateway_ends_its_open_streams_and_exits_at_once(stack, dev_env, tmp_path) -> None:
    """Issue 11 item 8: with a client still reading a stream, SIGTERM stops `switchboard gateway`
    in seconds (the hand-rolled stream kept it waiting for the client to leave)."""
    n = "-" + uuid.uuid4().hex[:6]
    await stack.load(DIRECTORY.format(n=n))
    token = await tokens.create(stack.store, f"ann{n}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SWITCHBOARD_"))}
    env |= {"TEMPORAL_ADDRESS": dev_env.service_client.config.target_host, "SWITCHBOARD_TASK_QUEUE": stack.task_queue,
            "SWITCHBOARD_DATABASE_URL": stack.store.engine.url.render_as_string(hide_password=False)}
    proc = await asyncio.create_subprocess_exec(SWITCHBOARD, "gateway", "--port", str(port), env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(200):  # until it listens
                try:
                    await http.get("/openapi.json")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}"}
            async with http.stream("GET", f"/agents/ann{n}/events", headers=headers) as feed:
                assert feed.status_code == 200
                proc.send_signal(signal.SIGTERM)
                ended = asyncio.get_running_loop().time()
                async for _ in feed.aiter_bytes():  # the stream ends from the server's side
                    pass
                await asyncio.wait_for(proc.wait(), 10)
                assert asyncio.get_running_loop().time() - ended < 10
        # uvicorn exits by the signal it was stopped with, once shut down cleanly
        assert proc.returncode in (0, -signal.SIGTERM), (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_queue_figures_count_the_waiting_and_name_the_oldest_per_skill(store) -> None:
    """What the manager's queue panel shows (GET /accounts/{id}/queues reads it)."""
    async with store.transaction() as conn:
        for cid, skill, waited in (("q-1", "sales", 90), ("q-2", "sales", 30), ("q-3", "billing", 5), ("q-4", "x", 1)):
            await conn.execute(books.t.queue.insert().values(
                conversation_id=cid, workflow_id=f"conversation-{cid}", account_id="acme" if cid != "q-4" else "bpo",
                skill_id=skill, priority=0, waiting_since=now() - timedelta(seconds=waited), step=1, outcome={}))
    figures = await metrics.queues(store, "acme")
    assert {skill: count for skill, (count, _) in figures.items()} == {"sales": 2, "billing": 1}
    assert round((now() - figures["sales"][1]).total_seconds()) in (90, 91)
