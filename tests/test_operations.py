"""Operations on the command line and in the logs (issue 11 items 1, 3, 4, 9): the worker's metrics
port as CONTRACT names it, structured routing-decision logs, ``--version`` and help everywhere."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner
from temporalio.client import Client

from conftest import Stack
from service.config import Settings
from service.logs import JsonFormatter, TextFormatter, log_format
from switchboard.cli import main
from worker import run_worker


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "switchboard 0.2.0"


def _commands(group: click.Group, path: str = "switchboard"):
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} {name}")


def test_every_cli_option_has_help_text():
    missing = [f"{path} {param.opts[0]}" for path, command in [("switchboard", main), *_commands(main)]
               for param in command.params if isinstance(param, click.Option) and not param.help]
    assert not missing, missing
    assert all(command.help for _, command in _commands(main))


def test_log_format_is_checked():
    assert log_format(None, {}) == "text"
    assert log_format(None, {"SWITCHBOARD_LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(ValueError, match="SWITCHBOARD_LOG_FORMAT: 'xml' is not one of text, json"):
        log_format(None, {"SWITCHBOARD_LOG_FORMAT": "xml"})
    result = CliRunner().invoke(main, ["--log-format", "xml", "directory", "show"])
    assert result.exit_code == 2 and "'xml' is not one of 'text', 'json'" in result.output


@pytest.mark.parametrize("port", ["-1", "70000", "nine"])
def test_a_bad_metrics_port_is_refused(port: str, monkeypatch: pytest.MonkeyPatch):
    result = CliRunner().invoke(main, ["worker", "--metrics-port", port])
    assert result.exit_code == 2 and "--metrics-port" in result.output, result.output
    monkeypatch.setenv("SWITCHBOARD_METRICS_PORT", port)
    assert CliRunner().invoke(main, ["worker"]).exit_code == 2


async def test_worker_metrics_port_serves_metrics_and_health(dev_env: Client, tmp_path: Path):
    settings = Settings(temporal_address=dev_env.service_client.config.target_host, namespace="default",
                        task_queue=f"tq-{uuid.uuid4().hex[:10]}",
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}", directory=None)
    stop, serving = asyncio.Event(), asyncio.get_running_loop().create_future()
    running = asyncio.create_task(run_worker(settings, stop=stop, metrics_port=0, serving=serving))
    try:
        port = await asyncio.wait_for(serving, 60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            text = ""
            for _ in range(100):  # the worker's first polls and the reconciler's schedule land soon
                text = (await http.get("/metrics")).text
                if "temporal_" in text:
                    break
                await asyncio.sleep(0.2)
        assert "switchboard_store_up 1.0" in text
        assert "temporal_" in text
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)


async def test_one_structured_log_line_per_routing_decision_without_names_or_text(
        stack: Stack, caplog: pytest.LogCaptureFixture):
    n = uuid.uuid4().hex[:6]
    await stack.load(f"""
accounts:
  - id: l{n}
    brand: {{name: Logged}}
    skills: [{{id: sales}}]
    agents:
      - {{id: ann{n}, name: Annabel Secretname, skills: [sales], status: online}}
""")
    with caplog.at_level(logging.INFO, logger="switchboard.routing"):
        handle = await stack.start(f"l{n}", "sales", customer="cust-private", first_message="my card is 4111")
        await stack.offered(handle, f"ann{n}")
    records = [r for r in caplog.records if r.name == "switchboard.routing"
               and getattr(r, "fields", {}).get("account") == f"l{n}"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["message"] == "routing decision" and line["level"] == "info"
    assert {k: line[k] for k in ("step", "account", "skill", "agent", "outcome")} == {
        "step": 1, "account": f"l{n}", "skill": "sales", "agent": f"ann{n}", "outcome": "offered"}
    assert line["conversation_id"] == stack.started[-1]
    assert line["reason"].startswith("R3.1")
    for secret in ("Annabel", "Secretname", "cust-private", "4111"):
        assert secret not in json.dumps(line) and secret not in TextFormatter().format(records[0])


def test_the_lock_file_pins_every_dependency_of_every_extra():
    """`make lock` after a change of dependencies: an unpinned one would install unpinned."""
    import re
    import tomllib

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]

    def name(requirement: str) -> str:
        return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()

    pinned = {name(line) for line in (root / "requirements.lock").read_text().splitlines()
              if re.match(r"[A-Za-z0-9]", line) and "==" in line}
    missing = sorted({name(r) for r in wanted} - pinned)
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
