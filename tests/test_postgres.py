"""The store on PostgreSQL 15: the checks of tests/test_store.py, run on a throwaway cluster.

The cluster lives in a temporary folder for the session (``initdb`` + ``postgres``, TCP on a free
port of 127.0.0.1, trust auth, no fsync) and each test gets a database of its own. Without the
PostgreSQL binaries the tests skip and say why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import test_directory_changes as change_checks
import test_reconciler as reconciler_checks
import test_store as store_checks  # sibling modules: pytest puts tests/ on sys.path
from switchboard import pgcluster

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
], ids=lambda check: check.__name__.removeprefix("check_"))
async def test_store_on_postgres(check, pg_url: str) -> None:
    """Each check of tests/test_store.py, tests/test_directory_changes.py and tests/test_reconciler.py,
    on a database of its own."""
    await check(pg_url)
