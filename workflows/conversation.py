"""The ``Conversation`` workflow: one customer conversation, from start to close.

Read top to bottom it is SPEC: open (R1), route by policy and offer (R2, R3), wait for an answer,
an expiry or a wake-up, re-route, close (R8). Decisions come from the pure ``routing`` package,
I/O from the activities; this class keeps the state and tells the story in the timeline.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.routing import HERO_SIGNAL, REASSIGN_SIGNAL, WAKE_SIGNAL, RoutingActivities
    from routing.directory import SkillRef
    from routing.errors import Refusal
    from routing.model import (Accept, Close, Decline, HeroChanged, Join, Move, Note, Origin, PrivateMessage,
                               ReassignToHero, Release, Rollback, RouteOutcome, RouteRequest, StartConversation,
                               Supervise, Transfer, parse)
    from workflows import search_attributes as sa
    from workflows.state import ConversationState

C = TypeVar("C", bound=BaseModel)

ACTIVITY_TIMEOUT = timedelta(seconds=15)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=10))
QUEUE_RECHECK = timedelta(seconds=30)  # safety net behind push wake-ups (DESIGN "Queues wake up")
HISTORY_LIMIT = 2_000  # events before continue-as-new (DESIGN "Bounded history")


def workflow_id(conversation_id: str) -> str:
    return f"conversation-{conversation_id}"


@workflow.defn(name="Conversation")
class Conversation:
    @workflow.init
    def __init__(self, start: Any, carry: ConversationState | None = None) -> None:
        # The state exists from the first workflow task, so an update that arrives with the start
        # already sees the conversation; a bad start is kept to fail the run (SPEC R1.3).
        self._refusal: ApplicationError | None = None
        self.s: ConversationState | None = carry
        self._reroute: str | None = None  # why the main loop must route again
        # Held while the conversation moves (a routing step, a rollback): one move at a time.
        self._lock = asyncio.Lock()
        if carry is None:
            try:
                self.s = self._open(start)
                self._reroute = "start"
            except ApplicationError as refusal:
                self._refusal = refusal
        self._published: dict[str, str | None] = {
            key.name: value for key, value in ((k, workflow.info().typed_search_attributes.get(k)) for k in sa.ALL)}

    # ---- the story ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: Any, carry: ConversationState | None = None) -> dict[str, Any]:
        if self._refusal is not None:
            raise self._refusal
        while self.s.status != "closed":
            await workflow.wait_condition(lambda: not self._lock.locked())  # a command is moving it
            if self._reroute:
                async with self._lock:
                    await self._route(self._reroute)
            if self.s.status == "closed":  # closed while it moved
                break
            self._publish()
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(args=[start, self.s])
            await self._wait()
        await self._release()
        self._publish()
        return self.s.view()

    def _open(self, raw: Any) -> ConversationState:
        """Validate the start input (SPEC R1.1, R1.3); a bad one fails the workflow at once."""
        try:
            start = parse(StartConversation, raw, "start")
        except Refusal as refusal:
            raise ApplicationError(refusal.message, {"field": refusal.field}, type=refusal.kind,
                                   non_retryable=True) from None
        expected = workflow_id(start.conversation_id)
        if workflow.info().workflow_id != expected:
            raise ApplicationError(
                f"start: field 'conversation_id' = {start.conversation_id!r} needs workflow id {expected!r}, "
                f"not {workflow.info().workflow_id!r}", type="InvalidInput", non_retryable=True)
        state = ConversationState.opened(start, workflow.now())
        state.record(workflow.now(), "started", actor=start.channel,
                     reason=f"customer {start.customer} on {start.channel}")
        return state

    async def _route(self, why: str, move: Move | None = None, to: SkillRef | None = None,
                     *, from_start: bool = False) -> None:
        """One routing step in the store, under ``self._lock``: hero and policy (first time), then
        offer or queue. With ``move``, a command sends it to ``to`` (or, ``from_start``, decides
        again from the hero on); the store may refuse, and then nothing has changed and the
        refusal fails the command."""
        s, now = self.s, workflow.now()
        # "routing" while the store works, so a wake-up arriving meanwhile cannot route twice.
        was_status, s.status = s.status, "routing"
        request = RouteRequest(
            conversation_id=s.conversation_id, workflow_id=workflow.info().workflow_id, step=s.step + 1, now=now,
            account=s.account, skill=s.skill, customer=s.customer, channel=s.channel, priority=s.priority,
            waiting_since=s.waiting_since, target=None if from_start else to or s.target,
            excluded=[] if move else s.excluded,
            policy_applies=s.policy_applies, backup_deadline=s.backup_deadline, backup_handler=s.backup_handler,
            fallback_deadline=s.fallback_deadline, fallback_to=s.fallback_to,
            notes=[n for n in s.notes if n.kind == "note"], move=move)
        try:
            outcome = await workflow.execute_activity_method(
                RoutingActivities.route, request, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)
        except ActivityError as error:
            cause = error.cause
            if move is not None and isinstance(cause, ApplicationError):  # refused: the command fails
                if s.status == "routing":
                    s.status = was_status
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
            s.step, self._reroute = request.step, None
            if request.step == 1 and isinstance(cause, ApplicationError):  # refused at start (R1.3)
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
            if s.status != "closed":
                s.record(now, "routing_failed", reason=f"{why}: {cause}; retrying in {QUEUE_RECHECK}")
                s.status = "queued"
            return
        s.step, self._reroute = request.step, None  # a move supersedes a pending re-route
        if s.status == "closed":
            # Closed while the store worked: the close wins; any hold it reserved goes with the release.
            closed_at = max(i for i, e in enumerate(s.timeline) if e.kind == "closed")
            s.timeline[closed_at:closed_at] = outcome.events  # decided before the close landed
            return
        if move is not None:
            s.assignee, s.last_activity = None, now
        self._take(outcome, was_queued=was_status == "queued")

    def _take(self, outcome: RouteOutcome, *, was_queued: bool) -> None:
        s, now = self.s, workflow.now()
        s.timeline.extend(outcome.events)
        if s.target is not None and outcome.target != s.target:
            s.excluded = []
        # A hero offer (R7.1) is not a decision yet: when it ends, routing starts again from the hero.
        s.target = outcome.target if outcome.decided else None
        s.policy_applies, s.hero = outcome.policy_applies, outcome.hero or s.hero
        s.brand_name = outcome.brand.name
        s.rollover_mode = outcome.rollover_mode or s.rollover_mode
        s.handler_account = outcome.target.account if outcome.handled_by_handler else None
        s.handler_skill = outcome.target.skill if outcome.handled_by_handler else None
        s.backup_deadline, s.backup_handler = outcome.backup_deadline, outcome.backup_handler
        s.fallback_deadline, s.fallback_to = outcome.fallback_deadline, outcome.fallback_to
        s.idle_timeout = outcome.idle_timeout
        s.offer = outcome.offer
        if outcome.assigned:  # R7.2: email and voicemail go to the hero whatever their availability
            s.status, s.assignee, s.last_activity = "assigned", outcome.hero, now
            s.record(now, "assigned", agent=outcome.hero, reason="to the hero without an offer")
        elif outcome.offer:
            s.status = "offered"
            s.record(now, "offered", agent=outcome.offer.agent,
                     reason=f"expires in {outcome.accept_timeout:g}s")
        else:
            if not was_queued:
                s.record(now, "queued", reason="no eligible agent has room")
            s.status = "queued"

    async def _wait(self) -> None:
        """Sleep until a command needs routing, the conversation closes, or the next deadline."""
        deadline, status = self._deadline(), self.s.status
        timeout = max(deadline - workflow.now(), timedelta(0)) if deadline else None
        try:
            # Any status change (accept, close, a decline asking to re-route) moves the deadline.
            await workflow.wait_condition(
                lambda: self._reroute is not None or (self.s.status != status and not self._lock.locked()),
                timeout=timeout)
        except asyncio.TimeoutError:
            self._on_deadline()

    def _time_up(self) -> tuple[datetime, str] | None:
        """When this side's time runs out, offer or not: the owner's backup window (R3.3), or a
        transfer destination's acceptance window (R6.4); and why."""
        s = self.s
        ends = [(at, why) for at, why in ((s.backup_deadline, "R3.3 backup: the backup window closed"),
                                          (s.fallback_deadline, "R6.4 the transfer's acceptance window closed"))
                if at is not None]
        return min(ends) if ends else None

    def _deadline(self):
        s, time_up = self.s, self._time_up()
        if s.status == "offered" and s.offer:
            return min(s.offer.expires_at, time_up[0]) if time_up else s.offer.expires_at
        if s.status == "queued":
            recheck = workflow.now() + QUEUE_RECHECK
            return min(recheck, time_up[0]) if time_up else recheck
        if s.status == "assigned" and s.idle_timeout and s.last_activity:
            return s.last_activity + timedelta(seconds=s.idle_timeout)
        return None

    def _on_deadline(self) -> None:
        s, now = self.s, workflow.now()
        if self._lock.locked():
            return  # a command is moving it; the loop looks again when it is done
        time_up = self._time_up()
        if s.status == "offered" and s.offer and time_up and time_up[0] < s.offer.expires_at and now >= time_up[0]:
            s.record(now, "offer_withdrawn", agent=s.offer.agent, reason=time_up[1])
            s.offer, s.status = None, "routing"
            self._reroute = time_up[1]
        elif s.status == "offered" and s.offer and now >= s.offer.expires_at:
            s.record(now, "offer_expired", agent=s.offer.agent, reason="no answer within the acceptance timeout")
            s.excluded.append(s.offer.agent)
            s.offer, s.status = None, "routing"
            self._reroute = "offer expired"
        elif s.status == "queued":
            s.excluded = []  # a new routing attempt: agents who passed earlier may be asked again
            self._reroute = "queue re-check"
        elif s.status == "assigned":
            self._close(now, "system", "idle timeout")

    async def _release(self) -> None:
        await workflow.execute_activity_method(
            RoutingActivities.release, Release(conversation_id=self.s.conversation_id, now=workflow.now()),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY)

    def _close(self, now, by: str, reason: str | None) -> None:
        s = self.s
        s.record(now, "closed", actor=by, agent=s.assignee, reason=reason)
        s.status, s.offer = "closed", None

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT

    def _publish(self) -> None:
        """Upsert the search attributes that changed, in one command (CONTRACT "Search attributes")."""
        s = self.s
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

    # ---- commands: updates with validators, mirrored as signals ---------------------------------

    def _check_accept(self, cmd: Accept) -> None:
        self._check_offer(cmd.agent, "accept")

    def _do_accept(self, cmd: Accept) -> None:
        s, now = self.s, workflow.now()
        if s.target is None:  # a hero offer accepted (R7.1): where it is is decided now
            s.target = SkillRef(account=s.offer.account, skill=s.offer.skill)
        s.assignee, s.offer, s.status, s.last_activity = cmd.agent, None, "assigned", now
        s.backup_deadline = s.fallback_deadline = None  # someone on this side took it: no more escapes
        s.record(now, "accepted", actor=cmd.agent, agent=cmd.agent)

    def _check_decline(self, cmd: Decline) -> None:
        self._check_offer(cmd.agent, "decline")

    def _do_decline(self, cmd: Decline) -> None:
        s, now = self.s, workflow.now()
        s.record(now, "declined", actor=cmd.agent, agent=cmd.agent, reason=cmd.reason)
        s.excluded.append(cmd.agent)
        s.offer, s.status = None, "routing"
        self._reroute = "declined"

    def _check_offer(self, agent: str, verb: str) -> None:
        """SPEC R2.5: only the agent holding a live offer may accept or decline it."""
        s = self.s
        if s.status == "closed":
            raise Refusal("ConversationClosed", f"{verb}: conversation {s.conversation_id} is closed")
        if s.offer is None:
            raise Refusal("NoOffer", f"{verb}: conversation {s.conversation_id} has no open offer (status {s.status})")
        if s.offer.agent != agent:
            raise Refusal("NotYourOffer", f"{verb}: the offer of {s.conversation_id} is not for agent {agent!r}")
        if workflow.now() >= s.offer.expires_at:
            raise Refusal("OfferExpired", f"{verb}: the offer to {agent!r} expired at {s.offer.expires_at.isoformat()}")

    def _check_close(self, cmd: Close) -> None:
        self._check_open("close")

    def _do_close(self, cmd: Close) -> None:
        self._close(workflow.now(), cmd.by, cmd.reason or "closed")

    def _check_open(self, verb: str) -> None:
        if self.s is None:
            raise Refusal("NotStarted", f"{verb}: the conversation is still starting")
        if self.s.status == "closed":
            raise Refusal("ConversationClosed", f"{verb}: conversation {self.s.conversation_id} is closed")

    def _check_rollback(self, cmd: Rollback) -> None:
        """R4.3: only a conversation a handler has can be rolled back."""
        if self.s.handler_account is None:
            raise Refusal("NotWithHandler", f"rollback: conversation {self.s.conversation_id} is not with a handler; "
                                            f"its owner {self.s.account} has it")

    async def _do_rollback(self, cmd: Rollback) -> None:
        s = self.s
        move = Move(kind="rollback", by=cmd.by, assignee=s.assignee, handler_account=s.handler_account, note=cmd.note)
        await self._move_with_note("rollback", move, SkillRef(account=s.account, skill=cmd.skill or s.skill))

    async def _move_with_note(self, why: str, move: Move, to: SkillRef) -> None:
        """A command's move; its agent note goes with the offer (R6.2) and stays only if the store
        accepts the move."""
        s = self.s
        if move.note:
            s.notes.append(Note(at=workflow.now(), by=move.by, text=move.note))
        try:
            await self._route(why, move, to)
        except ApplicationError:
            if move.note:
                s.notes.pop()
            raise

    def _destination(self, cmd: Transfer) -> SkillRef:
        """Where a transfer goes: the account defaults to where the conversation is now, and so does
        the skill when a named agent of that account is the target."""
        here = self.s.target or SkillRef(account=self.s.account, skill=self.s.skill)
        account = cmd.account or here.account
        skill = cmd.skill or (here.skill if cmd.agent and account == here.account else None)
        if skill is None:
            raise Refusal("InvalidInput", "transfer: give a 'skill' (or an 'agent' of this account)", field="skill")
        return SkillRef(account=account, skill=skill)

    def _check_transfer(self, cmd: Transfer) -> None:
        """R6: a target; not the agent who has it already; not to where it is now."""
        s, to = self.s, self._destination(cmd)
        if cmd.agent is not None and cmd.agent == s.assignee:
            raise Refusal("AlreadyThere", f"transfer: {cmd.agent!r} already has {s.conversation_id}", field="agent")
        if cmd.agent is None and to == s.target and s.status in ("queued", "offered"):
            raise Refusal("AlreadyThere", f"transfer: {s.conversation_id} is already waiting in {to}", field="skill")

    async def _do_transfer(self, cmd: Transfer) -> None:
        s = self.s
        source = s.target or SkillRef(account=s.account, skill=s.skill)
        sender = s.assignee
        move = Move(kind="transfer", by=cmd.by, assignee=s.assignee, handler_account=s.handler_account,
                    note=cmd.note, source=source, agent=cmd.agent, warm_message=cmd.warm_message, origin=s.origin)
        await self._move_with_note("transfer", move, self._destination(cmd))
        if s.target and s.target.account != source.account:
            s.origin = Origin(skill=source, agent=sender)  # the way back (R6.5)

    def _check_reassign_to_hero(self, cmd: ReassignToHero) -> None:
        s = self.s
        if s.assignee is not None and s.assignee == s.hero:
            raise Refusal("AlreadyThere", f"reassign_to_hero: {s.conversation_id} is already with the hero {s.hero!r}")

    async def _do_reassign_to_hero(self, cmd: ReassignToHero) -> None:
        move = Move(kind="hero", by=cmd.by, assignee=self.s.assignee, note=f"R7.3 {cmd.by} asked for the hero")
        await self._route("reassign to hero", move, from_start=True)

    def _check_private_message(self, cmd: PrivateMessage) -> None:
        """R5.2, R5.4: a private message goes to the agent handling the conversation."""
        s = self.s
        if s.assignee is None:
            raise Refusal("NotAssigned", f"private_message: no agent is handling {s.conversation_id} yet")
        if cmd.to != s.assignee:
            raise Refusal("NotHandlingAgent",
                          f"private_message: {cmd.to!r} is not handling {s.conversation_id}; {s.assignee!r} is")

    async def _do_private_message(self, cmd: PrivateMessage) -> None:
        s, now = self.s, workflow.now()
        await self._supervise("private_message", cmd.sender, to=cmd.to, text=cmd.text)
        s.notes.append(Note(at=now, by=cmd.sender, text=cmd.text, kind="private_message", to=cmd.to))
        s.record(now, "private_message", actor=cmd.sender, agent=cmd.to, reason=f"from manager {cmd.sender}")

    async def _do_join(self, cmd: Join) -> None:
        s, now = self.s, workflow.now()
        await self._supervise("join", cmd.manager)
        if cmd.manager not in s.participants:
            s.participants.append(cmd.manager)
        s.record(now, "joined", actor=cmd.manager, reason=f"manager {cmd.manager} joined")

    async def _supervise(self, kind: str, by: str, *, to: str | None = None, text: str | None = None) -> None:
        """The store checks that ``by`` manages the owner or the handler, and delivers the message."""
        s = self.s
        update = workflow.current_update_info()
        request = Supervise(
            kind=kind, conversation_id=s.conversation_id, by=by, owner_account=s.account,
            handler_account=s.handler_account, assignee=s.assignee, offered_to=s.offer.agent if s.offer else None,
            to=to, text=text, now=workflow.now(),
            key=f"{workflow.info().workflow_id}/{update.id if update else workflow.uuid4()}")
        try:
            await workflow.execute_activity_method(
                RoutingActivities.supervise, request, start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY)
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError):
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
            raise ApplicationError(f"{kind}: {cause}", type="Unavailable", non_retryable=True) from None

    def _validate(self, model: type[C], raw: Any, verb: str, check: Callable[[C], None]) -> C:
        """Parse and check a command; a refusal is an ``ApplicationError`` naming the problem."""
        try:
            cmd = parse(model, raw, verb)
            self._check_open(verb)
            check(cmd)
        except Refusal as refusal:
            raise ApplicationError(refusal.message, {"field": refusal.field}, type=refusal.kind,
                                   non_retryable=True) from None
        return cmd

    def _update(self, model: type[C], raw: Any, verb: str, check: Callable[[C], None],
                apply: Callable[[C], None]) -> dict[str, Any]:
        """Run a command as an update: checked again, since state may have moved since the validator."""
        apply(self._validate(model, raw, verb, check))
        return self.s.view()

    def _signal(self, model: type[C], raw: Any, verb: str, check: Callable[[C], None],
                apply: Callable[[C], None]) -> None:
        """Run a command sent as a signal: an invalid one is recorded as rejected and changes nothing."""
        try:
            cmd = self._validate(model, raw, verb, check)
        except ApplicationError as refusal:
            self._rejected(refusal)
            return
        apply(cmd)

    def _rejected(self, refusal: ApplicationError) -> None:
        if self.s is not None:
            self.s.record(workflow.now(), "rejected", reason=refusal.message)

    async def _command(self, model: type[C], raw: Any, verb: str, check: Callable[[C], None],
                       act: Callable[[C], Awaitable[None]]) -> dict[str, Any]:
        """Run a command that asks the store first (who may, where to), one at a time under the lock.

        ``act`` raises ``ApplicationError`` when the store refuses, having changed nothing.
        """
        self._validate(model, raw, verb, check)
        async with self._lock:
            await act(self._validate(model, raw, verb, check))  # again: the state may have moved meanwhile
        return self.s.view()

    async def _command_signal(self, model: type[C], raw: Any, verb: str, check: Callable[[C], None],
                              act: Callable[[C], Awaitable[None]]) -> None:
        try:
            await self._command(model, raw, verb, check, act)
        except ApplicationError as refusal:
            self._rejected(refusal)

    @workflow.update(name="accept")
    async def accept(self, raw: Any) -> dict[str, Any]:
        return self._update(Accept, raw, "accept", self._check_accept, self._do_accept)

    @accept.validator
    def _accept_ok(self, raw: Any) -> None:
        self._validate(Accept, raw, "accept", self._check_accept)

    @workflow.signal(name="accept")
    def accept_signal(self, raw: Any) -> None:
        self._signal(Accept, raw, "accept", self._check_accept, self._do_accept)

    @workflow.update(name="decline")
    async def decline(self, raw: Any) -> dict[str, Any]:
        return self._update(Decline, raw, "decline", self._check_decline, self._do_decline)

    @decline.validator
    def _decline_ok(self, raw: Any) -> None:
        self._validate(Decline, raw, "decline", self._check_decline)

    @workflow.signal(name="decline")
    def decline_signal(self, raw: Any) -> None:
        self._signal(Decline, raw, "decline", self._check_decline, self._do_decline)

    @workflow.update(name="close")
    async def close(self, raw: Any) -> dict[str, Any]:
        return self._update(Close, raw, "close", self._check_close, self._do_close)

    @close.validator
    def _close_ok(self, raw: Any) -> None:
        self._validate(Close, raw, "close", self._check_close)

    @workflow.signal(name="close")
    def close_signal(self, raw: Any) -> None:
        self._signal(Close, raw, "close", self._check_close, self._do_close)

    @workflow.update(name="rollback")
    async def rollback(self, raw: Any) -> dict[str, Any]:
        return await self._command(Rollback, raw, "rollback", self._check_rollback, self._do_rollback)

    @rollback.validator
    def _rollback_ok(self, raw: Any) -> None:
        self._validate(Rollback, raw, "rollback", self._check_rollback)

    @workflow.signal(name="rollback")
    async def rollback_signal(self, raw: Any) -> None:
        await self._command_signal(Rollback, raw, "rollback", self._check_rollback, self._do_rollback)

    @workflow.update(name="join")
    async def join(self, raw: Any) -> dict[str, Any]:
        return await self._command(Join, raw, "join", _no_check, self._do_join)

    @join.validator
    def _join_ok(self, raw: Any) -> None:
        self._validate(Join, raw, "join", _no_check)

    @workflow.signal(name="join")
    async def join_signal(self, raw: Any) -> None:
        await self._command_signal(Join, raw, "join", _no_check, self._do_join)

    @workflow.update(name="private_message")
    async def private_message(self, raw: Any) -> dict[str, Any]:
        return await self._command(PrivateMessage, raw, "private_message", self._check_private_message,
                                   self._do_private_message)

    @private_message.validator
    def _private_message_ok(self, raw: Any) -> None:
        self._validate(PrivateMessage, raw, "private_message", self._check_private_message)

    @workflow.signal(name="private_message")
    async def private_message_signal(self, raw: Any) -> None:
        await self._command_signal(PrivateMessage, raw, "private_message", self._check_private_message,
                                   self._do_private_message)

    @workflow.update(name="transfer")
    async def transfer(self, raw: Any) -> dict[str, Any]:
        return await self._command(Transfer, raw, "transfer", self._check_transfer, self._do_transfer)

    @transfer.validator
    def _transfer_ok(self, raw: Any) -> None:
        self._validate(Transfer, raw, "transfer", self._check_transfer)

    @workflow.signal(name="transfer")
    async def transfer_signal(self, raw: Any) -> None:
        await self._command_signal(Transfer, raw, "transfer", self._check_transfer, self._do_transfer)

    @workflow.update(name="reassign_to_hero")
    async def reassign_to_hero(self, raw: Any) -> dict[str, Any]:
        return await self._command(ReassignToHero, raw, "reassign_to_hero", self._check_reassign_to_hero,
                                   self._do_reassign_to_hero)

    @reassign_to_hero.validator
    def _reassign_to_hero_ok(self, raw: Any) -> None:
        self._validate(ReassignToHero, raw, "reassign_to_hero", self._check_reassign_to_hero)

    @workflow.signal(name="reassign_to_hero")
    async def reassign_to_hero_signal(self, raw: Any) -> None:
        await self._command_signal(ReassignToHero, raw, "reassign_to_hero", self._check_reassign_to_hero,
                                   self._do_reassign_to_hero)

    @workflow.signal(name=HERO_SIGNAL)
    async def hero_changed(self, change: HeroChanged) -> None:
        """The customer's hero was set or cleared (R7.3); a replaced hero takes the conversation (R7.4)."""
        s = self.s
        if s is None or s.status == "closed":
            return
        s.hero = change.hero
        s.record(workflow.now(), "hero_changed", actor="system",
                 reason=f"hero is now {change.hero}" if change.hero else "hero cleared")
        if change.replaced and change.hero and change.hero_agent != s.assignee:
            await self._system_move(Move(kind="hero", by="system", assignee=s.assignee,
                                         note="R7.4 a new hero replaced the customer's hero"), from_start=True)

    @workflow.signal(name=REASSIGN_SIGNAL)
    async def agent_deactivated(self, agent: str) -> None:
        """R7.6: the agent holding this conversation was deactivated; an agent of the inbox takes it."""
        s = self.s
        if s is None or s.status == "closed" or agent not in (s.assignee, s.offer.agent if s.offer else None):
            return
        await self._system_move(Move(kind="reassign", by="system", assignee=agent,
                                     note=f"R7.6 agent {agent} was deactivated"), from_start=s.target is None)

    async def _system_move(self, move: Move, *, from_start: bool) -> None:
        async with self._lock:
            if self.s.status == "closed":
                return
            try:
                await self._route(move.note or move.kind, move, from_start=from_start)
            except ApplicationError as refusal:
                self._rejected(refusal)

    @workflow.signal(name=WAKE_SIGNAL)
    def wake(self) -> None:
        """Room appeared in a queue this conversation waits in (sent by whoever freed it)."""
        if self.s is not None and self.s.status == "queued":
            self._reroute = "woken"

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        if self.s is None:
            return {"status": "routing"}
        return self.s.view()


def _no_check(_: BaseModel) -> None:
    """For commands whose only state rule is that the conversation is open (checked for all)."""
