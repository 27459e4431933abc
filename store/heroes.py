"""Dedicated heroes and agent deactivation in the database (SPEC R7).

Each function is one transaction and returns what the caller must tell running conversations
(``service.heroes`` sends the signals after the commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.directory import Hero, Status
from routing.errors import Refusal, unknown
from routing.hero import hero_inbox
from routing.model import parse
from store import directory
from store import schema as t
from store.db import Store, lock, retried


# Built once (see store.books): read on every routing step.
_HERO_OF = select(t.heroes).where(t.heroes.c.account_id == bindparam("account"),
                                  t.heroes.c.customer == bindparam("customer"))
_SKILLS_OF = (select(t.agent_skills.c.skill_id).where(t.agent_skills.c.agent_id == bindparam("aid"))
              .order_by(t.agent_skills.c.skill_id))


@dataclass(frozen=True)
class HeroChange:
    hero: Hero | None  # None: cleared
    replaced: bool  # the customer had a hero before (R7.4 moves the open conversation)


@dataclass(frozen=True)
class Deactivation:
    held: list[str]  # workflow ids of the conversations the agent held (R7.6 reassigns them)
    heroes: list[Hero]  # hero entries turned into the agent's inbox


async def hero_of(conn: AsyncConnection, account_id: str, customer: str) -> Hero | None:
    row = (await conn.execute(_HERO_OF, {"account": account_id, "customer": customer})).first()
    return Hero(account=row.account_id, customer=row.customer, agent=row.agent_id, inbox=row.inbox) if row else None


async def agent_skills(conn: AsyncConnection, agent_id: str) -> list[str]:
    """The agent's skills, by name: the first is the agent's inbox when a hero entry names none."""
    rows = await conn.execute(_SKILLS_OF, {"aid": agent_id})
    return [r.skill_id for r in rows]


@retried  # like every directory write, it can deadlock with routes on PostgreSQL (see store.db)
async def set_hero(store: Store, account_id: str, customer: str, *, agent: str | None = None,
                   inbox: str | None = None) -> HeroChange:
    """Make ``agent`` (optionally with their team ``inbox``) or ``inbox`` the customer's hero."""
    if not customer:
        raise Refusal("InvalidInput", "hero: field 'customer' is empty", field="customer")
    if not (agent or inbox):
        raise Refusal("InvalidInput", "hero: give an agent or an inbox", field="agent")
    # The directory's ids (SPEC R9.1): refused here as a directory file would refuse them.
    hero = parse(Hero, {"account": account_id, "customer": customer, "agent": agent, "inbox": inbox}, "hero")
    async with store.transaction() as conn:
        # Two calls for one customer take turns, so the second knows it replaces the first (R7.4).
        await lock(conn, f"hero {account_id!r} {customer!r}")
        if await directory.account(conn, account_id) is None:
            raise unknown("account", account_id)
        if agent is not None:
            row = (await conn.execute(select(t.agents).where(t.agents.c.id == agent))).first()
            if row is None or row.account_id != account_id:
                raise Refusal("UnknownAgent", f"hero: no agent {agent!r} in account {account_id!r}", field="agent")
            if not row.active:
                raise Refusal("AgentInactive", f"hero: agent {agent!r} is deactivated", field="agent")
        if inbox is not None and await directory.skill(conn, account_id, inbox) is None:
            raise Refusal("UnknownSkill", f"hero: no skill {inbox!r} in account {account_id!r}", field="inbox")
        previous = await hero_of(conn, account_id, customer)
        await directory.put_hero(conn, hero)
    return HeroChange(hero=hero, replaced=previous is not None and previous != hero)


async def clear_hero(store: Store, account_id: str, customer: str) -> HeroChange:
    async with store.transaction() as conn:
        gone = await conn.execute(delete(t.heroes).where(t.heroes.c.account_id == account_id,
                                                         t.heroes.c.customer == customer))
        if gone.rowcount != 1:
            raise Refusal("NoHero", f"hero: customer {customer!r} of account {account_id!r} has no hero",
                          field="customer")
    return HeroChange(hero=None, replaced=False)


@retried
async def deactivate(store: Store, agent_id: str, now: datetime) -> Deactivation:
    """R7.6: the agent takes nothing new; their hero entries become their inbox; their open
    conversations are handed back to be reassigned (the caller signals them)."""
    async with store.transaction() as conn:
        changed = await conn.execute(update(t.agents).where(t.agents.c.id == agent_id)
                                     .values(active=False, status=Status.OFFLINE.value))
        if changed.rowcount != 1:
            raise unknown("agent", agent_id)
        return Deactivation(held=await _held_by(conn, agent_id), heroes=await _heroes_to_inbox(conn, agent_id))


async def _held_by(conn: AsyncConnection, agent_id: str) -> list[str]:
    rows = await conn.execute(select(t.holds.c.workflow_id).where(t.holds.c.agent_id == agent_id))
    return [r.workflow_id for r in rows]


async def _heroes_to_inbox(conn: AsyncConnection, agent_id: str) -> list[Hero]:
    skills = await agent_skills(conn, agent_id)
    changed = []
    for row in list(await conn.execute(select(t.heroes).where(t.heroes.c.agent_id == agent_id))):
        inbox = hero_inbox(row.inbox, skills)
        where = (t.heroes.c.account_id == row.account_id, t.heroes.c.customer == row.customer)
        if inbox is None:  # an agent in no skill leaves no inbox to keep: the hero entry goes
            await conn.execute(delete(t.heroes).where(*where))
            continue
        await conn.execute(update(t.heroes).where(*where).values(agent_id=None, inbox=inbox))
        changed.append(Hero(account=row.account_id, customer=row.customer, inbox=inbox))
    return changed
