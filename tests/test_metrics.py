"""Metrics and health (CONTRACT "Operations", issue 11): a scripted scenario on a real worker whose
runtime exports the SDK's metrics, then the worker's and the gateway's /metrics are scraped.

Scenario: three offers to the owner's agents (one accepted, one expired) and two to a BPO (a fully
managed rollover, and a backup rollover because no owner agent of the skill is online), and what
the store says after it (one conversation queued, agents' load).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gateway import create_app
from service.metrics import STORE_GAUGES, Exporter, telemetry_runtime
from service.ops_server import serve
from store import Store
from test_compose_operations import dashboard_metrics, folded
from conftest import Stack
from worker import build_worker
from workflows.telemetry import METRICS

DIRECTORY = """
accounts:
  - id: m{n}
    brand: {{name: Metrics Motors}}
    skills:
      - id: sales
        accept_timeout: 1s
      - id: night
        rollover: {{mode: fully_managed, handler: {{account: b{n}, skill: m-night}}}}
      - id: spill
        rollover: {{mode: backup, handler: {{account: b{n}, skill: m-night}}, backup_window: 60s}}
    agents:
      - {{id: ann{n}, skills: [sales], capacity: 1, status: online}}
      - {{id: bob{n}, skills: [sales], capacity: 1, status: online}}
  - id: b{n}
    brand: {{name: Bureau}}
    skills:
      - id: m-night
    agents:
      - {{id: zed{n}, skills: [m-night], capacity: 4, status: online}}
"""

SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text -> {(name, labels): value}."""
    out = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            out[(match["name"], labels)] = float(match["value"])
    return out


def value(figures: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in figures.items() if n == name and want <= ls)


@pytest.fixture
async def metered(dev_env: Client, store: Store) -> AsyncIterator[tuple[Stack, str]]:
    """A worker whose client uses a telemetry runtime, with its operations port on a free port."""
    runtime, buffer = telemetry_runtime()
    client = await Client.connect(dev_env.service_client.config.target_host, runtime=runtime,
                                  data_converter=pydantic_data_converter)
    task_queue = f"tq-{uuid.uuid4().hex[:10]}"
    stack = Stack(client=client, store=store, task_queue=task_queue)
    async with build_worker(client, store, task_queue), \
            serve(Exporter(store=store, buffer=buffer), "127.0.0.1", 0, healthy=lambda: True) as port:
        yield stack, f"http://127.0.0.1:{port}"
    for conversation_id in stack.started:
        try:
            await stack.handle(conversation_id).terminate("test finished")
        except Exception:
            pass


async def scrape_until(url: str, ok: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            response = await http.get(f"{url}/metrics")
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/plain")
            figures = samples(response.text)
            if ok(figures) or loop.time() > deadline:
                return figures
            await asyncio.sleep(0.2)


async def test_scripted_scenario_shows_on_the_worker_and_gateway_metrics(metered):
    stack, url = metered
    n = uuid.uuid4().hex[:6]
    await stack.load(DIRECTORY.format(n=n))
    account = f"m{n}"

    first = await stack.start(account, "sales")
    offer = (await stack.offered(first))["offer"]["agent"]
    await first.execute_update("accept", {"agent": offer})
    second = await stack.start(account, "sales")
    await stack.offered(second)  # to the other agent, who lets it expire (1 s); the accepted one is full
    await stack.wait_for(second, lambda v: v["status"] == "queued")
    night = await stack.start(account, "night")
    await stack.offered(night, f"zed{n}")
    spill = await stack.start(account, "spill")
    await stack.offered(spill, f"zed{n}")

    where = {"account": account, "skill": "sales"}
    figures = await scrape_until(url, lambda f: value(f, "switchboard_offers_made_total", account=f"b{n}") == 2
                                 and value(f, "switchboard_offers_total", outcome="expired", **where) == 1)
    assert value(figures, "switchboard_conversations_started_total", account=account) == 4
    assert value(figures, "switchboard_offers_made_total", **where) == 2
    assert value(figures, "switchboard_offers_made_total", account=f"b{n}", skill="m-night") == 2
    assert value(figures, "switchboard_offers_total", outcome="accepted", **where) == 1
    assert value(figures, "switchboard_offers_total", outcome="expired", **where) == 1
    assert value(figures, "switchboard_offers_total", outcome="declined", **where) == 0
    assert value(figures, "switchboard_rollovers_total", account=account, mode="fully_managed", reason="R3.2") == 1
    assert value(figures, "switchboard_rollovers_total", account=account, mode="none", reason="R3.1") == 2
    spilt = {"account": account, "skill": "spill", "mode": "backup"}  # labelled by the owner's skill
    assert value(figures, "switchboard_rollovers_total", reason="R3.3", **spilt) == 1
    assert value(figures, "switchboard_rollovers_total", reason="backup_no_owner_online", **spilt) == 1
    assert value(figures, "switchboard_rollovers_total", account=f"b{n}") == 0
    assert value(figures, "switchboard_queued_total", **where) == 1
    assert value(figures, "switchboard_wait_seconds_count", **where) == 1  # arrival to acceptance, once
    assert value(figures, "switchboard_wait_seconds_bucket", le="+Inf", **where) == 1
    assert value(figures, "switchboard_offer_wait_seconds_count", account=account) == 2  # first offers only
    assert value(figures, "switchboard_offer_wait_seconds_count", account=f"b{n}") == 2
    # The store's gauges: the expired one waits in the queue; both owner agents hold one each at most.
    assert value(figures, "switchboard_queue_length", **where) == 1
    assert value(figures, "switchboard_queue_oldest_wait_seconds", **where) > 0
    assert value(figures, "switchboard_queue_length", account=account, skill="night") == 0
    assert value(figures, "switchboard_agents_online", **where) == 2
    assert value(figures, "switchboard_agent_capacity", **where) == 2
    assert value(figures, "switchboard_agent_load", **where) == 1
    assert value(figures, "switchboard_conversations_held", account=f"b{n}", skill="m-night") == 2
    assert value(figures, "switchboard_store_up") == 1
    # The SDK's own metrics come through the same runtime and port.
    names = {name for name, _ in figures}
    assert {"temporal_workflow_completed_total", "temporal_activity_execution_latency_bucket",
            "temporal_worker_task_slots_available"} & names, sorted(n for n in names if n.startswith("temporal"))
    assert any(name.startswith("temporal_workflow_task") for name in names)
    # Labels: never a customer or an agent.
    for (name, labels), _ in figures.items():
        if name.startswith("switchboard_"):
            assert not {k for k, _ in labels} & {"customer", "agent", "conversation_id"}, (name, labels)

    # The gateway exports the store's gauges too (the same figures: they come from the database),
    # and its own HTTP metrics by route template.
    app = create_app(store=stack.store, client=stack.client, task_queue=stack.task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        assert (await http.get(f"/conversations/{first.id}")).status_code == 401
        text = (await http.get("/metrics")).text
    gateway = samples(text)
    assert value(gateway, "switchboard_queue_length", **where) == 1
    assert value(gateway, "switchboard_http_requests_total", route="/conversations/{conversation_id}",
                 status="401") == 1
    assert value(gateway, "switchboard_http_request_duration_seconds_count", method="GET") == 1  # /metrics not
    # The Grafana dashboard's SDK metrics are ones this worker really exports.
    sdk = {name for name in dashboard_metrics() if name.startswith("temporal_")}
    assert sdk and sdk <= {folded(name) for name, _ in figures}, sorted(sdk - {folded(name) for name, _ in figures})


async def test_worker_health_and_unknown_paths(metered):
    _, url = metered
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{url}/healthz")).status_code == 200
        assert (await http.get(f"{url}/nope")).status_code == 404
        assert (await http.post(f"{url}/metrics")).status_code == 405


async def test_stopping_worker_answers_503_on_healthz(store: Store):
    stopping = asyncio.Event()
    async with serve(Exporter(store=store), "127.0.0.1", 0, healthy=lambda: not stopping.is_set()) as port:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            stopping.set()
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 503


async def test_gateway_healthz_and_readyz(dev_env: Client, store: Store):
    app = create_app(store=store, client=dev_env)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        assert (await http.get("/healthz")).text == "ok\n"
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True}


async def test_readyz_is_503_naming_an_unreachable_database(dev_env: Client, tmp_path: Path):
    gone = Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'missing-folder' / 'switchboard.db'}")
    app = create_app(store=gone, client=dev_env)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        ready = await http.get("/readyz")
        assert (await http.get("/healthz")).status_code == 200  # the process itself is fine
        text = (await http.get("/metrics")).text
    assert ready.status_code == 503
    assert ready.json()["reason"].startswith("database unreachable"), ready.json()
    assert "temporal" not in ready.json()["checks"]
    assert value(samples(text), "switchboard_store_up") == 0
    await gone.close()


async def test_readyz_is_503_naming_an_unreachable_temporal(store: Store):
    from switchboard.devserver import free_port

    nobody = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(store=store, client=nobody)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert list(ready.json()["checks"]) == ["temporal"], ready.json()
    assert "temporal unreachable" in ready.json()["reason"]


def test_every_exported_metric_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in [*METRICS, *STORE_GAUGES, "switchboard_http_requests_total",
                 "switchboard_http_request_duration_seconds", "switchboard_store_up"]:
        assert f"`{name}`" in readme, f"README 'Metrics' does not document {name}"


async def test_a_continued_run_counts_only_its_own_events(metered):
    """A state carried across continue-as-new brings the earlier run's events; they were counted
    there. The new run counts what it adds: here the offer after the carried decline."""
    from datetime import datetime, timedelta

    from routing.directory import SkillRef
    from routing.model import Event, StartConversation
    from workflows.conversation import workflow_id
    from workflows.state import ConversationState

    stack, url = metered
    n = uuid.uuid4().hex[:6]
    await stack.load(DIRECTORY.format(n=n))
    account = f"m{n}"
    start = StartConversation(conversation_id=f"t-{n}", account=account, skill="sales", channel="web",
                              customer="cust-1")
    now = datetime.now().astimezone()
    carried = ConversationState.opened(start, now - timedelta(seconds=5), now - timedelta(seconds=5))
    carried.step, carried.status, carried.pending, carried.excluded = 1, "routing", "declined", [f"ann{n}"]
    carried.target = SkillRef(account=account, skill="sales")
    carried.extend([Event(at=now - timedelta(seconds=5), kind="started"),
                    Event(at=now - timedelta(seconds=4), kind="offered", agent=f"ann{n}"),
                    Event(at=now - timedelta(seconds=1), kind="declined", agent=f"ann{n}")])
    handle = await stack.client.start_workflow(
        "Conversation", args=[start.model_dump(mode="json"), carried.model_dump(mode="json")],
        id=workflow_id(start.conversation_id), task_queue=stack.task_queue)
    stack.started.append(start.conversation_id)
    await stack.offered(handle, f"bob{n}")
    figures = await scrape_until(url, lambda f: value(f, "switchboard_offers_made_total", account=account) >= 1)
    assert value(figures, "switchboard_offers_made_total", account=account) == 1
    assert value(figures, "switchboard_conversations_started_total", account=account) == 0
    assert value(figures, "switchboard_offers_total", account=account, outcome="declined") == 0
    assert value(figures, "switchboard_offer_wait_seconds_count", account=account) == 0  # not its first offer
