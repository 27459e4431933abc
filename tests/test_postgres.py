"""The store on PostgreSQL 15: the checks of tests/test_store.py (and its siblings), run on a
throwaway cluster; and SPEC R2.4 under load with two workers sharing one PostgreSQL database.

The cluster lives in a temporary folder for the session (``initdb`` + ``postgres``, TCP on a free
port of 127.0.0.1, trust auth, no fsync) and each test gets a database of its own. Without the
PostgreSQL binaries the tests skip and say why.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

import test_concurrency as load
import test_directory_changes as change_checks
import test_fenced_steps as fenced_checks
import test_reconciler as reconciler_checks
import test_store as store_checks  # sibling modules: pytest puts tests/ on sys.path
import test_tokens as token_checks
from conftest import Stack
from store import Store, presence
from store import schema as t
from switchboard import pgcluster
from worker import build_worker

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A running throwaway cluster; yields its base URL (no database name)."""
    if reason := pgcluster.missing():
        pytest.skip(reason)
    with pgcluster.cluster() as url:
        yield url


@pytest.fixture
async def pg_url(postgres: str) -> str:
    """A new, empty database on the session's cluster."""
    return await pgcluster.create_database(postgres, f"t_{uuid.uuid4().hex[:12]}")


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
    reconciler_checks.check_r8_1_the_books_page_through_every_open_conversation_once,
    fenced_checks.check_r2_4_a_late_step_after_close_changes_nothing,
    fenced_checks.check_r2_4_an_older_step_changes_nothing,
    fenced_checks.check_r2_4_a_refused_move_changes_nothing_and_its_step_is_spent,
    fenced_checks.check_r2_3_a_head_that_passed_on_the_freed_agent_does_not_use_up_the_wake,
    fenced_checks.check_r2_3_a_retried_route_or_release_returns_its_wakes_again,
    fenced_checks.check_r2_4_releases_racing_each_other_free_once_and_close_once,
    fenced_checks.check_r2_3_an_enqueue_beside_a_release_never_loses_the_wake,
    fenced_checks.check_r2_3_a_newcomer_does_not_overtake_the_queue_head,
    token_checks.check_r5_a_token_is_its_principal_as_the_directory_has_it_now,
    token_checks.check_r1_3_the_owner_of_a_start_or_the_field_that_is_wrong,
], ids=lambda check: check.__name__.removeprefix("check_"))
async def test_store_on_postgres(check, pg_url: str) -> None:
    """Each check of tests/test_store.py, tests/test_directory_changes.py, tests/test_reconciler.py,
    tests/test_fenced_steps.py and tests/test_tokens.py, on a database of its own."""
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
