"""Agents' capacity: who may take an offer, the conditional update that reserves a slot, the
release of a slot, and which queued conversations to wake when room appears (SPEC R2.1-R2.4).

A reservation is one ``UPDATE ... WHERE load < capacity``: two workers can never give one agent
more than their capacity, whatever the interleaving; the CHECK in ``store.schema`` backs it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.directory import SkillRef, Status
from routing.selection import Candidate, heads, ranked, room
from store import schema as t
from store.db import lock

WAKE_LIMIT = 5  # queued conversations woken per freed agent with unlimited capacity

# Built once (see store.books); values are bound at each execution.
_a, _s, _q = t.agents.c, t.agent_skills.c, t.queue.c
_AGENT = select(t.agents).where(_a.id == bindparam("aid"))
_AGENT_OF = _AGENT.where(_a.account_id == bindparam("account"))
_CANDIDATES = select(t.agents).join(t.agent_skills, _s.agent_id == _a.id).where(
    _s.account_id == bindparam("account"), _s.skill_id == bindparam("skill"), _a.active.is_(True))
_HAS_ROOM = or_(_a.capacity.is_(None), _a.load < _a.capacity)
_TAKE_ANY = update(t.agents).where(_a.id == bindparam("aid"), _a.active.is_(True), _HAS_ROOM).values(load=_a.load + 1)
_TAKE = _TAKE_ANY.where(_a.status == Status.ONLINE.value)
_LET_GO = delete(t.holds).where(t.holds.c.conversation_id == bindparam("cid")).returning(
    t.holds.c.agent_id, t.holds.c.outcome)
_GIVE_BACK = (update(t.agents).where(_a.id == bindparam("aid"), _a.load > 0)
              .values(load=_a.load - 1, idle_since=bindparam("now")).returning(*t.agents.c))
UNQUEUE = delete(t.queue).where(_q.conversation_id == bindparam("cid"))  # the conversation's queue place
_SKILLS_OF = select(t.agent_skills).where(_s.agent_id == bindparam("aid"))
_HEADS = (select(_q.workflow_id, _q.conversation_id, _q.excluded)
          .where(_q.account_id == bindparam("account"), _q.skill_id.in_(bindparam("skills", expanding=True)))
          .order_by(_q.priority.desc(), _q.waiting_since, _q.conversation_id).limit(bindparam("n")))


def candidate(row) -> Candidate:
    """An ``agents`` row as the selection rules see it."""
    return Candidate(id=row.id, load=row.load, capacity=row.capacity, idle_since=row.idle_since,
                     online=row.status == Status.ONLINE.value, active=row.active)


async def agent(conn: AsyncConnection, agent_id: str, *, account: str | None = None) -> Candidate | None:
    if account is None:
        row = (await conn.execute(_AGENT, {"aid": agent_id})).first()
    else:
        row = (await conn.execute(_AGENT_OF, {"aid": agent_id, "account": account})).first()
    return None if row is None else candidate(row)


async def candidates(conn: AsyncConnection, ref: SkillRef) -> list[Candidate]:
    """Every active agent of the skill with their presence and load."""
    rows = await conn.execute(_CANDIDATES, {"account": ref.account, "skill": ref.skill})
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
        taken = await conn.execute(_TAKE_ANY if any_status else _TAKE, {"aid": best.id})
        if taken.rowcount == 1:
            return best
        if any_status:
            return None
    return None  # lost every race, or nobody eligible


async def free(conn: AsyncConnection, conversation_id: str, now: datetime) -> list[str]:
    """Delete the conversation's hold, if any, and give its slot back; the agent is idle from now
    (R2.1). Returns queued workflows that may now take the slot."""
    hold = (await conn.execute(_LET_GO, {"cid": conversation_id})).first()
    if hold is None:
        return []
    agent_row = None
    if hold.outcome.get("counted", True):  # an R7.2 assignment beyond capacity took no slot
        agent_row = (await conn.execute(_GIVE_BACK, {"aid": hold.agent_id, "now": now})).first()
    return await heads_for(conn, hold.agent_id, exclude=conversation_id, row=agent_row)


async def heads_for(conn: AsyncConnection, agent_id: str, *, exclude: str | None = None,
                    lock: bool = True, row: Row | None = None) -> list[str]:
    """Workflow ids at the head of the queues this agent serves, as many as they have room for,
    skipping conversations the agent has passed on in their current attempt (they would not take it).
    ``lock=False`` for a read that may miss a row being written (the reconciler's sweep: the next
    sweep sees it). ``row``: the agent's row when the caller has just read it."""
    if row is None:
        row = (await conn.execute(_AGENT, {"aid": agent_id})).first()
    if row is None or not row.active or row.status != Status.ONLINE.value:
        return []
    free = room(candidate(row), WAKE_LIMIT)
    if free <= 0:
        return []
    skills = [SkillRef(account=r.account_id, skill=r.skill_id)
              for r in await conn.execute(_SKILLS_OF, {"aid": agent_id})]
    if lock:
        await lock_skills(conn, skills)
    found = await conn.execute(_HEADS, {"account": row.account_id, "skills": [s.skill for s in skills], "n": free * 4})
    rows = [r for r in found if r.conversation_id != exclude]
    return heads(agent_id, [(r.workflow_id, r.excluded or []) for r in rows], free)


async def waiting_for_room(conn: AsyncConnection) -> list[str]:
    """Queued workflows that an online agent with room would take now: none, unless a wake-up was
    lost (a worker died between the store's commit and the signal, the server was away). The
    reconciler's sweep wakes them, so a conversation's own safety net can wait minutes."""
    serves_a_queue = (select(_s.agent_id).join(t.queue, and_(_q.account_id == _s.account_id,
                                                             _q.skill_id == _s.skill_id))
                      .where(_s.agent_id == _a.id).exists())
    agents = (await conn.execute(select(t.agents).where(
        _a.active.is_(True), _a.status == Status.ONLINE.value, _HAS_ROOM, serves_a_queue).order_by(_a.id))).all()
    found: list[str] = []
    for row in agents:
        found += await heads_for(conn, row.id, lock=False, row=row)
    return list(dict.fromkeys(found))
