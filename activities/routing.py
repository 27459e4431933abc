"""Routing activities: thin wrappers that run one store transaction each.

Each is idempotent under retry: ``route`` is keyed by conversation id + routing step (the store
returns the same outcome for a step it already took), ``release`` frees whatever is held and
does nothing the second time. Business refusals become non-retryable ``ApplicationError``s
whose type is the refusal kind (``UnknownAccount``, ``UnknownSkill``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from routing.errors import Refusal
from routing.model import Release, RouteOutcome, RouteRequest, Supervise
from store import Store, offers

log = logging.getLogger(__name__)

WAKE_SIGNAL = "wake"  # room appeared in a queue the conversation waits in
HERO_SIGNAL = "hero_changed"  # the customer's hero was set or cleared (R7.3, R7.4)
REASSIGN_SIGNAL = "agent_deactivated"  # the agent holding it was deactivated (R7.6)


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


class RoutingActivities:
    def __init__(self, store: Store, client: Client | None) -> None:
        self.store = store
        self.client = client

    @activity.defn
    async def route(self, request: RouteRequest) -> RouteOutcome:
        try:
            outcome, wakes = await offers.route(self.store, request)
        except Refusal as refusal:
            raise refused(refusal) from None
        await wake(self.client, wakes)
        return outcome

    @activity.defn
    async def release(self, request: Release) -> None:
        await wake(self.client, await offers.release(self.store, request))

    @activity.defn
    async def supervise(self, request: Supervise) -> None:
        try:
            await offers.supervise(self.store, request)
        except Refusal as refusal:
            raise refused(refusal) from None
