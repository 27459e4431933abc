"""docker-compose.yml, the Dockerfile and their helper files, checked without Docker.

No Docker engine runs here (DESIGN.md), so these tests parse the files and check the wiring that
users rely on: the services and their order, the CONTRACT environment, the search attributes, the
commands the containers run. The Temporal set-up script is run for real against a fake
``temporal`` command, which checks its waiting and its idempotence.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from switchboard.cli import main
from workflows.search_attributes import ALL

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

SERVICES = {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "worker", "gateway",
            "directory", "prometheus", "grafana"}
PROJECT_SERVICES = ("worker", "gateway", "directory")
ONE_SHOT = {"temporal-schema", "temporal-setup", "directory"}
SEARCH_ATTRIBUTES = [key.name for key in ALL]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with COMPOSE.open() as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whichever of the two compose spellings it uses."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: "" if v is None else str(v) for k, v in raw.items()}


def argv(value: str | list[str] | None) -> list[str]:
    """A command or entrypoint as a list of words."""
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (``service_started`` for the short list form)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts from the repository."""
    mounts = []
    for volume in service.get("volumes") or []:
        source, target = (volume.split(":")[:2] if isinstance(volume, str)
                          else (volume.get("source", ""), volume.get("target", "")))
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


# --- the file and its services ----------------------------------------------------------------


def test_compose_file_parses(compose: dict[str, Any]) -> None:
    assert isinstance(compose, dict)
    assert isinstance(compose.get("services"), dict) and compose["services"]


def test_expected_services_exist(services: dict[str, Any]) -> None:
    assert SERVICES <= set(services), f"missing services: {sorted(SERVICES - set(services))}"


def test_every_depends_on_names_an_existing_service(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency!r}"
            assert dependency != name
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency} to be healthy"


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name} has neither an image nor a build"
            continue
        last = image.rsplit("/", 1)[-1]
        assert ":" in last, f"{name}: image {image!r} has no tag"
        assert not last.endswith(":latest"), f"{name}: image {image!r} is not pinned"


def test_bind_mounted_files_exist_in_the_repository(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/")) and ":" in str(volume):
                assert source in declared, f"{name} uses undeclared volume {source!r}"


# --- PostgreSQL and Temporal ------------------------------------------------------------------


def test_postgresql_service(services: dict[str, Any]) -> None:
    pg = services["postgresql"]
    assert pg["image"].startswith("postgres:15")
    assert "healthcheck" in pg and pg["healthcheck"]["test"]
    assert any(not str(v).startswith((".", "/")) and str(v).endswith(":/var/lib/postgresql/data")
               for v in pg["volumes"]), "the data directory is a named volume"


def test_switchboard_database_is_created_by_an_init_script(services: dict[str, Any]) -> None:
    inits = [ROOT / src for src, target in bind_mounts(services["postgresql"])
             if target.startswith("/docker-entrypoint-initdb.d")]
    assert inits, "no init script is mounted into /docker-entrypoint-initdb.d"
    sql = "\n".join(p.read_text() for p in inits)
    assert re.search(r"CREATE\s+DATABASE\s+switchboard\b", sql, re.I)
    assert re.search(r"CREATE\s+(ROLE|USER)\s+switchboard\b.*PASSWORD\s+'switchboard'", sql, re.I)


def test_temporal_uses_postgresql_for_persistence_and_visibility(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    # The current server image: temporalio/auto-setup is deprecated and no longer built.
    assert temporal["image"].startswith("temporalio/server:")
    for name in ("temporal", "temporal-schema"):
        e = env(services[name])
        assert e["DB"] == "postgres12"
        assert e["POSTGRES_SEEDS"] == "postgresql"
        assert e["DB_PORT"] == "5432"
        assert e["POSTGRES_USER"] == env(services["postgresql"])["POSTGRES_USER"]
        assert e["POSTGRES_PWD"] == env(services["postgresql"])["POSTGRES_PASSWORD"]
        assert e.get("ENABLE_ES", "false") == "false"
    assert env(temporal)["BIND_ON_IP"] == "0.0.0.0"
    assert depends_on(temporal) == {"temporal-schema": "service_completed_successfully"}


def test_schema_job_sets_up_both_databases_with_the_servers_tools(services: dict[str, Any]) -> None:
    """The server image sets up no schema: a one-shot admin-tools job of the same release does."""
    job = services["temporal-schema"]
    server_version = services["temporal"]["image"].split(":")[1]
    assert job["image"] == f"temporalio/admin-tools:{server_version}"
    assert depends_on(job) == {"postgresql": "service_healthy"}
    assert job.get("restart") == "no"
    mounted = {target: ROOT / source for source, target in bind_mounts(job)}
    scripts = [mounted[w] for w in argv(job.get("entrypoint")) + argv(job.get("command")) if w in mounted]
    assert len(scripts) == 1
    script = scripts[0].read_text()
    assert "temporal-sql-tool --plugin postgres12" in script
    for db, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"{db}:{schema}" in script
    assert "schema/postgresql/v12" in script
    for verb in ("create-database", "setup-schema -v 0.0", "update-schema -d"):
        assert verb in script


def test_temporal_dynamic_config_is_mounted_where_it_is_read(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    path = env(temporal).get("DYNAMIC_CONFIG_FILE_PATH")
    if not path:
        return
    mounted = {target: ROOT / source for source, target in bind_mounts(temporal)}
    container_path = path if path.startswith("/") else f"/etc/temporal/{path}"
    assert container_path in mounted, f"{container_path} is not mounted into the temporal service"
    config = yaml.safe_load(mounted[container_path].read_text())
    for key, values in config.items():
        assert isinstance(values, list) and all("value" in v for v in values), key


def test_temporal_ui(services: dict[str, Any]) -> None:
    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    assert env(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert any(str(p).split(":")[-1] == "8080" for p in ui["ports"])


# --- search attributes ------------------------------------------------------------------------


def setup_script(services: dict[str, Any]) -> Path:
    """The repository file the temporal-setup service runs."""
    setup = services["temporal-setup"]
    mounted = {target: ROOT / source for source, target in bind_mounts(setup)}
    scripts = [mounted[word] for word in argv(setup.get("entrypoint")) + argv(setup.get("command"))
               if word in mounted]
    assert len(scripts) == 1, "temporal-setup should run one mounted script"
    return scripts[0]


def test_setup_service_registers_every_search_attribute(services: dict[str, Any]) -> None:
    assert len(SEARCH_ATTRIBUTES) == 9
    setup = services["temporal-setup"]
    assert setup["image"].startswith("temporalio/admin-tools:")
    assert env(setup)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert depends_on(setup).get("temporal") == "service_healthy"
    words = argv(setup.get("command"))
    for name in SEARCH_ATTRIBUTES:
        assert name in words, f"search attribute {name} is not registered by temporal-setup"
    script = setup_script(services).read_text()
    assert "temporal operator search-attribute create" in script
    assert "--type Keyword" in script


def _fake_temporal(bin_dir: Path) -> None:
    """A ``temporal`` command that answers like a server: down for a while, then a namespace
    whose search attributes live in a JSON file. Every call is logged."""
    fake = bin_dir / "temporal"
    fake.write_text(f"""#!{sys.executable}
import json, os, sys
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{"calls": [], "attrs": {{}}}}
args = sys.argv[1:]
state["calls"].append(args)
def save():
    json.dump(state, open(state_file, "w"))
def opt(name):
    return args[args.index(name) + 1] if name in args else None
code = 0
up = len([c for c in state["calls"] if c[:3] == ["operator", "cluster", "health"]]) > int(os.environ.get("FAKE_DOWN", "0"))
if not up:
    print("failed reaching server: connection refused", file=sys.stderr); code = 1
elif args[:3] == ["operator", "namespace", "describe"]:
    if opt("--namespace") in state.get("namespaces", []):
        print("NamespaceInfo.Name", opt("--namespace"))
    else:
        print("Namespace not found", file=sys.stderr); code = 1
elif args[:3] == ["operator", "namespace", "create"]:
    state.setdefault("namespaces", []).append(opt("--namespace"))
elif args[:3] == ["operator", "cluster", "health"]:
    print("SERVING")
elif args[:3] == ["operator", "search-attribute", "list"]:
    print("  Name                 Type")
    for name, kind in {{"WorkflowType": "Keyword", **state["attrs"]}}.items():
        print(f"  {{name:<20}} {{kind}}")
elif args[:3] == ["operator", "search-attribute", "create"]:
    name = opt("--name")
    if name in state["attrs"]:
        print(f"Search attribute {{name}} already exists", file=sys.stderr); code = 1
    else:
        state["attrs"][name] = opt("--type")
else:
    print("unexpected command", args, file=sys.stderr); code = 3
save()
sys.exit(code)
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)


def _run_setup(services: dict[str, Any], tmp_path: Path, **extra_env: str) -> tuple[subprocess.CompletedProcess, dict]:
    setup = services["temporal-setup"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _fake_temporal(bin_dir)
    environ = {**os.environ, **env(setup), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "FAKE_STATE": str(tmp_path / "state.json"), "SETUP_RETRY_INTERVAL": "0", **extra_env}
    names = argv(setup.get("command"))
    result = subprocess.run(["sh", str(setup_script(services)), *names], env=environ,
                            capture_output=True, text=True, timeout=60)
    return result, json.loads((tmp_path / "state.json").read_text())


needs_sh = pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh on this machine")


@needs_sh
def test_setup_script_waits_for_the_server_and_is_idempotent(services: dict[str, Any], tmp_path: Path) -> None:
    first, state = _run_setup(services, tmp_path, FAKE_DOWN="2")
    assert first.returncode == 0, first.stderr
    assert state["attrs"] == {name: "Keyword" for name in SEARCH_ATTRIBUTES}
    assert state["namespaces"] == ["default"]  # the plain server image creates no namespace
    creates = [c for c in state["calls"] if c[:3] == ["operator", "search-attribute", "create"]]
    assert len(creates) == len(SEARCH_ATTRIBUTES)
    assert all(c[c.index("--address") + 1] == "temporal:7233" for c in state["calls"])
    assert all(c[c.index("--type") + 1] == "Keyword" for c in creates)

    calls_before = len(state["calls"])
    second, state = _run_setup(services, tmp_path)
    assert second.returncode == 0, second.stderr
    assert not [c for c in state["calls"][calls_before:] if c[:3] == ["operator", "search-attribute", "create"]]
    assert state["namespaces"] == ["default"]
    assert state["attrs"] == {name: "Keyword" for name in SEARCH_ATTRIBUTES}


@needs_sh
def test_setup_script_gives_up_when_the_server_never_answers(services: dict[str, Any], tmp_path: Path) -> None:
    result, state = _run_setup(services, tmp_path, FAKE_DOWN="1000000", SETUP_TIMEOUT="0")
    assert result.returncode != 0
    assert "gave up" in result.stderr
    assert state["attrs"] == {}


# --- worker, gateway, directory ---------------------------------------------------------------


@pytest.mark.parametrize("name", PROJECT_SERVICES)
def test_project_services_share_the_contract_environment(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert "build" in service, f"{name} is built from the repository's Dockerfile"
    e = env(service)
    assert e["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert e["TEMPORAL_NAMESPACE"] == "default"
    assert e["SWITCHBOARD_TASK_QUEUE"] == "switchboard"
    url = e["SWITCHBOARD_DATABASE_URL"]
    assert url.startswith("postgresql"), url
    assert re.search(r"@postgresql(:5432)?/switchboard$", url), f"{url} does not point at the postgresql service"


def test_worker_runs_switchboard_worker_after_the_setup(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert argv(worker["command"]) == ["switchboard", "worker"]
    deps = depends_on(worker)
    assert deps.get("temporal-setup") == "service_completed_successfully"
    assert deps.get("directory") == "service_completed_successfully"


def test_gateway_runs_switchboard_gateway(services: dict[str, Any]) -> None:
    gateway = services["gateway"]
    words = argv(gateway["command"])
    assert words[:2] == ["switchboard", "gateway"]
    assert words[words.index("--host") + 1] == "0.0.0.0"
    port = words[words.index("--port") + 1]
    assert any(str(p).split(":")[-1] == port for p in gateway["ports"])
    assert depends_on(gateway).get("temporal-setup") == "service_completed_successfully"


def test_directory_loads_the_example_directory(services: dict[str, Any]) -> None:
    directory = services["directory"]
    words = argv(directory["command"])
    assert words[:3] == ["switchboard", "directory", "load"]
    assert words[3].startswith("/app/")
    assert (ROOT / words[3].removeprefix("/app/")).is_file(), f"{words[3]} is not in the image"
    assert depends_on(directory).get("postgresql") == "service_healthy"
    assert directory.get("restart", "no") == "no"


def test_commands_invoked_by_compose_exist_in_the_cli(services: dict[str, Any]) -> None:
    assert isinstance(main, click.Group)
    assert "worker" in main.commands
    assert "directory" in main.commands
    assert "load" in main.commands["directory"].commands
    params = {opt for p in main.commands["gateway"].params for opt in getattr(p, "opts", [])}
    assert {"--host", "--port"} <= params
    for name in PROJECT_SERVICES:
        words = argv(services[name]["command"])
        assert words[0] == "switchboard"
        assert words[1] in main.commands, f"compose runs `switchboard {words[1]}`, which does not exist"


# --- the image --------------------------------------------------------------------------------


def test_dockerfile_builds_the_project_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM\s+python:3\.11-slim\b", text, re.M)
    assert re.search(r"^COPY\s+\.\s+\S+", text, re.M), "the repository is copied into the image"
    assert re.search(r"pip install\s+-c requirements\.lock\s+['\"]?\.\[gateway\]", text), \
        "the project is installed with its gateway extras, pinned by the lock file"
    cmd = re.search(r"^CMD\s+(.+)$", text, re.M)
    assert cmd and json.loads(cmd.group(1)) == ["switchboard", "worker"]
    workdir = re.search(r"^WORKDIR\s+(\S+)", text, re.M)
    assert workdir and workdir.group(1) == "/app", "compose refers to files under /app"


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    patterns = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for required in (".venv", ".git", "*.db"):
        assert required in patterns, f".dockerignore should exclude {required}"
    assert any("__pycache__" in p for p in patterns)
