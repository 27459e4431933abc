"""The database handle: engine, write transactions, migrations."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///switchboard.db"
_MIGRATIONS = Path(__file__).parent / "migrations"


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
    updates take row locks. Either way a capacity reservation is atomic (SPEC R2.4).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str | None = None) -> Store:
        url = database_url(url)
        sqlite = url.startswith("sqlite")
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30} if sqlite else {},
            pool_pre_ping=not sqlite,
        )
        if sqlite:
            _immediate_transactions(engine)
        return cls(engine)

    @classmethod
    async def open(cls, url: str | None = None) -> Store:
        """Connect and bring the schema up to date."""
        store = cls.connect(url)
        await store.migrate()
        return store

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()


def _upgrade(connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _immediate_transactions(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
