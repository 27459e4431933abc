"""Traces (issue 11): one conversation's trace, exported over OTLP/HTTP to a collector in this
test, follows ``POST /conversations`` through the gateway, the Temporal client, the workflow and
its ``route`` activity. The pipeline is the real one: the OTEL_* variables turn it on,
``service.tracing`` builds the provider and the OTLP exporter, the SDK's interceptor does the rest.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                     ExportTraceServiceResponse)
from temporalio.client import Client

from gateway import create_app
from service import tracing
from service.config import Settings
from service.temporal import connect
from store import Store, directory, tokens
from worker import build_worker

DIRECTORY = """
accounts:
  - id: t{n}
    brand: {{name: Traced}}
    skills: [{{id: sales}}]
    agents:
      - {{id: ann{n}, skills: [sales], status: online}}
gateways:
  - {{name: web{n}}}
"""


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: decodes each export into its spans."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Receive)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.server.spans.append(span)
                    self.server.resources.append(attributes)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "switchboard-test")
    tracing.shutdown()
    try:
        yield server
    finally:
        tracing.shutdown()
        server.shutdown()
        server.server_close()


def test_tracing_is_off_without_an_endpoint():
    assert not tracing.enabled({})
    assert tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"})


async def test_one_trace_follows_post_conversations_into_the_workflow_and_its_activities(
        collector: Collector, dev_env: Client, store: Store):
    n = uuid.uuid4().hex[:6]
    await directory.save(store, directory.parse_text(DIRECTORY.format(n=n), "test-directory"))
    target = dev_env.service_client.config.target_host
    client = await connect(Settings(temporal_address=target, namespace="default", task_queue="unused",
                                    database_url=None, directory=None))
    task_queue = f"tq-{uuid.uuid4().hex[:10]}"
    token = await tokens.create(store, f"gateway:web{n}")
    app = create_app(store=store, client=client, task_queue=task_queue)
    conversation = f"c-{n}"
    async with build_worker(client, store, task_queue):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            started = await http.post("/conversations", headers={"Authorization": f"Bearer {token}"}, json={
                "conversation_id": conversation, "account": f"t{n}", "skill": "sales", "channel": "web",
                "customer": "cust-1"})
            assert started.status_code in (200, 201), started.text
        handle = client.get_workflow_handle(f"conversation-{conversation}")
        for _ in range(200):
            if (await handle.query("state"))["status"] == "offered":
                break
        await handle.terminate("test finished")
    tracing.shutdown()  # flushes the batch to the collector

    spans = collector.spans
    by_id = {span.span_id: span for span in spans}
    http_span = next(s for s in spans if s.name == "POST /conversations")
    start = next(s for s in spans if s.name == "StartWorkflow:Conversation")
    run = next(s for s in spans if s.name == "RunWorkflow:Conversation")
    route = next(s for s in spans if s.name == "StartActivity:route")
    routed = next(s for s in spans if s.name == "RunActivity:route")

    def ancestors(span: Any) -> list[bytes]:
        chain = []
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            chain.append(span.span_id)
        return chain

    assert {s.trace_id for s in (http_span, start, run, route, routed)} == {http_span.trace_id}
    assert http_span.span_id in ancestors(start)
    assert start.span_id in ancestors(run)  # the SDK hangs a workflow's spans under the start's
    assert start.span_id in ancestors(route)
    assert route.span_id == routed.parent_span_id
    assert {"service.name": "switchboard-test"}.items() <= collector.resources[0].items()


def test_off_costs_nothing_not_even_an_import():
    """Without an endpoint no interceptor is installed and OpenTelemetry's SDK is never loaded."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = ("import sys, worker, gateway.app; from service import tracing; "
            "gateway.app.create_app(); assert tracing.interceptors() == []; "
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
            "'temporalio.contrib.opentelemetry', 'opentelemetry.instrumentation'))))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
