"""Offers, capacity and queues: the database side of routing (SPEC R2, R3).

Each function is one transaction. ``route`` applies the pure rules (``routing.rollover``,
``routing.selection``) to the rows it reads and reserves an agent's slot with a conditional
update, so two workers can never give one agent more than their capacity, and the ``holds``
primary key means one conversation is never held by two agents (R2.4).

Functions that free a slot return the workflow ids of queued conversations to wake; the caller
signals them after the commit (see ``activities.wake``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.directory import Account, Skill, SkillRef, Status
from routing.errors import Refusal, unknown
from routing.hours import zone
from routing.model import Event, Offer, Release, RouteOutcome, RouteRequest
from routing.rollover import backup_rollover, place
from routing.selection import Candidate, select_agent
from store import directory
from store import schema as t
from store.db import Store

WAKE_LIMIT = 5  # queued conversations woken per freed agent with unlimited capacity


async def owner_of(conn: AsyncConnection, account_id: str, skill_id: str) -> tuple[Account, Skill]:
    """The owner account and skill of a start, or a refusal naming the bad field (SPEC R1.3)."""
    account = await directory.account(conn, account_id)
    if account is None:
        raise unknown("account", account_id)
    skill = await directory.skill(conn, account_id, skill_id)
    if skill is None:
        raise unknown("skill", skill_id, f"account {account_id!r}")
    if not skill.enabled:
        raise Refusal("SkillDisabled", f"skill {skill_id!r} of account {account_id!r} is disabled", field="skill")
    return account, skill


async def candidates(conn: AsyncConnection, ref: SkillRef) -> list[Candidate]:
    """Every active agent of the skill with their presence and load."""
    rows = await conn.execute(
        select(t.agents).join(t.agent_skills, t.agent_skills.c.agent_id == t.agents.c.id).where(
            t.agent_skills.c.account_id == ref.account, t.agent_skills.c.skill_id == ref.skill,
            t.agents.c.active.is_(True)))
    return [Candidate(id=r.id, load=r.load, capacity=r.capacity, idle_since=r.idle_since,
                      online=r.status == Status.ONLINE.value, active=r.active) for r in rows]


async def route(store: Store, req: RouteRequest) -> tuple[RouteOutcome, list[str]]:
    """One routing step: decide where the conversation goes, then offer it or queue it."""
    async with store.transaction() as conn:
        owner, owner_skill = await owner_of(conn, req.account, req.skill)
        previous = await _hold(conn, req.conversation_id)
        if previous is not None and previous.step == req.step:
            return RouteOutcome.model_validate(previous.outcome), []
        queued = (await conn.execute(select(t.queue).where(t.queue.c.conversation_id == req.conversation_id))).first()
        if queued is not None and queued.step == req.step:
            return RouteOutcome.model_validate(queued.outcome), []
        wakes = await _free(conn, previous, req.now, exclude=req.conversation_id) if previous else []

        outcome = RouteOutcome(target=SkillRef(account=owner.id, skill=owner_skill.id), brand=owner.brand,
                               backup_deadline=req.backup_deadline, backup_handler=req.backup_handler,
                               policy_applies=req.policy_applies)
        if req.target is None:
            _apply_policy(outcome, owner, owner_skill, req)
        else:
            outcome.target = req.target
        excluded = list(req.excluded)
        pool = await candidates(conn, outcome.target)
        if outcome.backup_deadline and outcome.target.account == owner.id:
            online = sum(1 for c in pool if c.online)
            why = backup_rollover(owner_online=online, now=req.now, deadline=outcome.backup_deadline)
            if why and outcome.backup_handler:
                outcome.events.append(Event(at=req.now, kind="rolled_over", account=outcome.backup_handler.account,
                                            skill=outcome.backup_handler.skill, reason=why))
                outcome.target, outcome.backup_deadline, excluded = outcome.backup_handler, None, []
                pool = await candidates(conn, outcome.target)

        target_skill = owner_skill if outcome.target == SkillRef(account=owner.id, skill=owner_skill.id) \
            else await directory.skill(conn, outcome.target.account, outcome.target.skill)
        if target_skill is None:
            raise unknown("skill", outcome.target.skill, f"account {outcome.target.account!r}")
        outcome.handled_by_handler = outcome.target.account != owner.id
        outcome.accept_timeout = target_skill.accept_timeout
        outcome.idle_timeout = target_skill.idle_timeout

        chosen = await _reserve(conn, pool, excluded, req.now)
        if chosen is not None:
            outcome.offer = Offer(agent=chosen, step=req.step, account=outcome.target.account,
                                  skill=outcome.target.skill,
                                  expires_at=req.now + timedelta(seconds=target_skill.accept_timeout))
            await conn.execute(delete(t.queue).where(t.queue.c.conversation_id == req.conversation_id))
            await conn.execute(insert(t.holds).values(
                conversation_id=req.conversation_id, workflow_id=req.workflow_id, agent_id=chosen,
                account_id=outcome.target.account, skill_id=outcome.target.skill, step=req.step,
                offered_at=req.now, expires_at=outcome.offer.expires_at, outcome=outcome.model_dump(mode="json")))
        else:
            await _enqueue(conn, req, outcome, queued)
        return outcome, wakes


def _apply_policy(outcome: RouteOutcome, owner: Account, owner_skill: Skill, req: RouteRequest) -> None:
    """Apply the owner's rollover policy at the workflow's instant (SPEC R3, R4.2)."""
    placement = place(owner.policy_for(owner_skill), owner_skill, zone(owner.timezone), req.now,
                      rolled_back=not req.policy_applies)
    outcome.rollover_mode = placement.mode.value
    outcome.events.append(Event(at=req.now, kind="rollover_decision", account=owner.id, skill=owner_skill.id,
                                reason=f"{placement.rule} {placement.reason}"))
    if placement.to_handler and placement.handler:
        outcome.target = placement.handler
    if placement.backup:
        outcome.backup_deadline = placement.backup_deadline(req.now)
        outcome.backup_handler = placement.handler


async def _reserve(conn: AsyncConnection, pool: list[Candidate], excluded: list[str], now: datetime) -> str | None:
    """Take a slot of the best eligible agent with a conditional update; None if nobody has room."""
    remaining = list(pool)
    while (best := select_agent(remaining, excluded)) is not None:
        taken = await conn.execute(
            update(t.agents).where(
                t.agents.c.id == best.id, t.agents.c.active.is_(True), t.agents.c.status == Status.ONLINE.value,
                or_(t.agents.c.capacity.is_(None), t.agents.c.load < t.agents.c.capacity),
            ).values(load=t.agents.c.load + 1, idle_since=now))
        if taken.rowcount == 1:
            return best.id
        remaining = [c for c in remaining if c.id != best.id]  # lost a race for that agent
    return None


async def _enqueue(conn: AsyncConnection, req: RouteRequest, outcome: RouteOutcome, queued) -> None:
    values = dict(workflow_id=req.workflow_id, account_id=outcome.target.account, skill_id=outcome.target.skill,
                  priority=req.priority, step=req.step, outcome=outcome.model_dump(mode="json"))
    if queued is None:
        await conn.execute(insert(t.queue).values(conversation_id=req.conversation_id,
                                                  waiting_since=req.waiting_since, **values))
    else:
        if (queued.account_id, queued.skill_id) != (outcome.target.account, outcome.target.skill):
            values["waiting_since"] = req.waiting_since
        await conn.execute(update(t.queue).where(t.queue.c.conversation_id == req.conversation_id).values(**values))


async def _hold(conn: AsyncConnection, conversation_id: str):
    return (await conn.execute(select(t.holds).where(t.holds.c.conversation_id == conversation_id))).first()


async def _free(conn: AsyncConnection, hold, now: datetime, *, exclude: str | None = None) -> list[str]:
    """Delete a hold and give its slot back; returns queued workflows that may now take it."""
    gone = await conn.execute(delete(t.holds).where(t.holds.c.conversation_id == hold.conversation_id,
                                                    t.holds.c.step == hold.step))
    if gone.rowcount != 1:
        return []
    await conn.execute(update(t.agents).where(t.agents.c.id == hold.agent_id).values(load=t.agents.c.load - 1))
    return await heads_for(conn, hold.agent_id, exclude=exclude)


async def heads_for(conn: AsyncConnection, agent_id: str, *, exclude: str | None = None) -> list[str]:
    """Workflow ids at the head of the queues this agent serves, as many as they have room for."""
    agent = (await conn.execute(select(t.agents).where(t.agents.c.id == agent_id))).first()
    if agent is None or not agent.active or agent.status != Status.ONLINE.value:
        return []
    room = WAKE_LIMIT if agent.capacity is None else agent.capacity - agent.load
    if room <= 0:
        return []
    skills = select(t.agent_skills.c.account_id, t.agent_skills.c.skill_id).where(
        t.agent_skills.c.agent_id == agent_id)
    query = (select(t.queue.c.workflow_id)
             .where(t.queue.c.account_id == agent.account_id,
                    t.queue.c.skill_id.in_(skills.with_only_columns(t.agent_skills.c.skill_id)))
             .order_by(t.queue.c.priority.desc(), t.queue.c.waiting_since, t.queue.c.conversation_id)
             .limit(room))
    if exclude:
        query = query.where(t.queue.c.conversation_id != exclude)
    return [r.workflow_id for r in await conn.execute(query)]


async def release(store: Store, req: Release) -> list[str]:
    """Free whatever the conversation holds (offer, assignment, queue place); idempotent."""
    async with store.transaction() as conn:
        await conn.execute(delete(t.queue).where(t.queue.c.conversation_id == req.conversation_id))
        hold = await _hold(conn, req.conversation_id)
        return await _free(conn, hold, req.now) if hold else []


async def set_status(store: Store, agent_id: str, status: str, now: datetime) -> list[str]:
    """Set an agent's presence; going online wakes the queues they serve (SPEC R2.3)."""
    try:
        presence = Status(status)
    except ValueError:
        raise Refusal("InvalidStatus", f"status {status!r} is not one of online, away, offline",
                      field="status") from None
    async with store.transaction() as conn:
        changed = await conn.execute(update(t.agents).where(t.agents.c.id == agent_id).values(status=presence.value))
        if changed.rowcount != 1:
            raise unknown("agent", agent_id)
        return await heads_for(conn, agent_id) if presence is Status.ONLINE else []


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
