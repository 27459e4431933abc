"""The conversation's commands (CONTRACT "Commands") and internal hints, as the workflow takes them.

Each command is an update with a validator, and the same name is accepted as a signal. Every
handler takes its raw payloads and parses them itself (``workflows.inputs``), so no payload can
fail a workflow task: a bad update is rejected by its validator, a bad signal is recorded in the
timeline as ``rejected``. Rights (SPEC R5.6) are judged here, on the state as it is when the
command applies, with the store's directory facts when the rule needs more than the state; the
common path (the assignee acts) asks the store nothing. Internal signals (``wake``,
``hero_changed``, ``agent_deactivated``) are hints: the store is asked before anything moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.routing import HERO_SIGNAL, REASSIGN_SIGNAL, WAKE_SIGNAL, RoutingActivities
    from routing.directory import SkillRef
    from routing.errors import Refusal
    from routing.limits import quote
    from routing.model import (Accept, Close, Decline, Delivery, Join, Move, Note, Origin, PrivateMessage, ReassignToHero,
                               Rollback, Transfer)
    from routing.transfer import may_transfer
    from routing.visibility import Party, Where, may_close, may_supervise
    from workflows.hints import LOOKUP_TIMEOUT, Hints
    from workflows.inputs import command, decoded, full_view

if TYPE_CHECKING:
    from workflows.state import ConversationState

REASON_KEPT = 500  # characters of a free-text reason the timeline keeps


def failure(refusal: Refusal) -> ApplicationError:
    """A refusal as the error an update (or a failed start) carries: its kind, message and field."""
    return ApplicationError(refusal.message, {"field": refusal.field}, type=refusal.kind, non_retryable=True)


class Commands(Hints):
    """Mixed into ``Conversation``: the state ``s``, the move lock and the story's steps come from there."""

    s: ConversationState | None
    _lock: asyncio.Lock

    if TYPE_CHECKING:
        async def _route(self, why: str, move: Move | None = None, to: SkillRef | None = None,
                         *, from_start: bool = False) -> None: ...

        def _close(self, by: str, reason: str | None) -> None: ...

        def _reroute(self, why: str) -> None: ...

    # ---- the updates: each one names its rule; validators and signals run the same checks ---

    @workflow.update(name="accept")
    async def accept(self, *raw: Any) -> dict[str, Any]:
        """R2.2: the offered agent takes it."""
        return await self._update("accept", raw)

    @workflow.update(name="decline")
    async def decline(self, *raw: Any) -> dict[str, Any]:
        """R2.2: the offered agent passes; the next agent is tried."""
        return await self._update("decline", raw)

    @workflow.update(name="close")
    async def close(self, *raw: Any) -> dict[str, Any]:
        """R8.1: the assignee, a manager of the owner or handler, the owner's gateway, an admin."""
        return await self._update("close", raw)

    @workflow.update(name="transfer")
    async def transfer(self, *raw: Any) -> dict[str, Any]:
        """R6: to a skill or agent; another account is a manual rollover."""
        return await self._update("transfer", raw)

    @workflow.update(name="rollback")
    async def rollback(self, *raw: Any) -> dict[str, Any]:
        """R4: the handler side gives it back to the owner."""
        return await self._update("rollback", raw)

    @workflow.update(name="reassign_to_hero")
    async def reassign_to_hero(self, *raw: Any) -> dict[str, Any]:
        """R7.3: move it to the customer's hero now."""
        return await self._update("reassign_to_hero", raw)

    @workflow.update(name="join")
    async def join(self, *raw: Any) -> dict[str, Any]:
        """R5.2, R5.4: a manager of the owner or the handler joins."""
        return await self._update("join", raw)

    @workflow.update(name="private_message")
    async def private_message(self, *raw: Any) -> dict[str, Any]:
        """R5.2, R5.4: a manager writes to the agent handling it."""
        return await self._update("private_message", raw)

    @accept.validator
    def _accept_ok(self, *raw: Any) -> None:
        self._validated("accept", raw)

    @decline.validator
    def _decline_ok(self, *raw: Any) -> None:
        self._validated("decline", raw)

    @close.validator
    def _close_ok(self, *raw: Any) -> None:
        self._validated("close", raw)

    @transfer.validator
    def _transfer_ok(self, *raw: Any) -> None:
        self._validated("transfer", raw)

    @rollback.validator
    def _rollback_ok(self, *raw: Any) -> None:
        self._validated("rollback", raw)

    @reassign_to_hero.validator
    def _reassign_to_hero_ok(self, *raw: Any) -> None:
        self._validated("reassign_to_hero", raw)

    @join.validator
    def _join_ok(self, *raw: Any) -> None:
        self._validated("join", raw)

    @private_message.validator
    def _private_message_ok(self, *raw: Any) -> None:
        self._validated("private_message", raw)

    @workflow.signal(dynamic=True)
    async def _signal(self, name: str, raw: Sequence[RawValue]) -> None:
        """Every signal: the commands by their names, and the internal hints. Nothing a sender
        puts in a signal can fail the task: what cannot be taken is recorded as rejected."""
        try:
            args = decoded(raw, name[:60])
            if name == WAKE_SIGNAL:
                self._on_wake()
            elif name == HERO_SIGNAL:
                await self._on_hero_changed(args)
            elif name == REASSIGN_SIGNAL:
                await self._on_agent_deactivated(args)
            elif name in self._COMMANDS:
                await self._run(name, args)
            else:
                raise Refusal("UnknownSignal", f"no signal named {quote(name)}")
        except (Refusal, ApplicationError) as refusal:
            self._rejected(refusal.message)

    @workflow.query(name="commands")
    def commands(self) -> list[str]:
        """The commands this conversation takes (for tools; CONTRACT lists them)."""
        return sorted(self._COMMANDS)

    # ---- running a command -------------------------------------------------------------------

    _COMMANDS: dict[str, tuple[type[BaseModel], str, str, bool]] = {
        # name: (input, check, act, moves it: one at a time under the lock)
        "accept": (Accept, "_check_offer", "_do_accept", False),
        "decline": (Decline, "_check_offer", "_do_decline", False),
        "close": (Close, "_check_nothing", "_do_close", False),
        "transfer": (Transfer, "_check_transfer", "_do_transfer", True),
        "rollback": (Rollback, "_check_rollback", "_do_rollback", True),
        "reassign_to_hero": (ReassignToHero, "_check_reassign_to_hero", "_do_reassign_to_hero", True),
        "join": (Join, "_check_nothing", "_do_join", False),
        "private_message": (PrivateMessage, "_check_private_message", "_do_private_message", False),
    }

    def _parsed(self, verb: str, args: Sequence[Any]) -> BaseModel:
        """Parse and check a command on the state now; a ``Refusal`` names the problem."""
        model, check, _, _ = self._COMMANDS[verb]
        cmd = command(model, args, verb)
        if self.s is None:
            raise Refusal("NotStarted", f"{verb}: the conversation is still starting")
        if self.s.status == "closed":
            raise Refusal("ConversationClosed", f"{verb}: conversation {self.s.conversation_id} is closed")
        getattr(self, check)(cmd)
        return cmd

    def _validated(self, verb: str, args: Sequence[Any]) -> None:
        try:
            self._parsed(verb, args)
        except Refusal as refusal:
            raise failure(refusal) from None

    async def _update(self, verb: str, args: Sequence[Any]) -> dict[str, Any]:
        """The compact view after the command, with the events and notes it added: an update's
        result does not grow with the conversation. The full view (the ``state`` query's answer)
        when the input asks for it (``"view": "full"``)."""
        since = self.s.mark() if self.s is not None else None
        try:
            await self._run(verb, args)
        except Refusal as refusal:
            raise failure(refusal) from None
        return self.s.view() if full_view(args, verb) else self.s.compact(since)

    async def _run(self, verb: str, args: Sequence[Any]) -> None:
        """Checked again when it runs: the state may have moved since the validator."""
        _, _, act, moves = self._COMMANDS[verb]
        do: Callable[[Any], Awaitable[None]] = getattr(self, act)
        if not moves:
            await do(self._parsed(verb, args))
            return
        self._parsed(verb, args)  # refuse at once, not after waiting for another move
        async with self._lock:
            await do(self._parsed(verb, args))

    def _rejected(self, why: str) -> None:
        if self.s is not None and self.s.status != "closed":
            self.s.record(workflow.now(), "rejected", reason=why[:REASON_KEPT])

    # ---- rights: the state now, and the directory's word on who the caller is ---------------

    def _where(self) -> Where:
        s = self.s
        return Where(owner=s.account, handler=s.handler_account, assignee=s.assignee,
                     offered_to=s.offer.agent if s.offer else None)

    async def _party(self, principal: str, verb: str) -> Party:
        found = await workflow.execute_local_activity_method(
            RoutingActivities.party, principal, start_to_close_timeout=LOOKUP_TIMEOUT,
            summary=f"who is {principal[:60]}")
        if found.refused is not None:  # an answer: the directory does not know them (or not as that)
            raise Refusal(found.refused.kind or "NotAllowed", f"{verb}: {found.refused.message}", field="by")
        return found.principal.party()

    async def _authorize(self, verb: str, by: str, rule: Callable[[Party, Where], bool], why: str) -> None:
        """SPEC R5.6: judged after the lookup, on the state as it is then; ``why`` says who may."""
        party = await self._party(by, verb)
        if self.s.status == "closed":
            raise Refusal("ConversationClosed", f"{verb}: conversation {self.s.conversation_id} is closed")
        if not rule(party, self._where()):
            raise Refusal("NotAllowed", f"{verb}: {quote(by)} may not {verb.replace('_', ' ')} conversation "
                                        f"{self.s.conversation_id}: {why}", field="by")

    def _managers(self) -> str:
        s = self.s
        return f"{s.account}" + (f" or {s.handler_account}" if s.handler_account else "")

    # ---- the commands' rules -------------------------------------------------------------------

    def _check_nothing(self, cmd: BaseModel) -> None:
        """For commands whose only state rule is that the conversation is open (checked for all)."""

    def _check_offer(self, cmd: Accept | Decline) -> None:
        """SPEC R2.5: only the agent holding a live offer may accept or decline it."""
        s, verb = self.s, "accept" if isinstance(cmd, Accept) else "decline"
        if s.offer is None or s.status != "offered":
            raise Refusal("NoOffer", f"{verb}: conversation {s.conversation_id} has no open offer (status {s.status})")
        if s.offer.agent != cmd.agent:
            raise Refusal("NotYourOffer", f"{verb}: the offer of {s.conversation_id} is not for agent "
                                          f"{quote(cmd.agent)}", field="agent")
        if workflow.now() >= s.offer.expires_at:
            raise Refusal("OfferExpired", f"{verb}: the offer to {cmd.agent!r} expired at "
                                          f"{s.offer.expires_at.isoformat()}")

    async def _do_accept(self, cmd: Accept) -> None:
        s, now = self.s, workflow.now()
        if s.target is None:  # a hero offer accepted (R7.1): where it is is decided now
            s.target = SkillRef(account=s.offer.account, skill=s.offer.skill)
        s.assignee, s.offer, s.status, s.last_activity = cmd.agent, None, "assigned", now
        s.backup_deadline = s.fallback_deadline = None  # someone on this side took it: no more escapes
        s.changes += 1
        s.record(now, "accepted", actor=cmd.agent, agent=cmd.agent)

    async def _do_decline(self, cmd: Decline) -> None:
        s = self.s
        s.record(workflow.now(), "declined", actor=cmd.agent, agent=cmd.agent,
                 reason=cmd.reason[:REASON_KEPT] if cmd.reason else None)
        s.excluded = [*s.excluded, cmd.agent]
        self._reroute("declined")

    async def _do_close(self, cmd: Close) -> None:
        if cmd.by != self.s.assignee:  # the assignee closes without asking anyone (the common path)
            await self._authorize("close", cmd.by, may_close,
                                  "R8.1: the assignee, a manager of the owner or the handler, the owner's "
                                  "gateway or an admin closes it")
        self._close(cmd.by, (cmd.reason or "closed")[:REASON_KEPT])

    def _check_rollback(self, cmd: Rollback) -> None:
        """R4.3: only a conversation a handler has can be rolled back."""
        if self.s.handler_account is None:
            raise Refusal("NotWithHandler", f"rollback: conversation {self.s.conversation_id} is not with a handler; "
                                            f"its owner {self.s.account} has it")

    async def _do_rollback(self, cmd: Rollback) -> None:
        """R4.1: to the owner skill it came from (the last one it was in), or the one named."""
        s = self.s
        move = Move(kind="rollback", by=cmd.by, assignee=s.assignee, handler_account=s.handler_account,
                    has_note=bool(cmd.note))
        await self._move_with_note("rollback", move, cmd.note,
                                   SkillRef(account=s.account, skill=cmd.skill or s.owner_skill or s.skill))

    async def _move_with_note(self, why: str, move: Move, note: str | None, to: SkillRef) -> None:
        """A command's move; its agent note is kept (for the next agents, R6.2) only if the move is."""
        await self._route(why, move, to)
        if note and self.s.status != "closed":
            self.s.add_note(Note(at=workflow.now(), by=move.by, text=note))

    def _destination(self, cmd: Transfer) -> SkillRef:
        """Where a transfer goes: the account defaults to where the conversation is now, and so does
        the skill when a named agent of that account is the target."""
        here = self.s.here
        account = cmd.account or here.account
        skill = cmd.skill or (here.skill if cmd.agent and account == here.account else None)
        if skill is None:
            raise Refusal("InvalidInput", "transfer: give a 'skill' (or an 'agent' of this account)", field="skill")
        return SkillRef(account=account, skill=skill)

    def _check_transfer(self, cmd: Transfer) -> None:
        """R6: a target; not the agent who has it already; not to where it is waiting now."""
        s, to = self.s, self._destination(cmd)
        if cmd.agent is not None and cmd.agent == s.assignee:
            raise Refusal("AlreadyThere", f"transfer: {quote(cmd.agent)} already has {s.conversation_id}",
                          field="agent")
        if cmd.agent is None and to == s.target and s.status in ("queued", "offered"):
            raise Refusal("AlreadyThere", f"transfer: {s.conversation_id} is already waiting in {to}", field="skill")

    async def _do_transfer(self, cmd: Transfer) -> None:
        s = self.s
        source, sender = s.here, s.assignee
        move = Move(kind="transfer", by=cmd.by, assignee=s.assignee, handler_account=s.handler_account,
                    has_note=bool(cmd.note), source=source, agent=cmd.agent, warm_message=cmd.warm_message,
                    origin=s.origin)
        await self._move_with_note("transfer", move, cmd.note, self._destination(cmd))
        if s.target and s.target.account != source.account:
            s.origin = Origin(skill=source, agent=sender)  # the way back (R6.5)

    def _check_reassign_to_hero(self, cmd: ReassignToHero) -> None:
        s = self.s
        if s.assignee is not None and s.assignee == s.hero:
            raise Refusal("AlreadyThere", f"reassign_to_hero: {s.conversation_id} is already with the hero {s.hero!r}")

    async def _do_reassign_to_hero(self, cmd: ReassignToHero) -> None:
        """R7.3: whoever may transfer it may ask for the hero."""
        if cmd.by != self.s.assignee:
            await self._authorize("reassign_to_hero", cmd.by, may_transfer,
                                  "R7.3: the assignee or a manager of an account involved reassigns it")
        move = Move(kind="hero", by=cmd.by, assignee=self.s.assignee, reason=f"R7.3 {cmd.by} asked for the hero")
        await self._route("reassign to hero", move, from_start=True)

    def _check_private_message(self, cmd: PrivateMessage) -> None:
        """R5.2, R5.4: a private message goes to the agent handling the conversation."""
        s = self.s
        if s.assignee is None:
            raise Refusal("NotAssigned", f"private_message: no agent is handling {s.conversation_id} yet")
        if cmd.to != s.assignee:
            raise Refusal("NotHandlingAgent", f"private_message: {quote(cmd.to)} is not handling "
                                              f"{s.conversation_id}; {s.assignee!r} is", field="to")

    async def _do_private_message(self, cmd: PrivateMessage) -> None:
        await self._authorize("private_message", cmd.sender, may_supervise,
                              f"R5.2, R5.4: it is not a manager of {self._managers()}")
        self._check_private_message(cmd)  # the assignee may have changed during the lookup
        s, now = self.s, workflow.now()
        update = workflow.current_update_info()
        key = f"{workflow.info().workflow_id}/{update.id if update else workflow.uuid4()}"
        await workflow.execute_local_activity_method(
            RoutingActivities.private_message,
            Delivery(conversation_id=s.conversation_id, by=cmd.sender, to=cmd.to, text=cmd.text, key=key, now=now),
            start_to_close_timeout=LOOKUP_TIMEOUT, summary=f"private message to {cmd.to}")
        s.add_note(Note(at=now, by=cmd.sender, text=cmd.text, kind="private_message", to=cmd.to))
        s.record(now, "private_message", actor=cmd.sender, agent=cmd.to, reason=f"from manager {cmd.sender}")

    async def _do_join(self, cmd: Join) -> None:
        await self._authorize("join", cmd.manager, may_supervise,
                              f"R5.2, R5.4: it is not a manager of {self._managers()}")
        s = self.s
        s.join(cmd.manager)
        s.record(workflow.now(), "joined", actor=cmd.manager, reason=f"manager {cmd.manager} joined")
