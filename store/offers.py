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
from routing.model import Event, Move, Offer, Release, RouteOutcome, RouteRequest, Supervise
from routing.rollover import backup_rollover, place
from routing.selection import Candidate, select_agent
from routing.hero import hero_inbox
from routing.hero import plan as plan_hero
from routing.transfer import check_agent, check_allowed, check_open, fallback_for, may_transfer
from routing.visibility import Party, Where, may_roll_back, may_supervise
from store import directory, heroes
from store import schema as t
from store.db import Store, lock, retried

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
    return [_candidate(r) for r in rows]


def _candidate(row) -> Candidate:
    """An ``agents`` row as the selection rules see it."""
    return Candidate(id=row.id, load=row.load, capacity=row.capacity, idle_since=row.idle_since,
                     online=row.status == Status.ONLINE.value, active=row.active)


async def _agent(conn: AsyncConnection, agent_id: str, *, account: str | None = None) -> Candidate | None:
    query = select(t.agents).where(t.agents.c.id == agent_id)
    if account is not None:
        query = query.where(t.agents.c.account_id == account)
    row = (await conn.execute(query)).first()
    return None if row is None else _candidate(row)


@retried  # on PostgreSQL, two routes can deadlock (see store.db)
async def route(store: Store, req: RouteRequest) -> tuple[RouteOutcome, list[str]]:
    """One routing step: decide where the conversation goes, then offer it or queue it."""
    async with store.transaction() as conn:
        # A retried attempt can run beside its first one (the first timed out but goes on): it
        # must wait and find the first's hold or queue place, not offer or queue a second time.
        await lock(conn, req.conversation_id)
        owner, owner_skill = await owner_of(conn, req.account, req.skill)
        previous = await _hold(conn, req.conversation_id)
        if previous is not None and previous.step == req.step:
            return RouteOutcome.model_validate(previous.outcome), []
        queued = (await conn.execute(select(t.queue).where(t.queue.c.conversation_id == req.conversation_id))).first()
        if queued is not None and queued.step == req.step:
            return RouteOutcome.model_validate(queued.outcome), []
        home = SkillRef(account=owner.id, skill=owner_skill.id)
        outcome = RouteOutcome(target=home, owner=home, brand=owner.brand,
                               backup_deadline=req.backup_deadline, backup_handler=req.backup_handler,
                               policy_applies=req.policy_applies, fallback_deadline=req.fallback_deadline,
                               fallback_to=req.fallback_to, notes=req.notes)
        named: Candidate | None = None
        if req.move is not None:  # checked before anything is freed: a refusal changes nothing
            named = await _check_move(conn, req, req.move, outcome)
        wakes = await _free(conn, previous, req.now, exclude=req.conversation_id) if previous else []

        if req.target is None:  # the first step, or a hero offer ended: hero (R7), then the policy (R3)
            hero_plan = await _apply_hero(conn, outcome, owner, req)
            named = named or hero_plan
            if outcome.decided and not outcome.assigned:
                policy_skill = owner_skill if outcome.target == home else \
                    await directory.skill(conn, outcome.target.account, outcome.target.skill)
                _apply_policy(outcome, owner, policy_skill, req)
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
        if outcome.fallback_deadline and outcome.fallback_to and outcome.target != outcome.fallback_to:
            why = _fallback_reason(pool, outcome.target, req.now, outcome.fallback_deadline)
            if why:  # R6.4
                outcome.events.append(Event(at=req.now, kind="transfer_fallback", account=outcome.fallback_to.account,
                                            skill=outcome.fallback_to.skill, reason=f"R6.4 {why}"))
                outcome.target, outcome.fallback_deadline, excluded = outcome.fallback_to, None, []
                pool = await candidates(conn, outcome.target)

        target_skill = owner_skill if outcome.target == SkillRef(account=owner.id, skill=owner_skill.id) \
            else await directory.skill(conn, outcome.target.account, outcome.target.skill)
        if target_skill is None:
            raise unknown("skill", outcome.target.skill, f"account {outcome.target.account!r}")
        outcome.handled_by_handler = outcome.target.account != owner.id
        outcome.accept_timeout = target_skill.accept_timeout
        outcome.idle_timeout = target_skill.idle_timeout

        if outcome.assigned:  # R7.2: to the hero whatever their availability; a slot if they have one
            chosen = await _reserve(conn, [named], [], req.now, any_status=True)
            outcome.counted = chosen is not None
            await _hold_for(conn, req, outcome, named.id, expires_at=req.now)  # no offer to expire
            await conn.execute(delete(t.queue).where(t.queue.c.conversation_id == req.conversation_id))
            return outcome, wakes
        chosen = await _reserve(conn, [named] if named else pool, excluded, req.now)
        if named and chosen is None and outcome.decided:  # took the last slot between the check and now
            raise Refusal("AgentUnavailable", f"transfer: agent {named.id!r} is at capacity", field="agent")
        if chosen is not None:
            outcome.offer = Offer(agent=chosen, step=req.step, account=outcome.target.account,
                                  skill=outcome.target.skill,
                                  expires_at=req.now + timedelta(seconds=target_skill.accept_timeout))
            await conn.execute(delete(t.queue).where(t.queue.c.conversation_id == req.conversation_id))
            await _hold_for(conn, req, outcome, chosen, expires_at=outcome.offer.expires_at)
        else:
            await _enqueue(conn, req, outcome, queued)
        return outcome, wakes


async def party(conn: AsyncConnection, agent_id: str) -> Party:
    """The directory's view of an agent as a caller (SPEC R5), or a refusal naming it."""
    row = (await conn.execute(select(t.agents).where(t.agents.c.id == agent_id))).first()
    if row is None:
        raise unknown("agent", agent_id)
    if not row.active:
        raise Refusal("AgentInactive", f"agent {agent_id!r} is deactivated", field="by")
    return Party(id=row.id, role=row.config.get("role", "agent"), account=row.account_id)


async def _hold_for(conn: AsyncConnection, req: RouteRequest, outcome: RouteOutcome, agent_id: str,
                    expires_at: datetime) -> None:
    await conn.execute(insert(t.holds).values(
        conversation_id=req.conversation_id, workflow_id=req.workflow_id, agent_id=agent_id,
        account_id=outcome.target.account, skill_id=outcome.target.skill, step=req.step,
        offered_at=req.now, expires_at=expires_at, outcome=outcome.model_dump(mode="json")))


async def _apply_hero(conn: AsyncConnection, outcome: RouteOutcome, owner: Account,
                      req: RouteRequest) -> Candidate | None:
    """SPEC R7.1, R7.2: the customer's hero first; returns the hero agent to offer or assign to."""
    hero = await heroes.hero_of(conn, owner.id, req.customer)
    if hero is None:
        if req.move is not None and req.move.kind == "hero":
            raise Refusal("NoHero", f"reassign_to_hero: customer {req.customer!r} of account {owner.id!r} has no hero",
                          field="by")
        return None
    agent = await _agent(conn, hero.agent) if hero.agent else None
    inbox = hero_inbox(hero.inbox, await heroes.agent_skills(conn, hero.agent) if hero.agent else [])
    plan = plan_hero(hero_agent=hero.agent, agent=agent, inbox=inbox, channel=req.channel,
                     default_voice_skill=owner.default_voice_skill, passed=hero.agent in req.excluded)
    outcome.hero = hero.agent or hero.inbox
    outcome.events.append(Event(at=req.now, kind="hero", account=owner.id, skill=plan.skill, agent=plan.agent,
                                reason=plan.reason))
    if plan.skill is not None:
        outcome.target = SkillRef(account=owner.id, skill=plan.skill)
    if plan.kind == "offer":
        outcome.decided = False
        return agent
    if plan.kind == "assign":
        outcome.assigned = True
        return agent
    return None


def _fallback_reason(pool: list[Candidate], target: SkillRef, now: datetime, deadline: datetime) -> str | None:
    if not any(c.online and c.active for c in pool):
        return f"no agent of {target} is online"
    if now >= deadline:
        return f"nobody of {target} accepted within its acceptance window"
    return None


async def _check_move(conn: AsyncConnection, req: RouteRequest, move: Move, outcome: RouteOutcome) -> Candidate | None:
    """May ``move.by`` send the conversation to ``req.target``? Returns the named agent, if any."""
    if move.kind == "transfer":
        return await _check_transfer(conn, req, move, outcome)
    if move.kind == "rollback":
        await _check_rollback(conn, req, move, outcome)
    elif move.kind == "hero":  # R7.3, R7.4: the hero plan decides (below); anyone on the conversation may ask
        outcome.events.append(Event(at=req.now, kind="reassigned_to_hero", actor=move.by, reason=move.note))
    else:  # "reassign": R7.6, the agent holding it was deactivated
        outcome.events.append(Event(at=req.now, kind="reassigned", actor=move.by, agent=move.assignee,
                                    reason=move.note))
    return None


async def _check_transfer(conn: AsyncConnection, req: RouteRequest, move: Move,
                          outcome: RouteOutcome) -> Candidate | None:
    """SPEC R6: who may, where to, open now; notes for the next agents, the warm message out."""
    by = await party(conn, move.by)
    if not may_transfer(by, Where(owner=req.account, handler=move.handler_account, assignee=move.assignee)):
        raise Refusal("NotAllowed", f"transfer: {move.by!r} is neither the assignee ({move.assignee!r}) nor a "
                                    f"manager of an account involved in conversation {req.conversation_id}",
                      field="by")
    target, source = req.target, move.source
    sending = await directory.skill(conn, source.account, source.skill)
    why = check_allowed(source, sending.transfer_targets if sending else [], target, move.origin, move.agent)
    account = await directory.account(conn, target.account)
    skill = await directory.skill(conn, target.account, target.skill) if account else None
    if skill is None:
        raise unknown("skill", target.skill, f"account {target.account!r}")
    check_open(target, skill, zone(account.timezone), req.now)
    named = None
    if move.agent is not None:
        named = await _named_agent(conn, move.agent, target)
    timeout = timedelta(seconds=skill.accept_timeout)
    outcome.policy_applies, outcome.backup_deadline, outcome.backup_handler = False, None, None
    outcome.fallback_deadline, outcome.fallback_to = req.now + timeout, fallback_for(target, skill, source)
    to = f"agent {move.agent} of {target}" if move.agent else str(target)
    outcome.events.append(Event(at=req.now, kind="transferred", actor=move.by, account=target.account,
                                skill=target.skill, agent=move.agent,
                                reason=f"R6 from {source} to {to} ({why})"
                                       + ("; with a note for the next agent" if move.note else "")))
    if move.warm_message:
        await _deliver(conn, key=f"{req.workflow_id}/{req.step}/warm", recipient=f"customer:{req.customer}",
                       conversation_id=req.conversation_id, kind="warm_message", now=req.now,
                       payload={"channel": req.channel, "text": move.warm_message})
        outcome.events.append(Event(at=req.now, kind="warm_message", actor=move.by, account=target.account,
                                    skill=target.skill, reason=f"sent to the customer on {req.channel}"))
    return named


async def _named_agent(conn: AsyncConnection, agent_id: str, target: SkillRef) -> Candidate:
    candidate = await _agent(conn, agent_id, account=target.account)
    member = candidate is not None and (await conn.execute(select(t.agent_skills).where(
        t.agent_skills.c.agent_id == agent_id, t.agent_skills.c.skill_id == target.skill))).first() is not None
    check_agent(candidate, agent_id, target, member=member)
    return candidate


async def _deliver(conn: AsyncConnection, *, key: str, recipient: str, conversation_id: str, kind: str,
                   payload: dict, now: datetime) -> None:
    """Write one message to the outbox, once per key (activities retry)."""
    if (await conn.execute(select(t.outbox.c.id).where(t.outbox.c.key == key))).first() is None:
        await conn.execute(insert(t.outbox).values(key=key, recipient=recipient, conversation_id=conversation_id,
                                                   kind=kind, payload=payload, created_at=now))


async def _check_rollback(conn: AsyncConnection, req: RouteRequest, move: Move, outcome: RouteOutcome) -> None:
    """May ``move.by`` give the conversation back to the owner's ``req.target``? (SPEC R4.1, R4.3, R5)."""
    by = await party(conn, move.by)
    where = Where(owner=req.account, handler=move.handler_account, assignee=move.assignee)
    if not may_roll_back(by, where):
        raise Refusal("NotAllowed", f"rollback: {move.by!r} (account {by.account!r}) is not on the handling side "
                                    f"({move.handler_account!r}) of conversation {req.conversation_id}"
                      + (f", and {move.assignee!r} is assigned" if move.assignee else ""), field="by")
    target = await directory.skill(conn, req.target.account, req.target.skill)
    if target is None:
        raise unknown("skill", req.target.skill, f"account {req.target.account!r}")
    if not target.enabled:
        raise Refusal("SkillDisabled", f"skill {req.target.skill!r} of account {req.target.account!r} is disabled",
                      field="skill")
    # R4.2: back with the owner for good; neither the policy nor its backup deadline apply again.
    outcome.policy_applies, outcome.backup_deadline, outcome.backup_handler = False, None, None
    outcome.fallback_deadline = outcome.fallback_to = None
    note = f"; note: {move.note}" if move.note else ""
    outcome.events.append(Event(at=req.now, kind="rolled_back", actor=move.by, account=req.target.account,
                                skill=req.target.skill,
                                reason=f"R4.1 {move.by} gave it back from {move.handler_account} to "
                                       f"{req.target.account}/{req.target.skill}{note}"))


async def supervise(store: Store, req: Supervise) -> None:
    """A manager joins or private-messages (SPEC R5.2, R5.4); the message goes to the agent's feed."""
    async with store.transaction() as conn:
        await lock(conn, req.key)  # a retried attempt beside its first one delivers once
        by = await party(conn, req.by)
        where = Where(owner=req.owner_account, handler=req.handler_account, assignee=req.assignee,
                      offered_to=req.offered_to)
        if not may_supervise(by, where):
            sides = req.owner_account + (f" or {req.handler_account}" if req.handler_account else "")
            raise Refusal("NotAllowed", f"{req.kind}: {req.by!r} is not a manager of {sides}", field="by")
        if req.kind == "private_message":
            await _deliver(conn, key=req.key, recipient=req.to, conversation_id=req.conversation_id, kind=req.kind,
                           payload={"from": req.by, "text": req.text}, now=req.now)


async def feed(store: Store, recipient: str, *, after: int = 0) -> list:
    """What the outbox holds for one recipient (an agent's private messages), oldest first."""
    async with store.engine.connect() as conn:
        return list(await conn.execute(select(t.outbox).where(t.outbox.c.recipient == recipient,
                                                              t.outbox.c.id > after).order_by(t.outbox.c.id)))


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


async def _reserve(conn: AsyncConnection, pool: list[Candidate], excluded: list[str], now: datetime,
                   *, any_status: bool = False) -> str | None:
    """Take a slot of the best eligible agent with a conditional update; None if nobody has room.

    ``any_status``: the one agent in ``pool`` whatever their presence (R7.2 assignments).
    """
    remaining = list(pool)
    pick = (lambda rest, _: next(iter(rest), None)) if any_status else select_agent
    while (best := pick(remaining, excluded)) is not None:
        presence = [] if any_status else [t.agents.c.status == Status.ONLINE.value]
        taken = await conn.execute(
            update(t.agents).where(
                t.agents.c.id == best.id, t.agents.c.active.is_(True), *presence,
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
    if hold.outcome.get("counted", True):  # an R7.2 assignment beyond capacity took no slot
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
        await lock(conn, req.conversation_id)  # a route of it still running: free what that one takes
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
