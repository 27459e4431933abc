"""One routing step in one transaction: enter the books, read the facts, let ``routing.plan``
decide, then reserve an agent or take a queue place (SPEC R2-R4, R6, R7).

The decision is the pure ``routing.plan.decide``; this module only reads what it needs and keeps
the books: the fenced step (``store.books``), the slot (``store.capacity``), the queue place and
the warm message (``store.outbox``). A retried step gets its recorded result back; an older step,
or one after close, changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.directory import Account, Skill, SkillRef, Status
from routing.errors import Refusal, unknown
from routing.model import RouteOutcome, RouteRequest
from routing.plan import Facts, Plan, decide
from routing.selection import first_ahead
from store import books, capacity, directory, heroes, outbox, rights
from store import schema as t
from store.db import Store, retried

QUEUE_LOOKAHEAD = 20  # queued conversations ahead of a newcomer that are asked whether they would take the agent

# Built once (see store.books); values are bound at each execution.
_q, _s, _a = t.queue.c, t.agent_skills.c, t.agents.c
_AHEAD = (select(_q.workflow_id, _q.excluded).where(
    _q.account_id == bindparam("account"), _q.skill_id == bindparam("skill"),
    or_(_q.priority > bindparam("priority"),
        and_(_q.priority == bindparam("priority"),
             or_(_q.waiting_since < bindparam("arrived"),
                 and_(_q.waiting_since == bindparam("arrived"), _q.conversation_id < bindparam("cid"))))),
    _q.conversation_id != bindparam("cid"))
    .order_by(_q.priority.desc(), _q.waiting_since, _q.conversation_id).limit(QUEUE_LOOKAHEAD))
_HOLD = insert(t.holds)
_ENQUEUE = insert(t.queue)
_ONLINE = (select(_s.account_id, _s.skill_id, func.count()).join(t.agents, _a.id == _s.agent_id)
           .where(_s.account_id.in_(bindparam("accounts", expanding=True)), _a.active.is_(True),
                  _a.status == Status.ONLINE.value)
           .group_by(_s.account_id, _s.skill_id))
_MEMBER = select(_s.agent_id).where(_s.agent_id == bindparam("aid"), _s.account_id == bindparam("account"),
                                    _s.skill_id == bindparam("skill"))


@retried  # on PostgreSQL, two steps can deadlock (see store.db)
async def route(store: Store, req: RouteRequest) -> tuple[RouteOutcome, list[str]]:
    """Take routing step ``req``; returns what happened and the queued workflows to wake."""
    async with store.transaction() as conn:
        entry = await books.enter(conn, req)
        if entry.stale:
            return RouteOutcome(stale=True), []
        if entry.replay is not None:
            return RouteOutcome.model_validate(entry.replay["outcome"]), list(entry.replay["wakes"])
        facts = await _facts(conn, req)
        plan = decide(facts, req)  # a refusal here leaves everything as it was
        wakes = await capacity.free(conn, req.conversation_id, req.now)
        await conn.execute(capacity.UNQUEUE, {"cid": req.conversation_id})
        outcome = _outcome(facts, plan)
        wakes += await _place(conn, req, plan, outcome)
        if req.move is not None and req.move.warm_message:
            await outbox.deliver(conn, key=f"{req.workflow_id}/{req.step}/warm", recipient=f"customer:{req.customer}",
                                 conversation_id=req.conversation_id, kind="warm_message", now=req.now,
                                 payload={"channel": req.channel, "text": req.move.warm_message})
        await books.record(conn, req, {"outcome": outcome.model_dump(mode="json"), "wakes": wakes})
        return outcome, wakes


def _outcome(facts: Facts, plan: Plan) -> RouteOutcome:
    return RouteOutcome(
        target=plan.target, brand=facts.owner.brand, events=plan.events, accept_timeout=plan.skill.accept_timeout,
        idle_timeout=plan.skill.idle_timeout, rollover_mode=plan.rollover_mode,
        handled_by_handler=plan.target.account != facts.owner.id, backup_deadline=plan.backup_deadline,
        backup_handler=plan.backup_handler, policy_applies=plan.policy_applies,
        fallback_deadline=plan.fallback_deadline, fallback_to=plan.fallback_to, hero=plan.hero,
        decided=plan.decided, excluded=plan.excluded)


async def _place(conn: AsyncConnection, req: RouteRequest, plan: Plan, outcome: RouteOutcome) -> list[str]:
    """Offer (or, R7.2, assign) to the agent the plan names or the best of its skill; else queue."""
    await capacity.lock_skills(conn, [plan.target])
    if plan.assign_to is not None:
        taken = await capacity.reserve(conn, [plan.assign_to], [], any_status=True)
        outcome.assigned_to = plan.assign_to.id
        await _hold(conn, req, plan, outcome, plan.assign_to.id, counted=taken is not None)
        return []
    if plan.offer_to is not None:
        chosen = await capacity.reserve(conn, [plan.offer_to], plan.excluded if not plan.must_reserve else [])
        if chosen is None and plan.must_reserve:  # took the last slot between the check and now
            raise Refusal("AgentUnavailable", f"transfer: agent {plan.offer_to.id!r} is at capacity", field="agent")
    else:
        pool = await capacity.candidates(conn, plan.target)
        head = await _ahead(conn, req, plan.target)
        if head is not None:
            await _enqueue(conn, req, plan)
            return [head]  # R2.3: the head goes first; it is told there is room
        chosen = await capacity.reserve(conn, pool, plan.excluded)
    if chosen is None:
        await _enqueue(conn, req, plan)
        return []
    outcome.offer_to = chosen.id
    await _hold(conn, req, plan, outcome, chosen.id, counted=True)
    return []


async def _ahead(conn: AsyncConnection, req: RouteRequest, target: SkillRef) -> str | None:
    """SPEC R2.3: the workflow of a conversation in the skill's queue that goes before this one and
    would take an agent with room: the newcomer (or a re-check further back) must not overtake it."""
    rows = list(await conn.execute(_AHEAD, {"account": target.account, "skill": target.skill, "priority": req.priority,
                                            "arrived": req.arrived_at, "cid": req.conversation_id}))
    if not rows:
        return None
    free = [c for c in await capacity.candidates(conn, target) if c.online and c.has_room]
    # None: everyone ahead has passed on every agent with room, so this one may take one.
    return first_ahead([(r.workflow_id, r.excluded or []) for r in rows], free)


async def _hold(conn: AsyncConnection, req: RouteRequest, plan: Plan, outcome: RouteOutcome, agent_id: str, *,
                counted: bool) -> None:
    """The agent's slot, with what their workspace shows beside the offer (the owner's skill and
    brand, SPEC R3.7); ``expires_at`` is indicative: the workflow's clock decides."""
    await conn.execute(_HOLD, dict(
        conversation_id=req.conversation_id, workflow_id=req.workflow_id, agent_id=agent_id,
        account_id=plan.target.account, skill_id=plan.target.skill, step=req.step, offered_at=req.now,
        expires_at=req.now + timedelta(seconds=plan.skill.accept_timeout),
        outcome={"counted": counted, "assigned": outcome.assigned_to is not None,
                 "owner": {"account": req.account, "skill": req.skill},
                 "brand": outcome.brand.model_dump(mode="json") if outcome.brand else None}))


async def _enqueue(conn: AsyncConnection, req: RouteRequest, plan: Plan) -> None:
    await conn.execute(_ENQUEUE, dict(
        conversation_id=req.conversation_id, workflow_id=req.workflow_id, account_id=plan.target.account,
        skill_id=plan.target.skill, priority=req.priority, waiting_since=req.arrived_at, step=req.step,
        outcome={}, excluded=plan.excluded))


async def _facts(conn: AsyncConnection, req: RouteRequest) -> Facts:
    """The directory as the decision needs it, read inside the step's transaction."""
    move = req.move
    hero = await heroes.hero_of(conn, req.account, req.customer)
    refs = [r for r in (req.target, req.backup_handler, req.fallback_to, move.source if move else None,
                        move.origin.skill if move and move.origin else None) if r is not None]
    ids = {req.account, *(r.account for r in refs)}
    accounts = await directory.with_skills(conn, ids)
    owner = accounts.get(req.account)
    if owner is None:
        raise unknown("account", req.account)
    more = {p.handler.account for s in owner.skills for p in [owner.policy_for(s)] if p and p.handler}
    more |= {r.account for s in owner.skills for r in s.transfer_targets}
    if more - accounts.keys():
        accounts |= await directory.with_skills(conn, more - accounts.keys())
    _check_opening(req, owner)
    hero_agent = await capacity.agent(conn, hero.agent) if hero and hero.agent else None
    facts = dict(owner=owner, accounts=accounts, online=await _online(conn, set(accounts)), hero=hero,
                 hero_agent=hero_agent,
                 hero_agent_skills=tuple(await heroes.agent_skills(conn, hero.agent)) if hero and hero.agent else ())
    if move is not None and move.kind in ("transfer", "rollback"):
        try:
            facts["by"] = await rights.principal(conn, move.by)
        except Refusal as refusal:
            raise Refusal(refusal.kind, f"{move.kind}: {refusal.message}", field="by") from None
    if move is not None and move.kind == "transfer" and move.agent is not None and req.target is not None:
        facts["named"] = await capacity.agent(conn, move.agent, account=req.target.account)
        facts["named_member"] = (await conn.execute(_MEMBER, {
            "aid": move.agent, "account": req.target.account, "skill": req.target.skill})).first() is not None
    if move is not None and move.kind == "reassign" and move.assignee is not None:
        facts["subject"] = await capacity.agent(conn, move.assignee)
    return Facts(**facts)


def _check_opening(req: RouteRequest, owner: Account) -> None:
    """SPEC R1.3, R9.4: an unknown or disabled skill refuses a start; later steps keep routing."""
    skill: Skill | None = owner.skill(req.skill)
    if skill is None:
        raise unknown("skill", req.skill, f"account {req.account!r}")
    if req.opening and not skill.enabled:
        raise Refusal("SkillDisabled", f"skill {req.skill!r} of account {req.account!r} is disabled", field="skill")


async def _online(conn: AsyncConnection, account_ids: set[str]) -> dict[SkillRef, int]:
    """Active agents online per skill of these accounts."""
    rows = await conn.execute(_ONLINE, {"accounts": sorted(account_ids)})
    return {SkillRef(account=a, skill=s): n for a, s, n in rows}

