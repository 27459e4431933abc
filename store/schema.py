"""Tables. Capacity is a counter with a CHECK, so the database itself refuses over-capacity."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer,
                        MetaData, String, Table, TypeDecorator)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite has no zone type)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("id", String(200), primary_key=True),
    Column("config", JSON, nullable=False),  # brand, timezone, default policy, voice skill
)

skills = Table(
    "skills", metadata,
    Column("account_id", String(200), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("config", JSON, nullable=False),
)

agents = Table(
    "agents", metadata,
    Column("id", String(200), primary_key=True),
    Column("account_id", String(200), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("config", JSON, nullable=False),  # name, role, kind as the directory file gave them
    Column("capacity", Integer, nullable=True),  # NULL: unlimited
    Column("status", String(16), nullable=False, default="offline"),
    Column("active", Boolean, nullable=False, default=True),
    Column("load", Integer, nullable=False, default=0),
    Column("idle_since", UTCDateTime, nullable=True),
    CheckConstraint("load >= 0", name="load_not_negative"),
    CheckConstraint("capacity IS NULL OR load <= capacity", name="load_within_capacity"),
)

agent_skills = Table(
    "agent_skills", metadata,
    Column("agent_id", String(200), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", String(200), nullable=False),
    Column("skill_id", String(200), primary_key=True),
    Index("agent_skills_by_skill", "account_id", "skill_id"),
)

heroes = Table(
    "heroes", metadata,
    Column("account_id", String(200), primary_key=True),
    Column("customer", String(200), primary_key=True),
    Column("agent_id", String(200), nullable=True),
    Column("inbox", String(200), nullable=True),
)

gateways = Table(
    "gateways", metadata,
    Column("name", String(200), primary_key=True),
    Column("accounts", JSON, nullable=True),  # NULL: any account
)

# One row per conversation that holds an agent's slot, offered or assigned: the primary key is
# what makes a second assignment of the same conversation impossible (SPEC R2.4).
holds = Table(
    "holds", metadata,
    Column("conversation_id", String(200), primary_key=True),
    Column("workflow_id", String(250), nullable=False),
    Column("agent_id", String(200), ForeignKey("agents.id"), nullable=False, index=True),
    Column("account_id", String(200), nullable=False),
    Column("skill_id", String(200), nullable=False),
    Column("step", Integer, nullable=False),
    Column("offered_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("outcome", JSON, nullable=False),  # the RouteOutcome, returned again on a retried step
)

# The books of each conversation: its current routing step fences every store command (an older
# step, or anything after close, changes nothing: DESIGN "Every step is fenced"), and the run chain
# that first used the id refuses a second one (SPEC R8.4).
conversations = Table(
    "conversations", metadata,
    Column("conversation_id", String(200), primary_key=True),
    Column("workflow_id", String(250), nullable=False),
    Column("first_run_id", String(64), nullable=False),
    Column("account_id", String(200), nullable=False),  # the owner, for directory changes (R9.4)
    Column("skill_id", String(200), nullable=False),
    Column("step", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("result", JSON, nullable=True),  # the current step's outcome, returned again on a retry
    Index("conversations_open", "closed_at"),
)

queue = Table(
    "queue", metadata,
    Column("conversation_id", String(200), primary_key=True),
    Column("workflow_id", String(250), nullable=False),
    Column("account_id", String(200), nullable=False),
    Column("skill_id", String(200), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("waiting_since", UTCDateTime, nullable=False),
    Column("step", Integer, nullable=False),
    Column("outcome", JSON, nullable=False),
    Column("excluded", JSON, nullable=True),  # agents who passed in this attempt: not woken for it
    Index("queue_order", "account_id", "skill_id", "priority", "waiting_since"),
)

# What agents' workspaces and customers' channels are sent: private messages, warm messages,
# closes. ``key`` makes a retried delivery land once; ``id`` orders a feed (SSE Last-Event-ID).
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("recipient", String(250), nullable=False, index=True),
    Column("conversation_id", String(200), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("hash", String(128), primary_key=True),
    Column("principal", String(250), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

