"""Heroes and deactivation at run time (SPEC R7): change the database, then tell the open
conversations at once, found through the ``OwnerAccount``/``CustomerId`` search attributes.
Used by the CLI (``hero set|clear``, ``agent deactivate``) and the HTTP gateway."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from temporalio.client import Client
from temporalio.service import RPCError

from activities.routing import HERO_SIGNAL, REASSIGN_SIGNAL
from routing.directory import Hero
from routing.model import HeroChanged
from store import Store
from store import heroes as stored
from workflows import search_attributes as sa

log = logging.getLogger(__name__)


async def set_hero(store: Store, client: Client, account: str, customer: str, *, agent: str | None = None,
                   inbox: str | None = None) -> Hero:
    change = await stored.set_hero(store, account, customer, agent=agent, inbox=inbox)
    await _tell(client, change.hero, account, customer, replaced=change.replaced)
    assert change.hero is not None  # a set (not a clear) always names the hero
    return change.hero


async def clear_hero(store: Store, client: Client, account: str, customer: str) -> None:
    await stored.clear_hero(store, account, customer)
    await _tell(client, None, account, customer, replaced=False)


async def deactivate_agent(store: Store, client: Client | None, agent: str) -> stored.Deactivation:
    """R7.6: hero entries become the agent's inbox; the agent's conversations go to another agent."""
    done = await stored.deactivate(store, agent, datetime.now(timezone.utc))
    for workflow_id in done.held:
        await _signal(client, workflow_id, REASSIGN_SIGNAL, agent)
    for hero in done.heroes:
        await _tell(client, hero, hero.account, hero.customer, replaced=False)
    return done


async def open_conversations(client: Client, account: str, customer: str) -> list[str]:
    query = (f"{sa.OWNER_ACCOUNT.name} = {sa.literal(account)} AND {sa.CUSTOMER_ID.name} = {sa.literal(customer)} "
             f"AND ExecutionStatus = 'Running'")
    return [w.id async for w in client.list_workflows(query)]


async def _tell(client: Client | None, hero: Hero | None, account: str, customer: str, *, replaced: bool) -> None:
    change = HeroChanged(hero=(hero.agent or hero.inbox) if hero else None, hero_agent=hero.agent if hero else None,
                         replaced=replaced)
    for workflow_id in await open_conversations(client, account, customer) if client else []:
        await _signal(client, workflow_id, HERO_SIGNAL, change)


async def _signal(client: Client | None, workflow_id: str, name: str, arg: object) -> None:
    if client is None:  # Temporal away: the conversation learns at its next routing step
        return
    try:
        await client.get_workflow_handle(workflow_id).signal(name, arg)
    except RPCError as exc:  # closed meanwhile
        log.info("%s to %s not delivered: %s", name, workflow_id, exc.message)

