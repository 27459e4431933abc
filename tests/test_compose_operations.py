"""docker-compose.yml's operations side, checked without Docker (issue 11 items 4 and 7):
healthchecks on every long-running service (the worker's and the gateway's on their /healthz),
Prometheus scraping the worker's metrics port and the gateway, and a provisioned Grafana
dashboard whose queries name only metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.metrics import STORE_GAUGES
from workflows.telemetry import METRICS

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "switchboard.json"
ONE_SHOT = {"temporal-schema", "temporal-setup", "directory"}
# What the gateway's and the store's exporters name (the SDK's are checked against a live scrape
# in tests/test_metrics.py).
EXPORTED = {*METRICS, *STORE_GAUGES, "switchboard_store_up", "switchboard_http_requests_total",
            "switchboard_http_request_duration_seconds"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def mounted(service: dict[str, Any], target: str) -> Path:
    for volume in service.get("volumes") or []:
        source, where = volume.split(":")[:2]
        if where == target:
            return ROOT / source
    raise AssertionError(f"nothing is mounted at {target}")


def dashboard_metrics(dashboard: dict[str, Any] | None = None) -> set[str]:
    """The metric names the dashboard's queries use, histogram series folded to their metric."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"]]
    names = set()
    for expr in exprs:
        for name in re.findall(r"\b((?:switchboard|temporal)_[a-z0-9_]+)\b", expr):
            names.add(folded(name) if folded(name) in EXPORTED or name.startswith("temporal_") else name)
    return names


def folded(name: str) -> str:
    """A histogram's series (``_bucket``, ``_count``, ``_sum``) as the histogram's name."""
    return next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), name)


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} is a one-shot job"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_worker_serves_metrics_and_health_on_its_operations_port(services: dict[str, Any]) -> None:
    worker = services["worker"]
    environment = worker["environment"]
    port = environment["SWITCHBOARD_METRICS_PORT"]
    assert environment["SWITCHBOARD_METRICS_HOST"] == "0.0.0.0"  # prometheus is another container
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(worker["healthcheck"]["test"])
    gateway = services["gateway"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(gateway["healthcheck"]["test"])


def test_prometheus_scrapes_every_worker_the_gateway_and_the_server(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    config = yaml.safe_load(mounted(prometheus, "/etc/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker = jobs["switchboard-worker"]
    (sd,) = worker["dns_sd_configs"]  # every replica of `--scale worker=N`
    assert sd["names"] == ["worker"] and sd["type"] == "A"
    assert str(sd["port"]) == services["worker"]["environment"]["SWITCHBOARD_METRICS_PORT"]
    assert jobs["switchboard-gateway"]["static_configs"][0]["targets"] == ["gateway:8000"]
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs.values())
    server = jobs["temporal-server"]["static_configs"][0]["targets"][0]
    assert services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].endswith(":" + server.split(":")[1])
    assert prometheus["depends_on"]["worker"]["condition"] == "service_healthy"


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    provisioning = mounted(grafana, "/etc/grafana/provisioning")
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090" and datasource["uid"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "switchboard.yml").read_text())["providers"]
    folder = provider["options"]["path"]
    assert mounted(grafana, folder) == DASHBOARD.parent
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "switchboard"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]


def test_dashboard_shows_the_domain_figures_with_exported_names() -> None:
    used = dashboard_metrics()
    ours = {name for name in used if name.startswith("switchboard_")}
    assert ours <= EXPORTED, f"the dashboard queries metrics nobody exports: {sorted(ours - EXPORTED)}"
    for figure in ("switchboard_queue_length", "switchboard_queue_oldest_wait_seconds", "switchboard_offers_total",
                   "switchboard_offers_made_total", "switchboard_wait_seconds", "switchboard_offer_wait_seconds",
                   "switchboard_rollovers_total", "switchboard_transfers_total", "switchboard_rollbacks_total",
                   "switchboard_agents_online", "switchboard_agent_load", "switchboard_agent_capacity"):
        assert figure in used, f"the dashboard does not show {figure}"
    text = DASHBOARD.read_text()
    assert 'le=\\"20.0\\"' in text, "the service level panel reads the 20 s bucket"
    exprs = " ".join(t["expr"] for p in json.loads(text)["panels"] for t in p.get("targets", []))
    assert not re.search(r"\b(customer|agent|conversation_id)\b", exprs)  # labels are account and skill
