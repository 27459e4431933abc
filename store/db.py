"""The database handle: engine, write transactions, migrations."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from store import sqlite

DEFAULT_URL = "sqlite+aiosqlite:///switchboard.db"
_MIGRATIONS = Path(__file__).parent / "migrations"

# PostgreSQL aborts one of two transactions that wait on each other's rows (deadlock_detected),
# as two routes do when each frees one agent and reserves the other; run again, it goes through.
_DEADLOCK = "40P01"
ATTEMPTS = 5

P = ParamSpec("P")
R = TypeVar("R")


def retried(work: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run ``work`` (whose transactions are its own) again from the start when the database
    aborted it as a deadlock victim."""

    @functools.wraps(work)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(ATTEMPTS - 1):
            try:
                return await work(*args, **kwargs)
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != _DEADLOCK:
                    raise
        return await work(*args, **kwargs)

    return run


def database_url(url: str | None = None) -> str:
    """The SQLAlchemy URL to use: given, else ``SWITCHBOARD_DATABASE_URL``, else a local file.

    Plain ``sqlite:///`` and ``postgresql://`` URLs get their async driver added.
    """
    url = url or os.environ.get("SWITCHBOARD_DATABASE_URL") or DEFAULT_URL
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
              "postgres": "postgresql+asyncpg"}.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


class Store:
    """One engine per process. Every write goes through ``transaction()``.

    On SQLite each write transaction starts with ``BEGIN IMMEDIATE``, so concurrent workers queue
    for the write lock instead of failing on a lock upgrade; on PostgreSQL the conditional
    updates take row locks, ``lock`` covers rows not written yet and ``retried`` re-runs a
    deadlock's victim. Either way a capacity reservation is atomic (SPEC R2.4).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite has one writer at a time: this process's writers wait their turn here, woken the
        # moment it comes, not in SQLite's busy handler, which polls with sleeps of up to 100 ms
        # (40 routes at once: 1.1 s without, 0.3 s with). Other processes still meet the handler.
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def connect(cls, url: str | None = None) -> Store:
        parsed = make_url(database_url(url))
        if parsed.get_backend_name() == "sqlite":
            return cls(sqlite.engine(parsed))
        return cls(create_async_engine(parsed, pool_pre_ping=True))

    @classmethod
    async def open(cls, url: str | None = None) -> Store:
        """Connect and bring the schema up to date."""
        store = cls.connect(url)
        await store.migrate()
        return store

    async def migrate(self) -> None:
        # Worker and gateway start together. On PostgreSQL an advisory lock makes the migrations
        # take turns; on SQLite BEGIN IMMEDIATE does not cover Alembic's first look at a new file
        # (it found no version table in two processes at once), so a lock file beside it does.
        async with _file_lock(self.engine.url.database if self.engine.dialect.name == "sqlite" else None):
            async with self.transaction() as conn:
                await lock(conn, "switchboard migrations")
                await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. Reads use ``engine.connect()``: on SQLite they then begin a plain
        (deferred) transaction, which in WAL mode never waits for a writer."""
        async with self._writer or nullcontext():
            async with self.engine.connect() as conn:
                await conn.execution_options(**{sqlite.WRITE: True})
                async with conn.begin():
                    yield conn

    @asynccontextmanager
    async def one_read(self) -> AsyncIterator[AsyncConnection]:
        """A read of one statement (the gateway's token lookup and start check, on every request).
        On SQLite it opens no transaction: one statement is its own snapshot, and the BEGIN would
        cost round trips to the driver's thread."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{sqlite.ONE_READ: True})
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()


async def lock(conn: AsyncConnection, key: str) -> None:
    """Make transactions about ``key`` take turns: this one holds it until it ends.

    PostgreSQL row locks cannot cover rows that do not exist yet (a conversation's first hold or
    queue place, the tables of a first migration), so two attempts would both write them: an
    advisory lock on the key does. On SQLite, BEGIN IMMEDIATE already serializes every write.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


@asynccontextmanager
async def _file_lock(database: str | None) -> AsyncIterator[None]:
    """An exclusive lock on ``<database>.lock`` while the block runs (no lock for memory databases)."""
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.lock", "a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)  # waits without stopping the loop
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _upgrade(connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
