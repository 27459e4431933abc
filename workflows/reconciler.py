"""The ``Reconciler`` workflow: one sweep over the store's open conversations (SPEC R8.1).

A Temporal Schedule starts it every ``SWITCHBOARD_RECONCILE_EVERY`` (``service.reconciler``),
so slots come back by Temporal's clock, not a cron of ours. Its last step wakes queued
conversations an agent has room for: a lost wake-up waits one sweep, not a conversation's own
safety net (which therefore backs off in minutes, ``routing.selection.recheck_after``). Each page is one ``reconcile``
activity; a sweep longer than ``PAGES_PER_RUN`` pages continues as new from where it stopped, so
its history stays bounded however many conversations are open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities, Sweep, Swept
    from routing.errors import Refusal
    from routing.model import parse

PAGE_TIMEOUT = timedelta(minutes=6)  # 500 describes, 8 at a time, 5 s each at worst (activities.reconcile)
PAGE_HEARTBEAT = timedelta(seconds=30)  # one heartbeat per describe
PAGE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=30), maximum_attempts=5)
PAGES_PER_RUN = 100


@workflow.defn(name="Reconciler")
class Reconciler:
    @workflow.run
    async def run(self, sweep: Any = None, so_far: Any = None) -> Swept:
        try:
            page = parse(Sweep, sweep if sweep is not None else {}, "sweep")
            total = parse(Swept, so_far if so_far is not None else {}, "so_far")
        except Refusal as refusal:
            raise ApplicationError(refusal.message, type=refusal.kind, non_retryable=True) from None
        for _ in range(PAGES_PER_RUN):
            swept = await workflow.execute_activity_method(
                ReconcileActivities.reconcile, page, start_to_close_timeout=PAGE_TIMEOUT,
                heartbeat_timeout=PAGE_HEARTBEAT, retry_policy=PAGE_RETRY)
            total += swept
            if swept.next is None:
                return await self._wake_waiting(total)
            page = page.model_copy(update={"after": swept.next})
        workflow.continue_as_new(args=[page, total])

    async def _wake_waiting(self, total: Swept) -> Swept:
        """The sweep's last step: queued conversations an agent has room for (a lost wake-up)."""
        if not workflow.patched("wake-waiting"):  # a sweep that began before this step existed
            return total
        woken = await workflow.execute_activity_method(
            ReconcileActivities.wake_waiting, start_to_close_timeout=PAGE_TIMEOUT, retry_policy=PAGE_RETRY)
        return total.model_copy(update={"woken": woken})
