"""The reconcile activity: give back what conversations hold once their workflow no longer runs
(SPEC R8.1, DESIGN "Nothing from outside is trusted").

A conversation that closes releases its own slot and queue place; one that is terminated, cancelled,
timed out or failed never reaches that code. This activity checks one page of the store's open
conversations against Temporal and closes the books of those whose workflow ended, which frees the
hold and the queue place and wakes whoever waits for the room.

Only a workflow that is known not to run is freed: holds are written only by the activities of the
conversation's own running workflow, and ``books.finish`` fences every later step of it, so a late
activity of an ended run changes nothing. A describe that fails for any other reason (the server
away, a timeout) frees nothing this round; the next round asks again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.routing import wake
from store import Store, books, capacity

log = logging.getLogger(__name__)

DESCRIBE_CONCURRENCY = 8  # describes in flight at once: a sweep never floods the frontend
DESCRIBE_TIMEOUT = timedelta(seconds=5)  # per describe; each answer is a heartbeat
LOGGED = 10  # freed conversation ids named in the log per page
# The latest run of the workflow id: a conversation that continued as new runs under the same id.
# CONTINUED_AS_NEW is only seen when racing the roll-over; it is not an end.
STILL_RUNNING = {WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW}


class Sweep(BaseModel):
    """One page of the store's open conversations: those past ``after``, at most ``limit``."""

    model_config = ConfigDict(extra="forbid")

    after: str | None = None
    limit: int = Field(default=200, ge=1, le=500)


class Swept(BaseModel):
    """What a page (or a whole sweep) found: conversations checked, freed, and left for the next
    round because Temporal could not say; ``next`` is where the following page starts; ``woken``:
    queued conversations whose wake-up had been lost."""

    checked: int = 0
    freed: int = 0
    unknown: int = 0
    woken: int = 0
    next: str | None = None

    def __add__(self, other: Swept) -> Swept:
        return Swept(checked=self.checked + other.checked, freed=self.freed + other.freed,
                     unknown=self.unknown + other.unknown, woken=self.woken + other.woken, next=other.next)


class ReconcileActivities:
    def __init__(self, store: Store, client: Client) -> None:
        self.store = store
        self.client = client

    @activity.defn
    async def reconcile(self, sweep: Sweep) -> Swept:
        page = await books.open_conversations(self.store, after=sweep.after, limit=sweep.limit)
        gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def running(workflow_id: str) -> bool | None:
            async with gate:
                answer = await self._running(workflow_id)
            activity.heartbeat()  # a worker that died mid-page is noticed in seconds, not at the timeout
            return answer

        answers = await asyncio.gather(*(running(workflow_id) for _, workflow_id in page))
        ended = [conversation_id for (conversation_id, _), answer in zip(page, answers) if answer is False]
        for conversation_id in ended:
            await wake(self.client, await books.finish(self.store, conversation_id, datetime.now(timezone.utc)))
        if ended:
            log.info("freed %d conversation(s) whose workflow no longer runs: %s%s", len(ended),
                     ", ".join(ended[:LOGGED]), ", ..." if len(ended) > LOGGED else "")
        return Swept(checked=len(page), freed=len(ended), unknown=answers.count(None),
                     next=page[-1][0] if len(page) == sweep.limit else None)

    @activity.defn
    async def wake_waiting(self) -> int:
        """Wake the queued conversations an online agent has room for now (DESIGN "Queues wake up
        by push, with a safety net"): a lost wake-up costs at most one sweep's interval."""
        async with self.store.engine.connect() as conn:
            waiting = await capacity.waiting_for_room(conn)
        if waiting:
            log.info("woke %d queued conversation(s) an agent has room for: %s%s", len(waiting),
                     ", ".join(waiting[:LOGGED]), ", ..." if len(waiting) > LOGGED else "")
        await wake(self.client, waiting)
        return len(waiting)

    async def _running(self, workflow_id: str) -> bool | None:
        """Whether the workflow's latest run is running; None when Temporal cannot say now."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=DESCRIBE_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # never started here, or past retention
                return False
            log.warning("cannot describe %s, left for the next round: %s", workflow_id, exc.message)
            return None
        return description.status in STILL_RUNNING
