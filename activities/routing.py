"""Routing activities: thin wrappers that run one store command each.

Each is idempotent under retry and fenced: ``route`` is keyed by conversation id + routing step
(a retry gets the step's recorded result, an older step or one after close changes nothing),
``release`` closes the books and frees whatever is held, once. Business refusals (an unknown
skill, a transfer outside working hours, a stranger) are ordinary results (``Refused``): they are
answers, not failures, so the Temporal UI shows no failed activity and the worker logs no
traceback for them. The workflow runs these as local activities (docs/performance.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
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


class Refused(BaseModel):
    """A business refusal as a result: its kind (``UnknownSkill``, ``OutsideHours``, ...), message
    and the input field at fault."""

    kind: str
    message: str
    field: str | None = None

    @classmethod
    def of(cls, refusal: Refusal) -> Refused:
        return cls(kind=refusal.kind, message=refusal.message, field=refusal.field)


class Routed(BaseModel):
    """What ``route`` answers for its ``step``: the store's outcome, or why it refused and changed nothing."""

    step: int
    outcome: RouteOutcome | None = None
    refused: Refused | None = None


class Party(BaseModel):
    """What ``party`` answers: who the principal is, or why the directory does not know them."""

    principal: Principal | None = None
    refused: Refused | None = None


def _log_decision(request: RouteRequest, outcome: RouteOutcome | None, *, refused: str | None = None) -> None:
    """Ids, places and the rules' reasons only: no message text, no names. A refused step logs
    the refusal's kind (``OutsideHours``, ...) as its reason."""
    if not decisions.isEnabledFor(logging.INFO):
        return
    if outcome is None:
        done, where, agent, reason = "refused", None, None, refused
    else:
        done = ("stale" if outcome.stale else "assigned" if outcome.assigned_to else "offered" if outcome.offer_to
                else "queued")
        where, agent = outcome.target, outcome.assigned_to or outcome.offer_to
        reason = "; ".join(e.reason for e in outcome.events if e.reason)[:500] or None
    decisions.info("routing decision", extra={"fields": {
        "conversation_id": request.conversation_id, "step": request.step,
        "move": request.move.kind if request.move else None, "outcome": done,
        "account": where.account if where else request.account, "skill": where.skill if where else request.skill,
        "agent": agent, "reason": reason}})


class RoutingActivities:
    def __init__(self, store: Store, client: Client | None) -> None:
        self.store = store
        self.client = client

    @activity.defn
    async def route(self, request: RouteRequest) -> Routed:
        try:
            outcome, wakes = await steps.route(self.store, request)
        except Refusal as refusal:
            _log_decision(request, None, refused=refusal.kind)
            return Routed(step=request.step, refused=Refused.of(refusal))
        _log_decision(request, outcome)
        await wake(self.client, wakes)
        return Routed(step=request.step, outcome=outcome)

    @activity.defn
    async def release(self, request: Release) -> None:
        await wake(self.client, await books.finish(self.store, request.conversation_id, request.now))

    @activity.defn
    async def party(self, principal: str) -> Party:
        """Who a principal is now, for the workflow to judge a command by (SPEC R5.6)."""
        try:
            return Party(principal=Principal.of(await rights.party(self.store, principal)))
        except Refusal as refusal:
            return Party(refused=Refused.of(refusal))

    @activity.defn
    async def hero_of(self, account: str, customer: str) -> str | None:
        """The customer's hero now (the agent, else the inbox): what a ``hero_changed`` hint is checked by."""
        async with self.store.engine.connect() as conn:
            hero = await heroes.hero_of(conn, account, customer)
        return (hero.agent or hero.inbox) if hero else None

    @activity.defn
    async def private_message(self, message: Delivery) -> None:
        await outbox.private_message(self.store, message)
