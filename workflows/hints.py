"""Internal signals are hints (DESIGN "Nothing from outside is trusted"): ``wake``,
``hero_changed`` and ``agent_deactivated`` make the conversation ask the store, never order a
move by themselves. Mixed into ``Conversation`` through ``workflows.commands.Commands``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from routing.directory import SkillRef
    from routing.errors import Refusal
    from routing.limits import quote
    from routing.model import HeroChanged, Move
    from workflows.inputs import command

if TYPE_CHECKING:
    from workflows.state import ConversationState

LOOKUP_TIMEOUT = timedelta(seconds=10)


class Hints:
    s: ConversationState | None
    _lock: asyncio.Lock

    if TYPE_CHECKING:
        async def _route(self, why: str, move: Move | None = None, to: SkillRef | None = None,
                         *, from_start: bool = False) -> None: ...

        def _reroute(self, why: str) -> None: ...

        def _rejected(self, why: str) -> None: ...


    def _on_wake(self) -> None:
        """Room appeared in a queue this conversation waits in (sent by whoever freed it)."""
        if self.s is not None and self.s.status == "queued" and not self.s.pending:
            self._reroute("woken")

    async def _on_hero_changed(self, args: list[Any]) -> None:
        """The customer's hero may have changed (R7.3); a replaced hero takes the conversation (R7.4).
        The store says who the hero is now; the signal only claims it, and whether it replaced one."""
        claim = command(HeroChanged, args, "hero_changed")
        if self.s is None or self.s.status == "closed":
            return
        async with self._lock:
            s = self.s
            hero = await workflow.execute_local_activity_method(
                RoutingActivities.hero_of, args=[s.account, s.customer], start_to_close_timeout=LOOKUP_TIMEOUT,
                summary="who is the customer's hero")
            if hero == s.hero or s.status == "closed":
                return
            replaced, s.hero = s.hero is not None, hero
            s.record(workflow.now(), "hero_changed", actor="system",
                     reason=f"hero is now {hero}" if hero else "hero cleared")
            if replaced and claim.replaced and hero == claim.hero and hero and hero != s.assignee:
                await self._system_move(Move(kind="hero", by="system", assignee=s.assignee,
                                             reason="R7.4 a new hero replaced the customer's hero"), from_start=True)

    async def _on_agent_deactivated(self, args: list[Any]) -> None:
        """R7.6: an agent holding this conversation may have been deactivated; an agent of the
        inbox takes it. The store checks that the agent really is deactivated before it moves."""
        s = self.s
        if len(args) != 1 or not isinstance(args[0], str):
            raise Refusal("InvalidInput", "agent_deactivated: expected one agent id")
        agent = args[0]
        if s is None or s.status == "closed" or agent not in (s.assignee, s.offer.agent if s.offer else None):
            raise Refusal("NotInvolved", f"agent_deactivated: {quote(agent)} holds nothing of this conversation")
        async with self._lock:
            if self.s.status == "closed" or agent not in (s.assignee, s.offer.agent if s.offer else None):
                return
            await self._system_move(Move(kind="reassign", by="system", assignee=agent,
                                         reason=f"R7.6 agent {agent} was deactivated"),
                                    from_start=s.target is None)

    async def _system_move(self, move: Move, *, from_start: bool) -> None:
        """A move the system makes under the lock; a refusal is recorded, not raised."""
        try:
            await self._route(move.reason or move.kind, move, from_start=from_start)
        except ApplicationError as refusal:
            self._rejected(refusal.message)
