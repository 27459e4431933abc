"""The Temporal Schedule that runs the ``Reconciler`` workflow (SPEC R8.1).

Every worker makes sure of it at start-up (``switchboard worker``, ``switchboard dev``): one
schedule per task queue, ``<task queue>-reconciler`` (``switchboard-reconciler`` by default),
every ``SWITCHBOARD_RECONCILE_EVERY``. Temporal keeps the clock and starts the sweep on whichever
worker of the queue is free; a sweep still running when the next is due makes that one skip.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError,
                               ScheduleHandle, ScheduleIntervalSpec, SchedulePolicy, ScheduleOverlapPolicy,
                               ScheduleSpec, ScheduleUpdate, ScheduleUpdateInput)

from workflows.reconciler import Reconciler

log = logging.getLogger(__name__)

SWEEP_LIMIT = timedelta(minutes=30)  # the longest a wedged sweep keeps the next ones skipping


def schedule_id(task_queue: str) -> str:
    return f"{task_queue}-reconciler"


def reconciler_schedule(task_queue: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(Reconciler.run, id=schedule_id(task_queue), task_queue=task_queue,
                                           execution_timeout=SWEEP_LIMIT),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))


async def schedule_reconciler(client: Client, task_queue: str, *, every: timedelta) -> ScheduleHandle | None:
    """Create the schedule, or bring an existing one to this interval and action (keeping its
    state, so a schedule an operator paused stays paused). Never raises: a worker that cannot
    schedule the sweep still routes, and says why in its log."""
    ours = reconciler_schedule(task_queue, every)
    sid = schedule_id(task_queue)

    def update(existing: ScheduleUpdateInput) -> ScheduleUpdate:
        ours.state = existing.description.schedule.state
        return ScheduleUpdate(schedule=ours)

    try:
        try:
            handle = await client.create_schedule(sid, ours)
        except ScheduleAlreadyRunningError:
            handle = client.get_schedule_handle(sid)
            await handle.update(update)
    except Exception as exc:  # noqa: BLE001 - the worker's job is the conversations; this is logged
        log.warning("reconciler schedule %r not set (%s: %s): holds of conversations that end without "
                    "closing are not given back until it is", sid, type(exc).__name__, exc)
        return None
    log.info("reconciler schedule %r: every %ss on task queue %r", sid, every.total_seconds(), task_queue)
    return handle
