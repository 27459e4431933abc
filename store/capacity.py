"""Agents' capacity: who may take an offer, the conditional update that reserves a slot, the
release of a slot, and which queued conversations to wake when room appears (SPEC R2.1-R2.4).

A reservation is one ``UPDATE ... WHERE load < capacity``: two workers can never give one agent
more than their capacity, whatever the interleaving; the CHECK in ``store.schema`` backs it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.directory import SkillRef, Status
from routing.selection import Candidate, heads, ranked, room
from store import schema as t
from store.db import lock

WAKE_LIMIT = 5  # queued conversations woken per freed agent with unlimited capacity


def candidate(row) -> Candidate:
    """An ``agents`` row as the selection rules see it."""
    return Candidate(id=row.id, load=row.load, capacity=row.capacity, idle_since=row.idle_since,
                     online=row.status == Status.ONLINE.value, active=row.active)


async def agent(conn: AsyncConnection, agent_id: str, *, account: str | None = None) -> Candidate | None:
    query = select(t.agents).where(t.agents.c.id == agent_id)
    if account is not None:
        query = query.where(t.agents.c.account_id == account)
    row = (await conn.execute(query)).first()
    return None if row is None else candidate(row)


async def candidates(conn: AsyncConnection, ref: SkillRef) -> list[Candidate]:
    """Every active agent of the skill with their presence and load."""
    rows = await conn.execute(
        select(t.agents).join(t.agent_skills, t.agent_skills.c.agent_id == t.agents.c.id).where(
            t.agent_skills.c.account_id == ref.account, t.agent_skills.c.skill_id == ref.skill,
            t.agents.c.active.is_(True)))
    return [candidate(r) for r in rows]


async def lock_skills(conn: AsyncConnection, refs: list[SkillRef]) -> None:
    """Make an enqueue and a release in the same skill take turns, so the release sees the queue
    row (and wakes it) or the enqueue sees the room (and takes it): no wake-up is lost between two
    uncommitted transactions on PostgreSQL. Sorted, so two steps lock in the same order."""
    for key in sorted({f"skill {ref}" for ref in refs}):
        await lock(conn, key)


async def reserve(conn: AsyncConnection, pool: list[Candidate], excluded: list[str], *,
                  any_status: bool = False) -> Candidate | None:
    """Take a slot of the best eligible agent with a conditional update; None if nobody has room.

    ``any_status``: the one agent in ``pool`` whatever their presence and room (R7.2 assignments):
    a slot if they have one, else none (the hold then takes no slot).
    """
    remaining = ranked(pool, excluded) if not any_status else list(pool)
    for best in remaining:
        presence = [] if any_status else [t.agents.c.status == Status.ONLINE.value]
        taken = await conn.execute(
            update(t.agents).where(
                t.agents.c.id == best.id, t.agents.c.active.is_(True), *presence,
                or_(t.agents.c.capacity.is_(None), t.agents.c.load < t.agents.c.capacity),
            ).values(load=t.agents.c.load + 1))
        if taken.rowcount == 1:
            return best
        if any_status:
            return None
    return None  # lost every race, or nobody eligible


async def free(conn: AsyncConnection, conversation_id: str, now: datetime) -> list[str]:
    """Delete the conversation's hold, if any, and give its slot back; the agent is idle from now
    (R2.1). Returns queued workflows that may now take the slot."""
    hold = (await conn.execute(select(t.holds).where(t.holds.c.conversation_id == conversation_id))).first()
    if hold is None:
        return []
    await conn.execute(delete(t.holds).where(t.holds.c.conversation_id == conversation_id))
    if hold.outcome.get("counted", True):  # an R7.2 assignment beyond capacity took no slot
        await conn.execute(update(t.agents).where(t.agents.c.id == hold.agent_id, t.agents.c.load > 0)
                           .values(load=t.agents.c.load - 1, idle_since=now))
    return await heads_for(conn, hold.agent_id, exclude=conversation_id)


async def heads_for(conn: AsyncConnection, agent_id: str, *, exclude: str | None = None,
                    lock: bool = True) -> list[str]:
    """Workflow ids at the head of the queues this agent serves, as many as they have room for,
    skipping conversations the agent has passed on in their current attempt (they would not take it).
    ``lock=False`` for a read that may miss a row being written (the reconciler's sweep: the next
    sweep sees it)."""
    row = (await conn.execute(select(t.agents).where(t.agents.c.id == agent_id))).first()
    if row is None or not row.active or row.status != Status.ONLINE.value:
        return []
    free = room(candidate(row), WAKE_LIMIT)
    if free <= 0:
        return []
    skills = [SkillRef(account=r.account_id, skill=r.skill_id) for r in await conn.execute(
        select(t.agent_skills).where(t.agent_skills.c.agent_id == agent_id))]
    if lock:
        await lock_skills(conn, skills)
    query = (select(t.queue.c.workflow_id, t.queue.c.conversation_id, t.queue.c.excluded)
             .where(t.queue.c.account_id == row.account_id,
                    t.queue.c.skill_id.in_([s.skill for s in skills]))
             .order_by(t.queue.c.priority.desc(), t.queue.c.waiting_since, t.queue.c.conversation_id)
             .limit(free * 4))
    rows = [r for r in await conn.execute(query) if r.conversation_id != exclude]
    return heads(agent_id, [(r.workflow_id, r.excluded or []) for r in rows], free)


async def waiting_for_room(conn: AsyncConnection) -> list[str]:
    """Queued workflows that an online agent with room would take now: none, unless a wake-up was
    lost (a worker died between the store's commit and the signal, the server was away). The
    reconciler's sweep wakes them, so a conversation's own safety net can wait minutes."""
    queued = (select(t.queue.c.conversation_id).where(
        t.queue.c.account_id == t.agent_skills.c.account_id, t.queue.c.skill_id == t.agent_skills.c.skill_id)
        .exists())
    agents = await conn.execute(
        select(t.agents.c.id).distinct().join(t.agent_skills, t.agent_skills.c.agent_id == t.agents.c.id).where(
            t.agents.c.active.is_(True), t.agents.c.status == Status.ONLINE.value,
            or_(t.agents.c.capacity.is_(None), t.agents.c.load < t.agents.c.capacity), queued)
        .order_by(t.agents.c.id))
    found: list[str] = []
    for (agent_id,) in agents:
        found += await heads_for(conn, agent_id, lock=False)
    return list(dict.fromkeys(found))
