"""Routing activities: thin wrappers that run one store command each.

Each is idempotent under retry and fenced: ``route`` is keyed by conversation id + routing step
(a retry gets the step's recorded result, an older step or one after close changes nothing),
``release`` closes the books and frees whatever is held, once. Business refusals come back as
non-retryable ``ApplicationError``s whose type is the refusal kind (``UnknownSkill``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from routing.errors import Refusal
from routing.model import Delivery, Principal, Release, RouteOutcome, RouteRequest
from store import Store, books, heroes, outbox, rights
from store import routing as steps

log = logging.getLogger(__name__)
decisions = logging.getLogger("switchboard.routing")  # one line per routing decision (README "Logs")

WAKE_SIGNAL = "wake"  # room appeared in a queue the conversation waits in
HERO_SIGNAL = "hero_changed"  # the customer's hero was set or cleared (R7.3, R7.4): a hint
REASSIGN_SIGNAL = "agent_deactivated"  # an agent it involves was deactivated (R7.6): a hint


async def wake(client: Client | None, workflow_ids: Iterable[str]) -> None:
    """Signal queued conversations that room has appeared. Best effort: each waiting workflow also
    re-checks on a durable timer, so a lost wake-up costs seconds, not a stuck conversation."""
    if client is None:
        return
    for workflow_id in dict.fromkeys(workflow_ids):
        try:
            await client.get_workflow_handle(workflow_id).signal(WAKE_SIGNAL)
        except RPCError as exc:  # closed meanwhile, or the server is briefly away
            log.info("wake-up of %s not delivered: %s", workflow_id, exc.message)


def refused(refusal: Refusal) -> ApplicationError:
    return ApplicationError(refusal.message, {"field": refusal.field}, type=refusal.kind, non_retryable=True)


def _log_decision(request: RouteRequest, outcome: RouteOutcome) -> None:
    """Ids, places and the rules' reasons only: no message text, no names."""
    if not decisions.isEnabledFor(logging.INFO):
        return
    done = ("stale" if outcome.stale else "assigned" if outcome.assigned_to else "offered" if outcome.offer_to
            else "queued")
    where = outcome.target
    decisions.info("routing decision", extra={"fields": {
        "conversation_id": request.conversation_id, "step": request.step,
        "move": request.move.kind if request.move else None, "outcome": done,
        "account": where.account if where else request.account, "skill": where.skill if where else request.skill,
        "agent": outcome.assigned_to or outcome.offer_to,
        "reason": "; ".join(e.reason for e in outcome.events if e.reason)[:500] or None}})


class RoutingActivities:
    def __init__(self, store: Store, client: Client | None) -> None:
        self.store = store
        self.client = client

    @activity.defn
    async def route(self, request: RouteRequest) -> RouteOutcome:
        try:
            outcome, wakes = await steps.route(self.store, request)
        except Refusal as refusal:
            raise refused(refusal) from None
        _log_decision(request, outcome)
        await wake(self.client, wakes)
        return outcome

    @activity.defn
    async def release(self, request: Release) -> None:
        await wake(self.client, await books.finish(self.store, request.conversation_id, request.now))

    @activity.defn
    async def party(self, principal: str) -> Principal:
        """Who a principal is now, for the workflow to judge a command by (SPEC R5.6)."""
        try:
            return Principal.of(await rights.party(self.store, principal))
        except Refusal as refusal:
            raise refused(refusal) from None

    @activity.defn
    async def hero_of(self, account: str, customer: str) -> str | None:
        """The customer's hero now (the agent, else the inbox): what a ``hero_changed`` hint is checked by."""
        async with self.store.engine.connect() as conn:
            hero = await heroes.hero_of(conn, account, customer)
        return (hero.agent or hero.inbox) if hero else None

    @activity.defn
    async def private_message(self, message: Delivery) -> None:
        await outbox.private_message(self.store, message)
