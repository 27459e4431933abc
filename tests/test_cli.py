"""The command line as a user drives it (CONTRACT "Command line", "Temporal"), on real servers.

The main paths run the installed ``switchboard`` and ``temporal`` commands as subprocesses against
the session dev server, with a worker on the test's task queue and the test's SQLite file (the
``stack`` fixture), configured only by the CONTRACT environment variables. Argument errors that
never reach a server run in-process through click's ``CliRunner``. ``switchboard dev`` (what
``make run`` starts) runs whole, twice, in a temporary working directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest
import yaml
from click.testing import CliRunner
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from routing.directory import Directory, RolloverMode, SkillRef, Status
from routing.hours import is_open
from routing.rollover import place
from store.directory import read_file
from switchboard.cli import main
from switchboard.devserver import _die_with_parent, free_port

BIN = Path(sys.executable).parent
SWITCHBOARD = str(BIN / "switchboard")
TEMPORAL = str(BIN / "temporal")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "directory.yaml"
CONFIG = ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "SWITCHBOARD_TASK_QUEUE", "SWITCHBOARD_DATABASE_URL",
          "SWITCHBOARD_DIRECTORY")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def ok(self) -> Ran:
        assert self.code == 0, f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"
        return self

    def refused(self, *words: str) -> Ran:
        """Exited non-zero with a one-line reason naming ``words``, and no traceback."""
        assert self.code != 0, f"expected a refusal; stdout: {self.out}"
        assert "Traceback" not in self.err + self.out, self.err
        assert all(w in self.err for w in words), self.err
        return self


@dataclass
class Shell:
    """A user's terminal: the CONTRACT variables point at the test's server, queue and database."""

    env: dict[str, str]
    cwd: Path
    address: str
    task_queue: str

    async def run(self, program: str, *args: str, timeout: float = 60) -> Ran:
        # Asynchronous: the worker under test shares this event loop and must keep running.
        proc = await asyncio.create_subprocess_exec(program, *args, env=self.env, cwd=self.cwd,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            raise
        return Ran(proc.returncode, out.decode(), err.decode())

    async def switchboard(self, *args: str) -> Ran:
        return await self.run(SWITCHBOARD, *args)

    async def temporal(self, *args: str) -> Ran:
        return await self.run(TEMPORAL, *args, "--address", self.address)


def clean_env(**config: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG}
    return {**env, **config}


@pytest.fixture
async def shell(stack, dev_env: Client, tmp_path: Path) -> Shell:
    address = dev_env.service_client.config.target_host
    db_url = stack.store.engine.url.render_as_string(hide_password=False)
    env = clean_env(TEMPORAL_ADDRESS=address, SWITCHBOARD_TASK_QUEUE=stack.task_queue, SWITCHBOARD_DATABASE_URL=db_url)
    return Shell(env=env, cwd=tmp_path, address=address, task_queue=stack.task_queue)


@pytest.fixture
async def shop(stack) -> str:
    """A loaded account with a name of its own (visibility queries on the shared server see only
    this test's conversations): skill ``sales``, ``ann`` online, ``bob`` offline. Offers last 10
    min: a test of several CLI runs (a process each, seconds on a loaded machine) never sees one
    expire and move the conversation under it."""
    name = f"shop-{uuid.uuid4().hex[:8]}"
    await stack.load(f"""\
accounts:
  - id: {name}
    brand: {{name: Shop {name}}}
    timezone: Europe/Paris
    skills:
      - {{id: sales, accept_timeout: 10m}}
    agents:
      - {{id: ann, skills: [sales], capacity: 2, status: online}}
      - {{id: bob, skills: [sales], capacity: 2}}
""")
    return name


def conversation_id(stack) -> str:
    """A fresh id, remembered so that the stack terminates what the CLI started."""
    cid = f"cli-{uuid.uuid4().hex[:10]}"
    stack.started.append(cid)
    return cid


async def eventually(check, *, timeout: float = 15.0, every: float = 0.3):
    """Retry ``check`` (an async callable returning a truthy value when done): visibility lags."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(every)


def normalized(directory: Directory) -> dict:
    """A directory as comparable data: ``directory show`` lists accounts, skills and agents by id."""
    data = directory.model_dump(mode="json")
    for account in data["accounts"]:
        account["skills"].sort(key=lambda s: s["id"])
        account["agents"].sort(key=lambda a: a["id"])
        for agent in account["agents"]:
            agent["skills"].sort()
    data["accounts"].sort(key=lambda a: a["id"])
    return data


# --- directory load / show -------------------------------------------------------------------------


async def test_directory_load_of_the_example_then_show_prints_it(shell: Shell) -> None:
    loaded = (await shell.switchboard("directory", "load", str(EXAMPLES))).ok()
    assert loaded.out.strip() == f"loaded 6 accounts, 10 agents, 1 heroes from {EXAMPLES}"
    shown = (await shell.switchboard("directory", "show")).ok()
    assert normalized(Directory.model_validate(yaml.safe_load(shown.out))) == normalized(read_file(EXAMPLES))

    broken = shell.cwd / "broken.yaml"
    broken.write_text(EXAMPLES.read_text().replace("skills: [orders]", "skills: [order]"))
    (await shell.switchboard("directory", "load", str(broken))).refused(
        f"{broken}:", "accounts.4.agents.0.skills.0", "no skill 'order' in account 'umbrella'")
    assert (await shell.switchboard("directory", "show")).ok().out == shown.out


GOOD = """\
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    skills: [{id: phone}]
    agents:
      - {id: ann, skills: [phone], status: online}
"""
# What each broken file changes in GOOD, and the start of the refusal: file:line: field.
BROKEN = {
    "bad YAML": ("{name: Acme Motors}", "{name: Acme Motors", "broken.yaml:4: not valid YAML"),
    "unknown field": ("    skills:", "    colour: red\n    skills:", "broken.yaml:5: accounts.0.colour = 'red': "
                      "unknown field"),
    "bad time zone": ("America/New_York", "Mars/Olympus", "broken.yaml:4: accounts.0.timezone = 'Mars/Olympus': "
                      "unknown time zone 'Mars/Olympus'"),
    "unknown skill": ("skills: [phone]", "skills: [sales]", "broken.yaml:7: accounts.0.agents.0.skills.0"),
}


def invoke(*args: str, env: dict[str, str]):
    """Run the CLI in-process; for commands that never wait on a worker."""
    return CliRunner().invoke(main, list(args), env=env)


def refused(result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert all(w in result.output for w in words), result.output
    return result.output


def sqlite_env(tmp_path: Path, **config: str) -> dict[str, str]:
    """A fresh database holding GOOD."""
    env = clean_env(SWITCHBOARD_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}", **config)
    (tmp_path / "good.yaml").write_text(GOOD)
    assert invoke("directory", "load", str(tmp_path / "good.yaml"), env=env).exit_code == 0
    return env


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_directory_file_is_refused_by_line_and_field_and_changes_nothing(case: str, tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    before = invoke("directory", "show", env=env).output
    old, new, message = BROKEN[case]
    assert GOOD.count(old) == 1
    (tmp_path / "broken.yaml").write_text(GOOD.replace(old, new))
    refused(invoke("directory", "load", str(tmp_path / "broken.yaml"), env=env), f"{tmp_path}/{message}")
    assert invoke("directory", "show", env=env).output == before


def test_an_empty_directory_file_is_refused_rather_than_wiping_the_directory(tmp_path: Path) -> None:
    refused(invoke("directory", "show", env=clean_env(
        SWITCHBOARD_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")), "the directory is empty")
    env = sqlite_env(tmp_path)
    before = invoke("directory", "show", env=env).output
    (tmp_path / "empty.yaml").write_text("# truncated\n")
    refused(invoke("directory", "load", str(tmp_path / "empty.yaml"), env=env), "no accounts", "unchanged")
    assert invoke("directory", "show", env=env).output == before


# --- bad arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["agent", "status", "nobody", "online"], ["unknown agent 'nobody'"]),
    (["agent", "status", "ann", "sleeping"], ["'sleeping' is not one of 'online', 'away', 'offline'"]),
    (["conversation", "start", "--account", "acme", "--skill", "phone", "--customer", "c", "--channel", "fax"],
     ["field 'channel' = 'fax'", "unknown channel 'fax'"]),
    (["conversation", "start", "--account", "acme", "--skill", "phone", "--customer", "c", "--attributes", "{vip"],
     ["--attributes", "not valid JSON"]),
    (["conversation", "start", "--account", "acme", "--skill", "phone", "--customer", "c", "--attributes", "[1]"],
     ["--attributes", "must be a JSON object"]),
    (["conversation", "start", "--id", "no spaces", "--account", "acme", "--skill", "phone", "--customer", "c"],
     ["field 'conversation_id' = 'no spaces'"]),
])
def test_bad_arguments_exit_non_zero_with_the_reason_and_no_traceback(args: list[str], words: list[str],
                                                                     tmp_path: Path) -> None:
    # Nothing listens at this address: each of these is refused before it needs Temporal.
    env = sqlite_env(tmp_path, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    refused(invoke(*args, env=env), *words)


def test_an_unreachable_temporal_is_named_with_its_address(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    output = refused(invoke("conversation", "list", env=clean_env(TEMPORAL_ADDRESS=address)),
                     f"cannot reach Temporal at {address} (TEMPORAL_ADDRESS)")
    assert "tonic" not in output  # the transport's debug text stays out of the user's way


# --- conversations through the switchboard CLI ------------------------------------------------------


async def test_r2_1_conversation_start_offers_to_the_online_agent_and_show_and_list_find_it(
        shell: Shell, stack, shop: str) -> None:
    cid = conversation_id(stack)

    started = (await shell.switchboard("conversation", "start", "--id", cid, "--account", shop, "--skill", "sales",
                                       "--customer", "cust-1", "--channel", "sms", "--message", "Hello",
                                       "--attributes", '{"vip": true}')).ok()
    assert started.out.strip() == f"{cid} (conversation-{cid}): offered to ann"

    view = json.loads((await shell.switchboard("conversation", "show", cid)).ok().out)
    assert (view["status"], view["offer"]["agent"], view["account"], view["channel"]) == ("offered", "ann", shop, "sms")
    assert (view["first_message"], view["attributes"], view["brand_name"]) == ("Hello", {"vip": True}, f"Shop {shop}")
    assert [e["kind"] for e in view["timeline"]][-1] == "offered"

    async def listed() -> str | None:
        out = (await shell.switchboard("conversation", "list", "--query", f"OwnerAccount='{shop}'")).ok().out
        return out if "ConversationStatus=offered" in out else None

    row = await eventually(listed)
    assert row and row.startswith(f"conversation-{cid}\tRUNNING\t"), row
    assert f"OwnerAccount={shop} OwnerSkill=sales" in row and "Channel=sms" in row

    # R1.2: the same id again is the same conversation, not a second one.
    again = (await shell.switchboard("conversation", "start", "--id", cid, "--account", shop, "--skill", "sales",
                                     "--customer", "cust-1")).ok()
    assert again.out.strip() == f"{cid} (conversation-{cid}): offered to ann"
    (await shell.switchboard("conversation", "show", "no-such-conversation")).refused(
        "no conversation 'no-such-conversation'")


async def test_r2_3_agent_status_takes_effect_for_routing_at_once(shell: Shell, stack, shop: str) -> None:
    assert (await shell.switchboard("agent", "status", "ann", "offline")).ok().out.strip() == "ann is offline"
    cid = conversation_id(stack)
    started = (await shell.switchboard("conversation", "start", "--id", cid, "--account", shop, "--skill", "sales",
                                       "--customer", "cust-2")).ok()
    assert started.out.strip().endswith(f": queued at {shop}/sales"), started.out

    woke = (await shell.switchboard("agent", "status", "bob", "online")).ok()
    assert woke.out.strip() == "bob is online; woke 1 queued conversation(s)"
    # Pushed, not found by the queue's 30 s re-check timer.
    view = await stack.wait_for(stack.handle(cid), lambda v: v["status"] == "offered", timeout=10)
    assert view["offer"]["agent"] == "bob"


async def test_r7_hero_set_clear_and_agent_deactivate_through_the_cli(shell: Shell, stack, shop: str) -> None:
    customer = f"cust-{uuid.uuid4().hex[:6]}"
    await stack.set_status("bob", "online")
    cid = conversation_id(stack)
    (await shell.switchboard("conversation", "start", "--id", cid, "--account", shop, "--skill", "sales",
                             "--customer", customer)).ok()
    first = (await stack.state(stack.handle(cid)))["offer"]["agent"]
    await stack.handle(cid).execute_update("accept", {"agent": first})
    other = "bob" if first == "ann" else "ann"
    # A first hero does not move the open conversation (R7.3); replacing the hero does (R7.4).
    assert (await shell.switchboard("hero", "set", shop, customer, "--agent", first)).ok().out.strip() == \
        f"hero of {shop}/{customer}: {first}"
    await stack.wait_for(stack.handle(cid), lambda v: v["hero"] == first and v["assignee"] == first)
    (await shell.switchboard("hero", "set", shop, customer, "--agent", other)).ok()
    await stack.wait_for(stack.handle(cid), lambda v: v["status"] == "offered" and v["offer"]["agent"] == other)
    assert (await shell.switchboard("hero", "clear", shop, customer)).ok().out.strip() == f"{shop}/{customer} has no hero"
    refused_ = await shell.switchboard("hero", "set", shop, customer)
    assert refused_.code != 0 and "give --agent ID or --inbox SKILL" in refused_.err
    refused_ = await shell.switchboard("hero", "set", shop, customer, "--agent", "nobody")
    assert refused_.code == 1 and "no agent 'nobody'" in refused_.err and "Traceback" not in refused_.err
    # R7.6 from the CLI: the other agent's offer goes back to the inbox.
    (await shell.switchboard("hero", "set", shop, customer, "--agent", other)).ok()
    done = (await shell.switchboard("agent", "deactivate", other)).ok()
    assert done.out.strip() == f"{other} is deactivated; 1 conversation(s) to reassign, 1 hero entry now the inbox"
    await stack.wait_for(stack.handle(cid), lambda v: v["hero"] == "sales")
    assert (await shell.switchboard("agent", "deactivate", "nobody")).code == 1


async def test_r7_6_active_false_in_a_loaded_file_deactivates_like_the_command(shell: Shell, tmp_path: Path) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    text = f"""\
accounts:
  - id: {name}
    brand: {{name: Shop}}
    skills: [{{id: sales}}, {{id: vip}}]
    agents:
      - {{id: ann, skills: [vip, sales], capacity: 2, status: online, active: ACTIVE}}
heroes:
  - {{account: {name}, customer: cust-1, agent: ann}}
"""
    (tmp_path / "on.yaml").write_text(text.replace("ACTIVE", "true"))
    (tmp_path / "off.yaml").write_text(text.replace("ACTIVE", "false"))
    (await shell.switchboard("directory", "load", "on.yaml")).ok()
    assert "agent: ann" in (await shell.switchboard("directory", "show")).ok().out
    (await shell.switchboard("directory", "load", "off.yaml")).ok()
    shown = (await shell.switchboard("directory", "show")).ok().out
    assert "agent: ann" not in shown and "inbox: sales" in shown, shown  # ann's first skill by name


async def test_r1_3_a_start_with_an_unknown_account_is_refused_with_the_field(shell: Shell, stack) -> None:
    cid = conversation_id(stack)
    (await shell.switchboard("conversation", "start", "--id", cid, "--account", "no-such-shop", "--skill", "sales",
                             "--customer", "c")).refused("start refused: unknown account 'no-such-shop'")


# --- the CONTRACT path with the temporal CLI --------------------------------------------------------


async def test_contract_temporal_cli_start_accept_close_and_list(shell: Shell, stack, shop: str) -> None:
    cid = conversation_id(stack)
    wid = f"conversation-{cid}"
    start = {"conversation_id": cid, "account": shop, "skill": "sales", "channel": "web", "customer": "cust-42",
             "first_message": "Hi", "priority": 0, "attributes": {}}

    (await shell.temporal("workflow", "start", "--type", "Conversation", "--task-queue", shell.task_queue,
                          "--workflow-id", wid, "--input", json.dumps(start))).ok()
    await stack.offered(stack.handle(cid), "ann")

    (await shell.temporal("workflow", "update", "execute", "--workflow-id", wid, "--name", "accept",
                          "--input", '{"agent": "bob"}')).refused("the offer of", "is not for agent 'bob'")
    accepted = (await shell.temporal("workflow", "update", "execute", "--workflow-id", wid, "--name", "accept",
                                     "--input", '{"agent": "ann"}', "--output", "json")).ok()
    assert json.loads(accepted.out)["result"]["assignee"] == "ann"
    closed = (await shell.temporal("workflow", "update", "execute", "--workflow-id", wid, "--name", "close",
                                   "--input", '{"by": "ann", "reason": "resolved"}', "--output", "json")).ok()
    assert json.loads(closed.out)["result"]["status"] == "closed"

    result = json.loads((await shell.temporal("workflow", "result", "--workflow-id", wid, "--output", "json")).ok().out)
    assert result["status"] == "COMPLETED"
    final = result["closeEvent"]["workflowExecutionCompletedEventAttributes"]["result"][0]
    assert (final["status"], final["assignee"]) == ("closed", "ann")

    async def listed() -> list[dict]:
        out = (await shell.temporal("workflow", "list", "--query", f"OwnerAccount='{shop}'", "--output", "json")).ok()
        rows = json.loads(out.out or "[]")
        return rows if any(r["execution"]["workflowId"] == wid and r["status"].endswith("COMPLETED")
                           for r in rows) else []

    assert await eventually(listed), "the closed conversation is listed by its OwnerAccount"
    # R8.3 / ids are never reused: a late start with the same id is refused and reopens nothing.
    (await shell.switchboard("conversation", "start", "--id", cid, "--account", shop, "--skill", "sales",
                             "--customer", "cust-42")).refused(f"{wid} already exists and is closed")


# --- the example directory and `switchboard dev` (make run) ------------------------------------------

# Instants every 30 minutes through an ordinary week and the weeks of every 2026 DST change.
WEEKS = [datetime(2026, 3, 2), datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 10, 25),
         datetime(2026, 11, 1)]
INSTANTS = [(start + timedelta(minutes=30 * i)).replace(tzinfo=ZoneInfo("UTC")) for start in WEEKS
            for i in range(7 * 48)]


def test_r3_every_rollover_brand_of_the_example_is_routable_at_every_hour_of_the_week() -> None:
    directory = read_file(EXAMPLES)

    def online(ref: SkillRef) -> bool:
        account = directory.account(ref.account)
        return any(a.status is Status.ONLINE and a.active and ref.skill in a.skills for a in account.agents)

    brands = [(account, skill, account.policy_for(skill)) for account in directory.accounts
              for skill in account.skills if account.policy_for(skill)
              and account.policy_for(skill).mode is not RolloverMode.NONE]
    assert {policy.mode for _, _, policy in brands} == set(RolloverMode) - {RolloverMode.NONE}
    for account, skill, policy in brands:
        tz, owner = ZoneInfo(account.timezone), SkillRef(account=account.id, skill=skill.id)
        for now in INSTANTS:
            placement = place(policy, skill, tz, now)
            owner_closed = not is_open(skill.hours, skill.holiday_set, tz, now)
            if policy.mode in (RolloverMode.SCHEDULE, RolloverMode.HYBRID) and owner_closed:
                assert placement.to_handler, f"{owner} at {now}: closed, yet {placement.reason}"
            # The owner answers, or (fully managed, scheduled, backup with nobody online) the handler.
            to_handler = placement.to_handler or (placement.backup and not online(owner))
            assert online(placement.handler if to_handler else owner), f"{owner} at {now}: nobody for {placement}"


@dataclass
class Dev:
    """One ``switchboard dev`` process and what it printed."""

    proc: asyncio.subprocess.Process
    lines: list[str]

    async def read_until(self, marker: str, timeout: float = 30) -> None:
        async def read() -> None:
            while not any(marker in line for line in self.lines):
                line = await self.proc.stdout.readline()
                assert line, f"switchboard dev exited ({await self.proc.wait()}) before {marker!r}: {self.lines}"
                self.lines.append(line.decode().rstrip())

        await asyncio.wait_for(read(), timeout)

    def line(self, prefix: str) -> str:
        return next(line for line in self.lines if line.startswith(prefix))


async def start_dev(cwd: Path, port: int, ui_port: int, gateway_port: int = 0) -> Dev:
    proc = await asyncio.create_subprocess_exec(
        SWITCHBOARD, "dev", "--directory", str(EXAMPLES), "--demo", "--port", str(port), "--ui-port", str(ui_port),
        "--gateway-port", str(gateway_port),
        cwd=cwd, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        preexec_fn=_die_with_parent)  # SIGTERM if the test run is killed; it stops its server then
    dev = Dev(proc, [])
    try:
        await dev.read_until("Ready.")
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        raise
    return dev


async def stop_dev(dev: Dev) -> None:
    """Ctrl-C: the process exits 0 and leaves no server behind."""
    children = psutil.Process(dev.proc.pid).children(recursive=True)
    assert any(Path(c.exe()).name == "temporal" for c in children), children
    dev.proc.send_signal(signal.SIGINT)
    try:
        rest, _ = await asyncio.wait_for(dev.proc.communicate(), 20)
    except TimeoutError:
        dev.proc.kill()
        raise
    assert dev.proc.returncode == 0, rest.decode()
    assert "Traceback" not in rest.decode()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {alive}"


async def test_switchboard_dev_runs_repeatedly_with_the_demo_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, ui_port, gateway_port = free_port(), free_port(), free_port()
    runs: list[set[str]] = []
    for run in range(2):  # the second run finds the first one's conversations in the server's file
        dev = await start_dev(tmp_path, port, ui_port, gateway_port)
        try:
            assert dev.line("Temporal UI:").split()[-1] == f"http://127.0.0.1:{ui_port}/namespaces/default/workflows"
            # The gateway runs too, and each printed link signs its page in as its person.
            assert dev.line("Gateway:").split()[1] == f"http://127.0.0.1:{gateway_port}"
            link = next(line.split()[-1] for line in dev.lines if "/#token=" in line and "Acme Motors sales" in line)
            async with httpx.AsyncClient() as http:
                me = await http.get(f"http://127.0.0.1:{gateway_port}/me",
                                    headers={"Authorization": f"Bearer {link.split('#token=')[1]}"})
            assert me.json()["id"] == "ann", me.text
            assert f"export TEMPORAL_ADDRESS=127.0.0.1:{port}" in dev.line("Other terminals:")
            # The second run finds the first one's schedule in the server's file and updates it (R8.1).
            assert dev.line("Reconciler:").split(maxsplit=1)[1] == "schedule switchboard-reconciler, every 60s"
            client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)

            async def demos() -> set[str]:
                found = {wf.id async for wf in client.list_workflows("WorkflowType = 'Conversation'")}
                return found if len(found) == 5 * (run + 1) else set()

            listed = await eventually(demos)
            new = listed - set().union(*runs)
            assert len(new) == 5 and all(wid.startswith("conversation-demo-") for wid in new), listed

            async def routed() -> list[str]:
                states = [(await client.get_workflow_handle(wid).query("state"))["status"] for wid in new]
                # "assigned": the hero customer's email goes to its hero without an offer when
                # the hero is busy with an earlier run's conversations (R7.2).
                return states if all(s in ("offered", "queued", "assigned") for s in states) else []

            assert await eventually(routed), "the dev worker routes every demo conversation"
            if run == 1:  # the first run closed its demo conversations when it stopped
                left = [wid for wid in runs[0]
                        if (await client.get_workflow_handle(wid).describe()).status == WorkflowExecutionStatus.RUNNING]
                assert not left, f"demo conversations of the first run still open: {left}"
            runs.append(new)
            if run == 0:  # a closed demo id must not be started again by the next run
                await client.get_workflow_handle(sorted(new)[0]).terminate("closed before the next run")
        finally:
            await stop_dev(dev)
    # Temporal keeps its file in the data dir; the directory is the working directory's default
    # database, the one `switchboard agent status` in a second terminal uses.
    assert (tmp_path / ".switchboard" / "temporal.db").exists() and (tmp_path / "switchboard.db").exists()
