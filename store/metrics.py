"""The operator's live figures that live in the store, per account and skill (README "Metrics").

Read-only aggregate queries, so every worker and gateway that exports them agrees, however many
run: queue length and oldest wait, the conversations agents hold, agents online and their load
against their capacity. Every skill of the directory appears, with zeros where nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, select, type_coerce

from store import schema as t
from store.db import Store


@dataclass
class SkillFigures:
    queue_length: int = 0
    oldest_wait_seconds: float = 0.0
    held: int = 0  # conversations offered to or assigned to an agent in this skill
    agents_online: int = 0  # active agents online with this skill
    agent_load: int = 0  # what those agents hold, across all their skills
    agent_capacity: int = 0  # their slots; agents of unlimited capacity (bots) count none
    unlimited_agents: int = 0


async def figures(store: Store, now: datetime) -> dict[tuple[str, str], SkillFigures]:
    """(account, skill) -> its figures at ``now``."""
    async with store.engine.connect() as conn:
        skills = (await conn.execute(select(t.skills.c.account_id, t.skills.c.id))).all()
        queues = (await conn.execute(_queue_heads())).all()
        holds = (await conn.execute(
            select(t.holds.c.account_id, t.holds.c.skill_id, func.count())
            .group_by(t.holds.c.account_id, t.holds.c.skill_id))).all()
        a, s = t.agents.c, t.agent_skills.c
        agents = (await conn.execute(
            select(s.account_id, s.skill_id, func.count(), func.coalesce(func.sum(a.load), 0),
                   func.coalesce(func.sum(a.capacity), 0), func.count(a.id).filter(a.capacity.is_(None)))
            .select_from(t.agent_skills.join(t.agents, a.id == s.agent_id))
            .where(and_(a.active.is_(True), a.status == "online"))
            .group_by(s.account_id, s.skill_id))).all()
    out = {(account, skill): SkillFigures() for account, skill in skills}
    for account, skill, length, oldest in queues:
        f = out.setdefault((account, skill), SkillFigures())
        f.queue_length = length
        if oldest is not None:
            f.oldest_wait_seconds = max((now - oldest).total_seconds(), 0.0)
    for account, skill, held in holds:
        out.setdefault((account, skill), SkillFigures()).held = held
    for account, skill, online, load, slots, unlimited in agents:
        f = out.setdefault((account, skill), SkillFigures())
        f.agents_online, f.agent_load, f.agent_capacity, f.unlimited_agents = online, load, slots, unlimited
    return out


async def queues(store: Store, account_id: str) -> dict[str, tuple[int, datetime]]:
    """Per skill of the account with anyone waiting: how many wait there, and since when the longest."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(_queue_heads(account_id))
        return {skill: (count, oldest) for _, skill, count, oldest in rows}


def _queue_heads(account_id: str | None = None) -> Select:
    """(account, skill, waiting, oldest ``waiting_since`` in UTC) per queue, of one account or all."""
    q = t.queue.c
    oldest = type_coerce(func.min(q.waiting_since), t.queue.c.waiting_since.type)  # the column's UTC type
    stmt = select(q.account_id, q.skill_id, func.count(), oldest).group_by(q.account_id, q.skill_id)
    return stmt if account_id is None else stmt.where(q.account_id == account_id)

