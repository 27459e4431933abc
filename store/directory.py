"""The directory's home in the database.

``save`` replaces the stored directory in one transaction (all or nothing), refusing a load that
would strand an open conversation (SPEC R9.4) and keeping what was set at run time: agents'
presence and load, heroes the file does not name. ``load`` reads it back. The file itself is
read by ``store.directory_file`` (its names are re-exported here, where callers look for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, bindparam, cast, delete, distinct, func, insert, null, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.directory import Account, Agent, BadReference, Directory, Hero, Skill, check_references
from routing.errors import Refusal, unknown
from routing.hero import hero_inbox
from store import capacity
from store import schema as t
from store.db import Store, lock, retried
from store.directory_file import DirectoryError, parse_text, read_file, to_yaml

__all__ = ["DirectoryError", "Saved", "account", "load", "parse_text", "put_hero", "read_file", "save", "skill",
           "to_yaml", "with_skills"]

def _account_row(account: Account) -> dict:
    return {"id": account.id,
            "config": account.model_dump(mode="json", exclude={"skills", "agents"}, exclude_unset=True)}


NAMES_MAX = 5  # conversations a refusal names; it counts the rest


@dataclass(frozen=True)
class Saved:
    """What a load did besides storing the file, for the operator and for the queues."""

    wakes: list[str]  # workflow ids of queue heads that agents given room may now take (R2.3)
    kept_status: dict[str, str]  # agent -> the presence kept where the file gives another
    kept_heroes: list[Hero]  # stored heroes the file does not name, as kept
    replaced_heroes: list[Hero]  # the file's heroes that replaced a different stored one
    dropped_heroes: list[Hero]  # stored heroes whose agent and inbox the load removes


@retried  # its agent updates can deadlock with routes on PostgreSQL (see store.db)
async def save(store: Store, directory: Directory) -> Saved:
    """Replace the stored directory with ``directory``, keeping what was set at run time.

    An agent already stored keeps their presence and load (the file's ``status`` is where a new
    agent starts); ``active`` in the file applies. Heroes the file does not name are kept. A
    load that removes an account, skill or agent that open conversations use is refused.
    """
    # A Directory built in code can skip validation (``model_copy(update=...)``); the tables do
    # not check these references, so an unchecked one would be stored and break ``load`` later.
    try:
        check_references(directory)
    except BadReference as exc:
        field = ".".join(str(p) for p in exc.loc)
        raise Refusal("InvalidDirectory", f"{field}: {exc}", field=field) from None
    async with store.transaction() as conn:
        await lock(conn, "switchboard directory")  # two saves at once: the second sees the first's rows
        # Locked (PostgreSQL): a route reserving a slot now waits for this load, so the loads read
        # here are still the loads when the capacities are written below.
        existing = {row.id: row for row in await conn.execute(
            select(t.agents).order_by(t.agents.c.id).with_for_update())}
        memberships = await _memberships(conn)
        await _refuse_stranding(conn, directory)
        wanted = {a.id: (account, a) for account in directory.accounts for a in account.agents}
        gone = set(existing) - set(wanted)
        for table in (t.gateways, t.agent_skills, t.skills):
            await conn.execute(delete(table))
        await conn.execute(delete(t.agents).where(t.agents.c.id.in_(gone)))
        known = {row.id for row in await conn.execute(select(t.accounts.c.id))}
        for account in directory.accounts:
            row = _account_row(account)
            if account.id in known:
                await conn.execute(update(t.accounts).where(t.accounts.c.id == account.id).values(config=row["config"]))
            else:
                await conn.execute(insert(t.accounts).values(row))
            for skill in account.skills:
                await conn.execute(insert(t.skills).values(
                    account_id=account.id, id=skill.id, config=skill.model_dump(mode="json", exclude_unset=True)))
        kept_status = {}
        for agent_id, (account, agent) in wanted.items():
            before = existing.get(agent_id)
            await _save_agent(conn, account.id, agent, before)
            if before is not None and "status" in agent.model_fields_set and before.status != agent.status.value:
                kept_status[agent_id] = before.status
        # Only now: an agent that moved out of a removed account still pointed at it (foreign key).
        await conn.execute(delete(t.accounts).where(t.accounts.c.id.notin_([a.id for a in directory.accounts])))
        kept, replaced, dropped = await _save_heroes(conn, directory, memberships)
        for gateway in directory.gateways:
            await conn.execute(insert(t.gateways).values(name=gateway.name, accounts=gateway.accounts))
        wakes = [w for agent_id, (account, agent) in wanted.items()
                 if _more_room(existing.get(agent_id), account.id, agent, memberships.get(agent_id, []))
                 for w in await capacity.heads_for(conn, agent_id)]
    return Saved(wakes=list(dict.fromkeys(wakes)), kept_status=kept_status, kept_heroes=kept,
                 replaced_heroes=replaced, dropped_heroes=dropped)


async def _memberships(conn: AsyncConnection) -> dict[str, list[str]]:
    """Each agent's skills by name, as ``store.heroes.agent_skills`` orders them."""
    skills: dict[str, list[str]] = {}
    for row in await conn.execute(select(t.agent_skills).order_by(t.agent_skills.c.skill_id)):
        skills.setdefault(row.agent_id, []).append(row.skill_id)
    return skills


def _in_use():
    """What open conversations use: their owner account and skill (the book of conversations not
    closed), the agent and skill of their offer or assignment, the skill whose queue they wait in."""
    c, h, q = t.conversations.c, t.holds.c, t.queue.c
    nobody = cast(null(), String).label("agent_id")
    return union_all(select(c.conversation_id, c.account_id, c.skill_id, nobody).where(c.closed_at.is_(None)),
                     select(h.conversation_id, h.account_id, h.skill_id, h.agent_id),
                     select(q.conversation_id, q.account_id, q.skill_id, nobody)).subquery()


async def _refuse_stranding(conn: AsyncConnection, directory: Directory) -> None:
    """SPEC R9.4: a load never removes what an open conversation uses; the refusal names both."""
    used = _in_use()
    skills = {a.id: {s.id for s in a.skills} for a in directory.accounts}
    agents = {g.id for a in directory.accounts for g in a.agents}
    gone: dict[str, tuple[str, Any]] = {}  # what -> (field, the rows of ``used`` it covers)
    for row in await conn.execute(select(used.c.account_id, used.c.skill_id).distinct()):
        if row.account_id not in skills:
            gone[f"account {row.account_id!r}"] = ("accounts", used.c.account_id == row.account_id)
        elif row.skill_id not in skills[row.account_id]:
            gone[f"skill {row.account_id}/{row.skill_id}"] = (
                "skills", and_(used.c.account_id == row.account_id, used.c.skill_id == row.skill_id))
    for row in await conn.execute(select(used.c.agent_id).where(used.c.agent_id.is_not(None)).distinct()):
        if row.agent_id not in agents:
            gone[f"agent {row.agent_id!r}"] = ("agents", used.c.agent_id == row.agent_id)
    if not gone:
        return
    named = []
    for what, (_, where) in sorted(gone.items()):
        count = (await conn.execute(select(func.count(distinct(used.c.conversation_id))).where(where))).scalar_one()
        ids = [r[0] for r in await conn.execute(select(used.c.conversation_id).where(where).distinct()
                                                .order_by(used.c.conversation_id).limit(NAMES_MAX))]
        more = f" and {count - len(ids)} more" if count > len(ids) else ""
        named.append(f"{what} is used by {count} open conversation{'s' if count != 1 else ''}: "
                     f"{', '.join(ids)}{more}")
    raise Refusal("DirectoryInUse", "the file removes what open conversations use (nothing was loaded): "
                  + "; ".join(named) + ". Keep them until those conversations close: disable a skill "
                  "(enabled: false) or deactivate an agent (active: false) instead",
                  field=next(iter(gone.values()))[0])


def _more_room(row: Any, account_id: str, agent: Agent, skills: list[str]) -> bool:
    """Whether the load gives this agent room to take a queued conversation it could not before."""
    if row is None or row.account_id != account_id or not set(agent.skills) <= set(skills):
        return True  # new, moved, or in a new skill
    raised = row.capacity is not None and (agent.capacity is None or agent.capacity > row.capacity)
    return raised or (agent.active and not row.active)


async def _save_heroes(conn: AsyncConnection, directory: Directory,
                       memberships: dict[str, list[str]]) -> tuple[list[Hero], list[Hero], list[Hero]]:
    """The file's heroes replace the stored ones for their customers; the others stay, as set at
    run time (``hero set``), unless their agent and inbox are gone. Returns (kept, replaced, dropped)."""
    stored = {(r.account_id, r.customer): Hero(account=r.account_id, customer=r.customer, agent=r.agent_id,
                                               inbox=r.inbox)
              for r in await conn.execute(select(t.heroes).order_by(t.heroes.c.account_id, t.heroes.c.customer))}
    named = {(h.account, h.customer): h for h in directory.heroes}
    present = {a.id: ({s.id for s in a.skills}, {g.id for g in a.agents}) for a in directory.accounts}
    kept, dropped = [], []
    for key, hero in stored.items():
        if key in named:
            continue
        still = _still_there(present, hero, memberships)
        if still is None:
            await conn.execute(delete(t.heroes).where(t.heroes.c.account_id == hero.account,
                                                      t.heroes.c.customer == hero.customer))
            dropped.append(hero)
            continue
        if still != hero:
            await put_hero(conn, still)
        kept.append(still)
    for hero in directory.heroes:
        await put_hero(conn, hero)
    return kept, [h for key, h in named.items() if key in stored and stored[key] != h], dropped


def _still_there(present: dict[str, tuple[set[str], set[str]]], hero: Hero,
                 memberships: dict[str, list[str]]) -> Hero | None:
    """A kept hero as the new directory (``present``: each account's skills and agents) allows it:
    an agent who left is replaced by their inbox, as a deactivated one is (R7.6); an inbox that
    left goes; with nothing left, None."""
    if hero.account not in present:
        return None
    skills, agents = present[hero.account]
    inbox = hero.inbox if hero.inbox in skills else None
    if hero.agent in agents:
        return hero.model_copy(update={"inbox": inbox})
    if hero.agent:
        inbox = hero_inbox(hero.inbox, memberships.get(hero.agent, []))
    return Hero(account=hero.account, customer=hero.customer, inbox=inbox) if inbox in skills else None


async def put_hero(conn: AsyncConnection, hero: Hero) -> None:
    """Insert or replace the customer's hero in one statement: two writers at once never meet a
    primary-key violation (PostgreSQL waits for the first, then updates its row)."""
    upsert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(t.heroes).values(
        account_id=hero.account, customer=hero.customer, agent_id=hero.agent, inbox=hero.inbox)
    await conn.execute(upsert.on_conflict_do_update(
        index_elements=[t.heroes.c.account_id, t.heroes.c.customer],
        set_={"agent_id": upsert.excluded.agent_id, "inbox": upsert.excluded.inbox}))


async def _save_agent(conn: AsyncConnection, account_id: str, agent: Agent, row: Any) -> None:
    values = {
        "account_id": account_id,
        "config": agent.model_dump(mode="json", include={"name", "role", "kind"}, exclude_unset=True),
        "capacity": agent.capacity,
    }
    if row is None:
        await conn.execute(insert(t.agents).values(id=agent.id, load=0, status=agent.status.value,
                                                   active=agent.active, **values))
    else:
        if agent.capacity is not None and row.load > agent.capacity:
            raise Refusal("CapacityBelowLoad", f"agent {agent.id!r} holds {row.load} conversations; "
                          f"capacity {agent.capacity} is too low until some close", field="capacity")
        if "active" in agent.model_fields_set:
            values["active"] = agent.active
        await conn.execute(update(t.agents).where(t.agents.c.id == agent.id).values(**values))
    for skill_id in agent.skills:
        await conn.execute(insert(t.agent_skills).values(agent_id=agent.id, account_id=account_id, skill_id=skill_id))


async def load(store: Store) -> Directory:
    """The stored directory, with agents' current status and active flag."""
    async with store.engine.connect() as conn:
        skills: dict[str, list[Skill]] = {}
        for row in await conn.execute(select(t.skills).order_by(t.skills.c.account_id, t.skills.c.id)):
            skills.setdefault(row.account_id, []).append(Skill.model_validate(row.config))
        memberships: dict[str, list[str]] = {}
        for row in await conn.execute(select(t.agent_skills).order_by(t.agent_skills.c.skill_id)):
            memberships.setdefault(row.agent_id, []).append(row.skill_id)
        agents: dict[str, list[Agent]] = {}
        for row in await conn.execute(select(t.agents).order_by(t.agents.c.id)):
            agents.setdefault(row.account_id, []).append(Agent.model_validate({
                "id": row.id, **row.config, "skills": memberships.get(row.id, []),
                "capacity": row.capacity, "status": row.status, "active": row.active}))
        accounts = [
            Account.model_validate({**row.config, "skills": skills.get(row.id, []), "agents": agents.get(row.id, [])})
            for row in await conn.execute(select(t.accounts).order_by(t.accounts.c.id))
        ]
        # Ordered, as everything above: PostgreSQL returns rows in no fixed order otherwise.
        heroes = [Hero(account=r.account_id, customer=r.customer, agent=r.agent_id, inbox=r.inbox)
                  for r in await conn.execute(select(t.heroes).order_by(t.heroes.c.account_id, t.heroes.c.customer))]
        gateways = [{"name": r.name, "accounts": r.accounts}
                    for r in await conn.execute(select(t.gateways).order_by(t.gateways.c.name))]
    return Directory.model_validate({"accounts": accounts, "heroes": heroes, "gateways": gateways})


# The reads of every routing step and start, built once (see store.books).
_ACCOUNTS = select(t.accounts).where(t.accounts.c.id.in_(bindparam("ids", expanding=True)))
_SKILLS = select(t.skills).where(t.skills.c.account_id.in_(bindparam("ids", expanding=True)))
_OWNER = (select(t.accounts.c.config.label("account"), t.skills.c.config.label("skill"))
          .select_from(t.accounts.outerjoin(t.skills, and_(t.skills.c.account_id == t.accounts.c.id,
                                                           t.skills.c.id == bindparam("skill"))))
          .where(t.accounts.c.id == bindparam("account")))


async def account(conn: AsyncConnection, account_id: str) -> Account | None:
    """The account's settings (brand, time zone, default policy), without skills or agents."""
    row = (await conn.execute(select(t.accounts.c.config).where(t.accounts.c.id == account_id))).first()
    return Account.model_validate(row.config) if row else None


async def with_skills(conn: AsyncConnection, ids: set[str]) -> dict[str, Account]:
    """These accounts with their skills (two queries, whatever their number), by id."""
    bound = {"ids": sorted(ids)}
    rows = list(await conn.execute(_ACCOUNTS, bound))
    skills: dict[str, list[dict]] = {}
    for r in await conn.execute(_SKILLS, bound):
        skills.setdefault(r.account_id, []).append(r.config)
    return {r.id: Account.model_validate({**r.config, "skills": skills.get(r.id, [])}) for r in rows}


async def skill(conn: AsyncConnection, account_id: str, skill_id: str) -> Skill | None:
    row = (await conn.execute(select(t.skills.c.config).where(
        t.skills.c.account_id == account_id, t.skills.c.id == skill_id))).first()
    return Skill.model_validate(row.config) if row else None


async def owner_of(conn: AsyncConnection, account_id: str, skill_id: str) -> tuple[Account, Skill]:
    """The owner account and skill of a start, or a refusal naming the bad field (SPEC R1.3); one
    query (the gateway asks on every start, in a ``Store.one_read``)."""
    row = (await conn.execute(_OWNER, {"account": account_id, "skill": skill_id})).first()
    if row is None:
        raise unknown("account", account_id)
    if row.skill is None:
        raise unknown("skill", skill_id, f"account {account_id!r}")
    owner_skill = Skill.model_validate(row.skill)
    if not owner_skill.enabled:
        raise Refusal("SkillDisabled", f"skill {skill_id!r} of account {account_id!r} is disabled", field="skill")
    return Account.model_validate(row.account), owner_skill
