"""`switchboard directory load` over a directory in use, as an operator runs it (subprocesses on the
session dev server, a worker on the test's task queue): whom it wakes, what it keeps from run
time and says so, and what it refuses to remove (SPEC R2.3, R7, R9.4; docs/routing.md "Directory loads").
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from click.testing import CliRunner

from store import Store, routing as steps
from switchboard.cli import main
from switchboard.devserver import free_port
from test_cli import Shell, clean_env, conversation_id, shell  # noqa: F401  (shell: the fixture)
from test_store import request


def shop_file(name: str, agents: str, heroes: str = "") -> str:
    return (f"accounts:\n  - id: {name}\n    brand: {{name: Shop}}\n    skills: [{{id: sales}}]\n    agents:\n"
            + agents + (f"heroes:\n{heroes}" if heroes else ""))


ANN = "      - {id: ann, skills: [sales], capacity: 2, status: online}\n"
BOB = "      - {id: bob, skills: [sales], capacity: 2, status: online}\n"


async def load(shell: Shell, text: str) -> str:
    path = shell.cwd / f"directory-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    return (await shell.switchboard("directory", "load", str(path))).ok().out


async def test_r2_3_a_directory_load_that_gives_room_wakes_the_queued_conversation(shell: Shell, stack) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    await load(shell, shop_file(name, ANN.replace("online", "offline")))
    cid = conversation_id(stack)
    started = await shell.switchboard("conversation", "start", "--id", cid, "--account", name, "--skill", "sales",
                                      "--customer", "cust-1")
    assert started.ok().out.strip().endswith(f"queued at {name}/sales")
    out = await load(shell, shop_file(name, ANN.replace("online", "offline") + BOB))
    assert "woke 1 queued conversation(s)" in out
    # Pushed by the load, not found by the queue's 30 s re-check timer.
    view = await stack.wait_for(stack.handle(cid), lambda v: v["status"] == "offered", timeout=10)
    assert view["offer"]["agent"] == "bob"


async def test_contract_a_directory_load_keeps_runtime_presence_and_heroes_and_says_so(shell: Shell, stack) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    text = shop_file(name, ANN + BOB, f"  - {{account: {name}, customer: cust-1, agent: ann}}\n")
    await load(shell, text)
    (await shell.switchboard("agent", "status", "bob", "away")).ok()
    (await shell.switchboard("hero", "set", name, "cust-1", "--agent", "bob")).ok()
    (await shell.switchboard("hero", "set", name, "cust-2", "--agent", "bob")).ok()
    out = await load(shell, text)
    assert "kept the presence agents set since they were first loaded: bob away (the file says online)" in out
    assert f"kept heroes the file does not name (`hero clear` removes one): {name}/cust-2 -> bob" in out
    assert f"replaced heroes with the file's: {name}/cust-1 -> ann" in out
    shown = (await shell.switchboard("directory", "show")).ok().out
    assert "status: away" in shown and "customer: cust-2" in shown


async def test_r9_4_directory_load_refuses_to_remove_an_agent_an_open_conversation_uses(shell: Shell, stack) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    await load(shell, shop_file(name, ANN))
    cid = conversation_id(stack)
    (await shell.switchboard("conversation", "start", "--id", cid, "--account", name, "--skill", "sales",
                             "--customer", "cust-1")).ok()
    path: Path = shell.cwd / "without-ann.yaml"
    path.write_text(shop_file(name, BOB))
    refused = (await shell.switchboard("directory", "load", str(path))).refused(
        f"agent 'ann' is used by 1 open conversation: {cid}", "nothing was loaded")
    assert refused.code == 1
    assert "id: ann" in (await shell.switchboard("directory", "show")).ok().out


def test_r2_3_a_load_that_would_wake_a_queue_still_loads_with_temporal_away(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    env = clean_env(SWITCHBOARD_DATABASE_URL=url, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    (tmp_path / "v1.yaml").write_text(shop_file("acme", ANN.replace("online", "offline")))
    (tmp_path / "v2.yaml").write_text(shop_file("acme", ANN.replace("online", "offline") + BOB))
    assert CliRunner().invoke(main, ["directory", "load", str(tmp_path / "v1.yaml")], env=env).exit_code == 0

    async def queue_one() -> None:
        store = await Store.open(url)
        try:
            outcome, _ = await steps.route(store, request("c-1"))
            assert outcome.offer_to is None
        finally:
            await store.close()

    asyncio.run(queue_one())
    result = CliRunner().invoke(main, ["directory", "load", str(tmp_path / "v2.yaml")], env=env)
    assert result.exit_code == 0, result.output
    assert "loaded 1 accounts, 2 agents" in result.output and "cannot reach Temporal" in result.output
    assert "woke" not in result.output
