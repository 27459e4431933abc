"""What a workspace needs beside the commands: who am I, an agent's own row, the account's agents
with presence and load, its queues, and the targets a conversation may move to with their hours.

Each answer is cut by SPEC R5 as the rest of the gateway is: an agent reads themselves, a manager
their account; move options only for a conversation the caller sees and may move.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter

from gateway import access
from gateway.accounts import AccountId, managed
from gateway.agents import AgentId, acting_for
from gateway.auth import Caller, Gw
from gateway.errors import forbidden
from gateway.schemas import AgentView, ConversationId, Me, MoveOptions, QueueFigure, Target
from routing.directory import Account, Skill, SkillRef
from routing.hours import describe, is_open, next_opening, zone
from routing.transfer import may_transfer
from routing.visibility import may_roll_back
from store import directory, metrics, presence

router = APIRouter(tags=["workspace"])


@router.get("/me", name="who_am_i")
async def me(party: Caller, gw: Gw) -> Me:
    """The caller as the gateway knows them: what a workspace shows after sign-in."""
    brand = None
    if party.account:
        async with gw.store.engine.connect() as conn:
            account = await directory.account(conn, party.account)
        brand = account.brand.name if account else None
    return Me(id=party.id, role=party.role, account=party.account, brand_name=brand,
              accounts=sorted(party.accounts) if party.accounts is not None else None)


@router.get("/agents/{agent_id}", name="read_agent")
async def read_agent(agent_id: AgentId, party: Caller, gw: Gw) -> AgentView:
    """An agent's presence, load and skills: the agent, a manager of their account, an admin."""
    agent = await acting_for(gw, party, agent_id)
    rows = dict((row.id, (row, skills)) for row, skills in await presence.agents_of(gw.store, agent.account))
    return _agent_view(*rows[agent_id])


@router.get("/accounts/{account_id}/agents", name="account_agents")
async def account_agents(account_id: AccountId, party: Caller, gw: Gw) -> list[AgentView]:
    """The account's agents with presence and load against capacity (its managers, an admin)."""
    await managed(gw, party, account_id)
    return [_agent_view(row, skills) for row, skills in await presence.agents_of(gw.store, account_id)]


@router.get("/accounts/{account_id}/queues", name="account_queues")
async def account_queues(account_id: AccountId, party: Caller, gw: Gw) -> list[QueueFigure]:
    """Per skill of the account: conversations waiting there and the oldest wait (its managers)."""
    await managed(gw, party, account_id)
    async with gw.store.engine.connect() as conn:
        account = (await directory.with_skills(conn, {account_id}))[account_id]
    figures = await metrics.queues(gw.store, account_id)
    now = datetime.now(timezone.utc)
    out = []
    for skill in account.skills:
        length, oldest = figures.get(skill.id, (0, None))
        out.append(QueueFigure(skill=skill.id, length=length, oldest_since=oldest,
                               oldest_wait_seconds=(now - oldest).total_seconds() if oldest else None))
    return out


@router.get("/conversations/{conversation_id}/targets", name="move_options")
async def move_options(conversation_id: ConversationId, party: Caller, gw: Gw) -> MoveOptions:
    """Where this caller may move the conversation now: skills and agents of its account, the
    rollover targets configured for its skill, the owner's skills to roll back to, each with
    whether it is open now and its next opening (SPEC R6.3). The server still decides on the move."""
    view, where = await access.visible(gw, party, conversation_id)
    moves, back = may_transfer(party, where), where.handler is not None and may_roll_back(party, where)
    if not (moves or back):
        raise forbidden(f"{party.id} may not transfer or roll back conversation {conversation_id}")
    here = SkillRef(account=view.get("handler_account") or view["account"],
                    skill=view.get("handler_skill") or view["skill"])
    now = datetime.now(timezone.utc)
    async with gw.store.engine.connect() as conn:
        known = await directory.with_skills(conn, {here.account, view["account"]})
        account, owner = known[here.account], known[view["account"]]
        skill = account.skill(here.skill)
        refs = skill.transfer_targets if skill and moves else []
        known |= await directory.with_skills(conn, {r.account for r in refs} - known.keys())
    rollover = []
    for ref in refs:
        found = known[ref.account].skill(ref.skill) if ref.account in known else None
        if found is not None and found.enabled:
            rollover.append(_target(known[ref.account], found, now))
    agents = [_agent_view(row, skills) for row, skills in await presence.agents_of(gw.store, here.account)
              if row.active and row.config.get("role", "agent") == "agent" and row.id != view.get("assignee")]
    return MoveOptions(
        conversation_id=conversation_id, here=here, may_transfer=moves, may_roll_back=back,
        skills=[_target(account, s, now) for s in account.skills if moves and s.enabled and s.id != here.skill],
        agents=agents if moves else [], rollover=rollover,
        rollback=[_target(owner, s, now) for s in owner.skills if back and s.enabled],
        hero=view.get("hero"))


def _target(account: Account, skill: Skill, now: datetime) -> Target:
    tz = zone(account.timezone)
    open_now = is_open(skill.hours, skill.holiday_set, tz, now)
    opens = None if open_now else next_opening(skill.hours, skill.holiday_set, tz, now)
    return Target(account=account.id, brand_name=account.brand.name, skill=skill.id, name=skill.name,
                  open_now=open_now, next_opening=opens, next_opening_text=describe(opens, tz) if opens else None)


def _agent_view(row: Any, skills: list[str]) -> AgentView:
    config = row.config or {}
    return AgentView(id=row.id, name=config.get("name"), account=row.account_id, role=config.get("role", "agent"),
                     kind=config.get("kind", "human"), status=row.status, active=row.active, load=row.load,
                     capacity=row.capacity, skills=skills)
