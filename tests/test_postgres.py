"""The store on PostgreSQL 15: the checks of tests/test_store.py (and its siblings), run on a
throwaway cluster; and SPEC R2.4 under load with two workers sharing one PostgreSQL database.

The cluster lives in a temporary folder for the session (``initdb`` + ``postgres``, TCP on a free
port of 127.0.0.1, trust auth, no fsync) and each test gets a database of its own. Without the
PostgreSQL binaries the tests skip and say why.
"""

from __future__ import annotations

import asyncio
import ctypes
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

import test_concurrency as load
import test_directory_changes as change_checks
import test_fenced_steps as fenced_checks
import test_store as store_checks  # sibling modules: pytest puts tests/ on sys.path
from conftest import Stack
from store import Store, presence
from store import schema as t
from switchboard.devserver import free_port
from worker import build_worker

pytestmark = pytest.mark.postgres

USER = "switchboard"


def _binary(name: str) -> str | None:
    """On PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH)."""
    installed = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return shutil.which(name) or max(installed, key=lambda path: int(Path(path).parents[1].name), default=None)


def _unprivileged() -> pwd.struct_passwd | None:
    """``initdb`` and ``postgres`` refuse to run as root: run them as ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("running as root and there is no postgres or nobody user to run PostgreSQL as")


def _die_with_parent() -> None:
    """A killed test run takes the cluster along (Linux). Called in the child after its switch of
    user (a switch clears the setting); libc is loaded beforehand, as the child cannot import."""
    _LIBC.prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A running throwaway cluster; yields its base URL (no database name)."""
    initdb, server = _binary("initdb"), _binary("postgres")
    if not (initdb and server):
        pytest.skip("PostgreSQL binaries not found (initdb, postgres on PATH or in /usr/lib/postgresql/*/bin)")
    owner = _unprivileged()
    folder = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    if owner:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
    process = None
    try:
        made = subprocess.run([initdb, "-D", str(folder / "data"), "-U", USER, "-A", "trust", "-E", "UTF8",
                               "--no-sync"], capture_output=True, text=True, **run_as)
        if made.returncode:
            raise RuntimeError(f"initdb failed ({made.returncode}):\n{made.stderr[-2000:]}")
        port = free_port()
        with open(folder / "postgres.log", "wb") as log:
            process = subprocess.Popen(
                [server, "-D", str(folder / "data"), "-p", str(port), "-k", str(folder),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None, **run_as)
        _wait_for(port, process, folder / "postgres.log")
        yield f"postgresql+asyncpg://{USER}@127.0.0.1:{port}"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back, disconnect, stop
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with code {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"postgres did not listen on 127.0.0.1:{port} within {timeout:g}s")


@pytest.fixture
async def pg_url(postgres: str) -> str:
    """A new, empty database on the session's cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    server = make_url(postgres)
    conn = await asyncpg.connect(host=server.host, port=server.port, user=USER, database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{postgres}/{name}"


@pytest.mark.parametrize("check", [
    store_checks.check_migrations,
    store_checks.check_concurrent_migrations,
    store_checks.check_directory_round_trip,
    store_checks.check_concurrent_saves,
    store_checks.check_r2_4_concurrent_reservations,
    store_checks.check_r2_4_retried_steps_racing_their_first_attempt,
    change_checks.check_r9_4_a_load_that_removes_what_open_conversations_use_is_refused,
    change_checks.check_r2_4_a_load_beside_a_route_refuses_by_the_load_it_waited_for,
    change_checks.check_r7_4_hero_changes_for_one_customer_take_turns,
    fenced_checks.check_r2_4_a_late_step_after_close_changes_nothing,
    fenced_checks.check_r2_4_an_older_step_changes_nothing,
    fenced_checks.check_r2_4_a_refused_move_changes_nothing_and_its_step_is_spent,
    fenced_checks.check_r2_3_a_head_that_passed_on_the_freed_agent_does_not_use_up_the_wake,
    fenced_checks.check_r2_3_a_retried_route_or_release_returns_its_wakes_again,
    fenced_checks.check_r2_3_an_enqueue_beside_a_release_never_loses_the_wake,
    fenced_checks.check_r2_3_a_newcomer_does_not_overtake_the_queue_head,
], ids=lambda check: check.__name__.removeprefix("check_"))
async def test_store_on_postgres(check, pg_url: str) -> None:
    """Each check of tests/test_store.py, tests/test_directory_changes.py and tests/test_fenced_steps.py, on a
    database of its own."""
    await check(pg_url)


async def test_r2_4_two_workers_on_postgres_never_overfill_an_agent_or_assign_twice(dev_env, pg_url: str) -> None:
    """tests/test_concurrency.py's check with each of two workers on its own PostgreSQL connections
    (and its own Temporal client), one task queue: 30 conversations, agents accepting and declining
    at random (seeded), all closed in the end. No agent is ever over capacity, no conversation is
    accepted twice, and nothing is left held."""
    first, second = await Store.open(pg_url), Store.connect(pg_url)
    other = await Client.connect(dev_env.service_client.config.target_host, data_converter=pydantic_data_converter)
    stack = Stack(client=dev_env, store=first, task_queue=f"tq-{uuid.uuid4().hex[:10]}")
    rng, done = random.Random(7), asyncio.Event()
    try:
        await stack.load(load.DIRECTORY)
        async with build_worker(dev_env, first, stack.task_queue), build_worker(other, second, stack.task_queue):
            handles = await asyncio.gather(*(stack.start("acme", "sales", priority=rng.randint(0, 3))
                                             for _ in range(30)))
            agents = [asyncio.create_task(load._agent(stack, a, random.Random(i), done))
                      for i, a in enumerate(load.AGENTS)]
            monitor = asyncio.create_task(load._watch_capacity(stack, done))
            try:
                results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=300)
            finally:
                done.set()
                await asyncio.gather(*agents)
            assert await monitor >= 1
        assert all(r["status"] == "closed" for r in results)
        assert all([e["kind"] for e in r["timeline"]].count("accepted") == 1 for r in results)
        for agent in load.AGENTS:
            intervals = [(load._at(next(e for e in r["timeline"] if e["kind"] == "accepted")),
                          load._at(next(e for e in r["timeline"] if e["kind"] == "closed")))
                         for r in results if r["assignee"] == agent]
            assert load._max_overlap(intervals) <= 2, agent
        assert all(row.load == 0 for row in await presence.load_summary(first))
        async with first.engine.connect() as conn:
            assert list(await conn.execute(t.holds.select())) == []
    finally:
        for conversation_id in stack.started:
            try:
                await stack.handle(conversation_id).terminate("test finished")
            except RPCError:
                pass  # closed already
        await first.close()
        await second.close()
