"""The ``Conversation`` workflow: one customer conversation, from start to close.

Read top to bottom it is SPEC: open (R1), route by hero and policy and offer (R2, R3, R7), wait
for an answer, an expiry, a wake-up or a move, route again, close (R8). Where it goes is decided
by ``routing.plan`` inside the store's fenced step; this class keeps the state, emits the same
commands for the same history whatever the clock says, and tells the story in the timeline. The
commands (accept, transfer, rollback, ...) are in ``workflows.commands``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributePair
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from routing.directory import SkillRef
    from routing.errors import Refusal
    from routing.limits import quote
    from routing.model import Move, Offer, Release, RouteOutcome, RouteRequest, StartConversation, parse
    from routing.selection import QUEUE_RECHECK, recheck_after
    from workflows import search_attributes as sa
    from workflows.commands import Commands, failure
    from workflows.inputs import started
    from workflows.state import ConversationState
    from workflows.telemetry import Telemetry

ACTIVITY_TIMEOUT = timedelta(seconds=15)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=10))
SOONEST = timedelta(milliseconds=1)  # a deadline already past still gets its timer: same commands, any lateness
# Events before continue-as-new (DESIGN "Bounded history"). A cache miss replays the run: about
# 0.7-1 ms of worker CPU per event (measured on 2 shared cores, issue 14), so a run stays under
# 100 ms with up to about 100 events; checked between activations, a run ends a transfer's worth
# (about 12 events) past the limit. A conversation offered once (22 events) or rolled over (32)
# never continues; a transfer chain does every 4 transfers or so: 2 actions (continue-as-new, the
# next run's start) and the carried state (under 64 KB) twice in the history.
HISTORY_LIMIT = 80
HISTORY_BYTES = 1_000_000  # ... or bytes
WORKFLOW_TYPE = "Conversation"  # CONTRACT


def workflow_id(conversation_id: str) -> str:
    return f"conversation-{conversation_id}"


def _secs(left: timedelta) -> str:
    return f"{max(left.total_seconds(), 0):.0f} s"


def details(s: ConversationState) -> str:
    """The workflow page's "current details": where the conversation is and what it waits for."""
    where = f"{s.here}" + (f" (handler of {s.account}/{s.skill})" if s.handler_account else "")
    last = s.timeline[-1] if s.timeline else None
    lines = [f"**{s.status}** in {where}"]
    if s.status == "offered" and s.offer:
        lines.append(f"offered to {s.offer.agent} until {s.offer.expires_at:%H:%M:%S} UTC")
    elif s.status == "assigned":
        lines.append(f"assigned to {s.assignee}")
    elif s.status == "queued":
        lines.append("waiting for room (push wake-up; safety-net re-check "
                     f"{s.recheck_at:%H:%M:%S} UTC)" if s.recheck_at else "waiting for room")
    if s.rollover_mode:
        lines.append(f"rollover {s.rollover_mode}")
    if last is not None:
        lines.append(f"last: {last.kind}" + (f" ({last.reason})" if last.reason else ""))
    return "\n\n".join(lines)[:2000]


# Dynamic, so that the inputs reach the workflow as raw payloads (CONTRACT's start input, then the
# carried state): a typed run has the SDK decode them first, and a start it cannot decode (JSON
# nested past the converter's limit, a foreign encoding) fails the workflow task on every retry
# instead of the workflow. The type is still ``Conversation``: anything else is refused.
@workflow.defn(dynamic=True)
class Conversation(Commands):
    @workflow.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        # The state exists from the first workflow task, so a command that arrives with the start
        # already sees the conversation; a bad start is kept to fail the run (SPEC R1.3).
        self._refusal: ApplicationError | None = None
        self.s: ConversationState | None = None
        # Held while the conversation moves (a routing step, a command's move): one move at a time.
        self._lock = asyncio.Lock()
        try:
            if workflow.info().workflow_type != WORKFLOW_TYPE:
                raise Refusal("UnknownWorkflowType", f"workflow type {quote(workflow.info().workflow_type)}: "
                                                     f"this worker runs {WORKFLOW_TYPE!r}")
            start, carry = started(args)
            self.s = self._carried(carry) if carry is not None else self._open(start)
        except Refusal as refusal:
            self._refusal = failure(refusal)
        except ValueError:
            self._refusal = ApplicationError("continue-as-new: the carried state is not a conversation's",
                                             type="InvalidInput", non_retryable=True)
        self._published: dict[str, str | None] = {
            key.name: workflow.info().typed_search_attributes.get(key) for key in sa.ALL}
        self._telemetry = Telemetry(self.s)  # the domain metrics, counted from the timeline

    # ---- the story ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> dict[str, Any]:
        if self._refusal is not None:
            raise self._refusal
        s = self.s
        while s.status != "closed":
            await workflow.wait_condition(lambda: not self._lock.locked())  # a command is moving it
            if s.pending and s.status != "closed":
                async with self._lock:
                    await self._route(s.pending)
            if s.status == "closed":
                break
            self._publish()
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if s.status != "closed":
                    self._telemetry.observe(s)
                    workflow.continue_as_new(args=[args[0], s.carried()], workflow=WORKFLOW_TYPE)
            await self._wait()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._release()
        self._publish()
        return s.view()

    def _carried(self, carry: Any) -> ConversationState:
        """The state a previous run handed over; it speaks for this workflow's conversation only
        (a raw start with a state naming another id would release someone else's slot)."""
        state = ConversationState.model_validate(carry)
        if workflow_id(state.conversation_id) != workflow.info().workflow_id:
            raise Refusal("InvalidInput", "continue-as-new: the carried state is another conversation's",
                          field="conversation_id")
        return state

    def _open(self, raw: Any) -> ConversationState:
        """Validate the start input (SPEC R1.1, R1.3, R9); a bad one fails the workflow at once."""
        start = parse(StartConversation, raw, "start")
        expected = workflow_id(start.conversation_id)
        if workflow.info().workflow_id != expected:
            raise Refusal("InvalidInput", f"start: field 'conversation_id' needs workflow id {expected!r}",
                          field="conversation_id")
        now = workflow.now()
        state = ConversationState.opened(start, workflow.info().workflow_start_time, now)
        state.record(now, "started", actor=start.channel, reason=f"customer on {start.channel}")
        state.pending = "start"
        return state

    async def _route(self, why: str, move: Move | None = None, to: SkillRef | None = None,
                     *, from_start: bool = False) -> None:
        """One routing step in the store, under ``self._lock``. The offer is withdrawn while it
        runs, so an accept racing it is refused (R2.5). With ``move``, a command sends it to ``to``
        (or, ``from_start``, decides again from the hero on); a refusal has changed nothing and
        fails the command."""
        s, now = self.s, workflow.now()
        s.step += 1  # never reused, refused or not (the store fences by it)
        opening = why == "start" and s.step == 1
        before = (s.status, s.offer, s.pending)
        s.status, s.offer, s.pending = "routing", None, None
        s.changes += 1
        request = RouteRequest(
            conversation_id=s.conversation_id, workflow_id=workflow.info().workflow_id,
            first_run_id=workflow.info().first_execution_run_id, step=s.step, opening=opening, now=now,
            account=s.account, skill=s.skill, customer=s.customer, channel=s.channel, priority=s.priority,
            arrived_at=s.arrived_at, target=None if from_start else to or s.target,
            excluded=[] if move else s.excluded, policy_applies=s.policy_applies,
            backup_deadline=s.backup_deadline, backup_handler=s.backup_handler,
            fallback_deadline=s.fallback_deadline, fallback_to=s.fallback_to, move=move)
        routed = await workflow.execute_local_activity_method(
            RoutingActivities.route, request, start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY, summary=f"route step {s.step}: {why}"[:200])
        if routed.refused is not None:  # an answer, not a failure: nothing changed in the store
            refused = routed.refused
            if opening or move is not None:  # the start fails (R1.3, R8.4), a command is refused
                if s.status == "routing":
                    s.status, s.offer, s.pending = before
                raise ApplicationError(refused.message, {"field": refused.field}, type=refused.kind,
                                       non_retryable=True)
            if s.status != "closed":  # the directory changed under it: wait in the queue and look again
                s.record(now, "routing_failed", reason=f"{why}: {refused.message}"[:500])
                s.status = "queued"
                s.recheck_at = workflow.now() + QUEUE_RECHECK
            return
        outcome = routed.outcome
        if outcome.stale or s.status == "closed":
            return  # closed while the store worked: the close wins, and the release frees what it took
        if move is not None:
            s.assignee, s.last_activity = None, now
        self._take(outcome)

    def _take(self, outcome: RouteOutcome) -> None:
        s, now = self.s, workflow.now()
        s.extend(outcome.events)
        if outcome.target != s.here:
            s.waiting = False  # queued somewhere else now: that is news
        s.target = outcome.target if outcome.decided else None  # a hero offer decides nothing yet (R7.1)
        if outcome.target.account == s.account:
            s.owner_skill = outcome.target.skill
        s.excluded = list(outcome.excluded)
        s.policy_applies, s.hero = outcome.policy_applies, outcome.hero or s.hero
        s.brand_name = outcome.brand.name
        s.rollover_mode = outcome.rollover_mode or s.rollover_mode
        s.handler_account = outcome.target.account if outcome.handled_by_handler else None
        s.handler_skill = outcome.target.skill if outcome.handled_by_handler else None
        s.backup_deadline, s.backup_handler = outcome.backup_deadline, outcome.backup_handler
        s.fallback_deadline, s.fallback_to = outcome.fallback_deadline, outcome.fallback_to
        s.idle_timeout, s.changes = outcome.idle_timeout, s.changes + 1
        if outcome.assigned_to:  # R7.2: email and voicemail go to the hero whatever their availability
            s.status, s.assignee, s.last_activity, s.waiting = "assigned", outcome.assigned_to, now, False
            s.record(now, "assigned", agent=outcome.assigned_to, reason="to the hero without an offer")
        elif outcome.offer_to:  # the acceptance clock starts when the offer is made, not when the step began
            s.status, s.rechecks, s.waiting = "offered", 0, False
            s.offer = Offer(agent=outcome.offer_to, expires_at=now + timedelta(seconds=outcome.accept_timeout),
                            step=s.step, account=outcome.target.account, skill=outcome.target.skill)
            s.record(now, "offered", agent=outcome.offer_to, reason=f"expires in {outcome.accept_timeout:g}s")
        else:
            if not s.waiting:  # a re-check or wake-up that finds nobody again records nothing
                s.record(now, "queued", reason="no eligible agent has room")
                s.rechecks = 0
            s.status, s.waiting = "queued", True
            s.recheck_at = now + recheck_after(s.rechecks, passed=bool(s.excluded))

    async def _wait(self) -> None:
        """Sleep until something changes (a command, a move, a wake-up, a close) or the next
        deadline. A timer is started whenever there is a deadline, even one already past."""
        s, changes = self.s, self.s.changes
        deadline = self._deadline()
        timeout = None if deadline is None else max(deadline[0] - workflow.now(), SOONEST)
        try:
            await workflow.wait_condition(
                lambda: s.changes != changes or s.pending is not None or self._history_is_long(),
                timeout=timeout, timeout_summary=deadline[1] if deadline else None)
        except asyncio.TimeoutError:
            self._on_deadline()

    def _time_up(self) -> tuple[datetime, str] | None:
        """When this side's time runs out, offered or queued: the owner's backup window (R3.3), or
        a transfer destination's acceptance window (R6.4); and why."""
        s = self.s
        ends = [(at, why) for at, why in ((s.backup_deadline, "R3.3 backup: the backup window closed"),
                                          (s.fallback_deadline, "R6.4 the transfer's acceptance window closed"))
                if at is not None]
        return min(ends) if ends else None

    def _deadline(self) -> tuple[datetime, str] | None:
        """The next instant something is due, from the state alone, and what (the timer's summary
        in the Temporal UI: "offer to ann, expires in 30 s", "R3.3 backup window 60 s")."""
        s, now = self.s, workflow.now()
        due: list[tuple[datetime, str]] = []
        if s.status in ("offered", "queued"):
            if s.backup_deadline:
                due.append((s.backup_deadline, f"R3.3 backup window {_secs(s.backup_deadline - now)}, then "
                                               f"{s.backup_handler.account if s.backup_handler else 'the handler'}"))
            if s.fallback_deadline:
                due.append((s.fallback_deadline, f"R6.4 transfer window {_secs(s.fallback_deadline - now)}, then "
                                                 f"{s.fallback_to or 'back'}"))
        if s.status == "offered" and s.offer:
            due.append((s.offer.expires_at, f"offer to {s.offer.agent}, expires in {_secs(s.offer.expires_at - now)}"))
        if s.status == "queued" and s.recheck_at:
            due.append((s.recheck_at, f"queued in {s.here}: safety-net re-check in {_secs(s.recheck_at - now)}"))
        if s.status == "assigned" and s.idle_timeout and s.last_activity:
            at = s.last_activity + timedelta(seconds=s.idle_timeout)
            due.append((at, f"{s.assignee} has it: idle timeout in {_secs(at - now)}"))
        return min(due) if due else None

    def _on_deadline(self) -> None:
        """What is due now, judged again on the state (an accept may have landed in the same task)."""
        s, now, time_up = self.s, workflow.now(), self._time_up()
        if self._lock.locked() or s.pending:
            return  # a move is on its way; the loop looks again when it is done
        if s.status in ("offered", "queued") and time_up and now >= time_up[0]:
            if s.offer:
                s.record(now, "offer_withdrawn", agent=s.offer.agent, reason=time_up[1])
            self._reroute(time_up[1])
        elif s.status == "offered" and s.offer and now >= s.offer.expires_at:
            s.record(now, "offer_expired", agent=s.offer.agent, reason="no answer within the acceptance timeout")
            s.excluded = [*s.excluded, s.offer.agent]
            self._reroute("offer expired")
        elif s.status == "queued" and s.recheck_at and now >= s.recheck_at:
            s.excluded, s.rechecks = [], s.rechecks + 1  # a new attempt: who passed earlier may be asked again
            self._reroute("queue re-check")
        elif s.status == "assigned" and s.idle_timeout and s.last_activity and \
                now >= s.last_activity + timedelta(seconds=s.idle_timeout):
            self._close("system", "idle timeout")

    def _reroute(self, why: str) -> None:
        s = self.s
        s.offer, s.status, s.pending, s.changes = None, "routing", why, s.changes + 1

    async def _release(self) -> None:
        """Close the books and free what it held: a local activity in the closing workflow task,
        so the close costs one task, not three and an activity's events. If a signal reaches the
        server while that task completes the workflow, the server refuses the task and aborts the
        close's update, which applied nothing; ``service.conversations.update`` sends it again."""
        await workflow.execute_local_activity_method(
            RoutingActivities.release, Release(conversation_id=self.s.conversation_id, now=workflow.now()),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY,
            summary=f"release: free {self.s.assignee or 'the queue place'}"[:200])

    def _close(self, by: str, reason: str | None) -> None:
        s = self.s
        s.record(workflow.now(), "closed", actor=by, agent=s.assignee, reason=reason)
        s.status, s.offer, s.pending, s.changes = "closed", None, None, s.changes + 1

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
                or info.get_current_history_size() > HISTORY_BYTES)

    def _publish(self) -> None:
        """After every change: upsert the search attributes that changed, in one command (CONTRACT
        "Search attributes"), and say where the conversation is on the Temporal UI's workflow page."""
        s = self.s
        self._telemetry.observe(s)
        wanted = {
            sa.OWNER_ACCOUNT: s.account, sa.OWNER_SKILL: s.skill, sa.CHANNEL: s.channel, sa.CUSTOMER_ID: s.customer,
            sa.HANDLER_ACCOUNT: s.handler_account, sa.HANDLER_SKILL: s.handler_skill,
            sa.ASSIGNED_AGENT: s.assignee, sa.CONVERSATION_STATUS: s.status, sa.ROLLOVER_MODE: s.rollover_mode,
        }
        changes: list[SearchAttributePair] = []
        for key, value in wanted.items():
            if self._published.get(key.name) != value:
                changes.append(key.value_set(value) if value is not None else key.value_unset())
                self._published[key.name] = value
        if changes:
            workflow.upsert_search_attributes(changes)
        workflow.set_current_details(details(s))

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        """The full view (CONTRACT): with the timeline and the notes."""
        if self.s is None:
            return {"status": "routing"}
        return self.s.view()

    @workflow.query(name="summary")
    def summary(self) -> dict[str, Any]:
        """The view without the timeline and the notes (what an update answers): for tools that
        poll many conversations."""
        if self.s is None:
            return {"status": "routing"}
        return self.s.compact()
