"""Agents' presence and what they hold, as workspaces and operators read it (SPEC R2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update

from routing.directory import SkillRef, Status
from routing.errors import Refusal, unknown
from routing.limits import quote
from store import capacity
from store import schema as t
from store.db import Store


async def set_status(store: Store, agent_id: str, status: str, now: datetime) -> list[str]:
    """Set an agent's presence; going online wakes the queues they serve (SPEC R2.3) and starts
    their idle time (R2.1). A deactivated agent's presence cannot be set."""
    try:
        presence = Status(status)
    except ValueError:
        raise Refusal("InvalidStatus", f"status {quote(status)} is not one of online, away, offline",
                      field="status") from None
    async with store.transaction() as conn:
        row = (await conn.execute(select(t.agents.c.status, t.agents.c.active)
                                  .where(t.agents.c.id == agent_id))).first()
        if row is None:
            raise unknown("agent", agent_id)
        if not row.active:
            raise Refusal("AgentInactive", f"agent {quote(agent_id)} is deactivated", field="agent")
        values: dict = {"status": presence.value}
        if presence is Status.ONLINE and row.status != Status.ONLINE.value:
            values["idle_since"] = now  # idle since they came online, until a conversation ends
        await conn.execute(update(t.agents).where(t.agents.c.id == agent_id).values(**values))
        return await capacity.heads_for(conn, agent_id) if presence is Status.ONLINE else []


async def agent_row(store: Store, agent_id: str):
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(t.agents).where(t.agents.c.id == agent_id))).first()
    if row is None:
        raise unknown("agent", agent_id)
    return row


async def holds_of(store: Store, agent_id: str) -> list:
    """The conversations holding a slot of this agent (offers and assignments)."""
    async with store.engine.connect() as conn:
        return list(await conn.execute(select(t.holds).where(t.holds.c.agent_id == agent_id)
                                       .order_by(t.holds.c.offered_at)))


async def load_summary(store: Store) -> list:
    """Per agent: load and capacity; used by tests and `directory show` to prove R2.4."""
    async with store.engine.connect() as conn:
        return list(await conn.execute(select(t.agents.c.id, t.agents.c.load, t.agents.c.capacity,
                                              t.agents.c.status).order_by(t.agents.c.id)))


async def queue_length(store: Store, ref: SkillRef) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(t.queue).where(
        and_(t.queue.c.account_id == ref.account, t.queue.c.skill_id == ref.skill)))).scalar_one()


async def agents_of(store: Store, account_id: str) -> list[tuple[Any, list[str]]]:
    """The account's agents (managers included) with their skills, by id: presence, load, capacity."""
    async with store.engine.connect() as conn:
        rows = list(await conn.execute(select(t.agents).where(t.agents.c.account_id == account_id)
                                       .order_by(t.agents.c.id)))
        skills: dict[str, list[str]] = {}
        for agent_id, skill_id in await conn.execute(
                select(t.agent_skills.c.agent_id, t.agent_skills.c.skill_id)
                .where(t.agent_skills.c.account_id == account_id).order_by(t.agent_skills.c.skill_id)):
            skills.setdefault(agent_id, []).append(skill_id)
    return [(row, skills.get(row.id, [])) for row in rows]
