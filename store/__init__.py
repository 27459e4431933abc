"""Shared state in a relational database: the directory, presence, capacity and queues.

SQLAlchemy 2 async; SQLite file by default, PostgreSQL by URL (``SWITCHBOARD_DATABASE_URL``).
"""

from store.db import Store

__all__ = ["Store"]
