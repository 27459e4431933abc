"""The SQLite engine: WAL, writers that take the write lock up front, and statements run on the
event loop's thread.

aiosqlite runs every driver call (execute, fetch, close, each cursor) on a thread of its own and
wakes the event loop for each answer: about seven hand-offs a statement, and a routing step and
a release are some 26 statements. Measured (issue 14): 31 ms of CPU per route and release,
16-19 ms with the calls made in place. A call on a small indexed table takes microseconds, so
``Inline`` makes them in place. The one call that can wait long is ``BEGIN IMMEDIATE`` while
another process writes: SQLite's own wait would stop the loop for as long, so it is not used
for it (``busy_timeout`` stays short); the writer waits in ``asyncio.sleep`` between attempts
instead, up to ``WRITE_WAIT``, and the loop runs meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_

WRITE = "switchboard_write"  # execution option of write transactions: BEGIN IMMEDIATE
ONE_READ = "switchboard_one_read"  # ... of a read of one statement: no BEGIN at all
WRITE_WAIT = 30.0  # seconds a writer waits for another process's write to end
BUSY_MS = 50  # SQLite's own wait, where a statement meets a lock (rare in WAL mode): kept short


class Inline(aiosqlite.Connection):
    """aiosqlite's connection, its driver calls made on the caller's thread. Its thread still
    opens and closes the connection (and takes SQLAlchemy's isolation-level call), never at the
    same time as a call here: each is awaited before the next."""

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def try_begin_immediate(self) -> bool:
        """``BEGIN IMMEDIATE`` without SQLite's wait: False while another connection writes."""
        raw = self._conn
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return False
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_MS}")


def engine(url: URL) -> AsyncEngine:
    args, options = SQLiteDialect_aiosqlite().create_connect_args(url)  # the URL read as SQLAlchemy reads it
    connector = partial(sqlite3.connect, *args, **{**options, "timeout": BUSY_MS / 1000, "check_same_thread": False})
    sqlite_engine = create_async_engine(url, async_creator=lambda: Inline(connector, iter_chunk_size=64))
    _listen(sqlite_engine)
    return sqlite_engine


def _listen(sqlite_engine: AsyncEngine) -> None:
    @event.listens_for(sqlite_engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        _wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sqlite_engine.sync_engine, "begin")
    def _on_begin(connection) -> None:
        # Writers take the write lock up front, so two of them queue rather than one failing on a
        # lock upgrade; readers do not take it at all.
        options = connection.get_execution_options()
        if options.get(ONE_READ):
            return
        if not options.get(WRITE):
            connection.exec_driver_sql("BEGIN")
            return
        inline: Inline = connection.connection.driver_connection
        deadline, pause = time.monotonic() + WRITE_WAIT, 0.001
        while not inline.try_begin_immediate():
            if time.monotonic() > deadline:  # a last try with SQLite's wait: its error, as SQLAlchemy raises it
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            await_(asyncio.sleep(pause))  # another process writes: the loop runs meanwhile
            pause = min(pause * 2, 0.05)


def _wal(cursor, attempts: int = 50) -> None:
    """Switch a file to WAL once (it stays so). Changing the journal mode needs the file to itself
    and SQLite answers "locked" at once rather than waiting, when another connection opens the new
    file at the same moment: try again for a few seconds."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3.OperationalError, as the async adapter raises it
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            await_(asyncio.sleep(0.1))  # the loop runs meanwhile
