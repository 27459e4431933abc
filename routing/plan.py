"""Where a conversation goes at one routing step: the one composed decision (DESIGN "Every step
is fenced"; SPEC R3, R4, R6, R7).

``decide`` is pure: the store hands it a ``Facts`` snapshot read inside the step's transaction,
the what-if simulator hands it its own; it returns a ``Plan`` (the skill to route in, the one
agent to offer or assign to if a rule names one, the deadlines that follow, and the reasons in
SPEC's words), or raises a ``Refusal`` when a command's move may not happen. Who among a skill's
agents gets the offer is ``routing.selection``'s, decided and reserved by the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing.directory import Account, Hero, Skill, SkillRef
from routing.errors import Refusal, unknown
from routing.hero import hero_inbox
from routing.hero import plan as plan_hero
from routing.hours import zone
from routing.model import Event, Move, RouteRequest
from routing.rollover import backup_rollover, place
from routing.selection import Candidate
from routing.transfer import check_agent, check_allowed, check_open, fallback_for, may_transfer
from routing.visibility import Party, Where, may_roll_back


@dataclass(frozen=True)
class Facts:
    """What the decision needs to know of the directory at the step's instant."""

    owner: Account
    accounts: dict[str, Account]  # every account a rule may name, by id
    online: dict[SkillRef, int]  # active agents online, per skill a rule may name
    hero: Hero | None = None
    hero_agent: Candidate | None = None
    hero_agent_skills: tuple[str, ...] = ()
    by: Party | None = None  # who asked for the move
    named: Candidate | None = None  # the agent a transfer names
    named_member: bool = False
    subject: Candidate | None = None  # R7.6: the agent the deactivation hint is about

    def skill(self, ref: SkillRef) -> Skill | None:
        account = self.accounts.get(ref.account)
        return account.skill(ref.skill) if account else None


@dataclass
class Plan:
    target: SkillRef
    skill: Skill
    events: list[Event] = field(default_factory=list)
    offer_to: Candidate | None = None  # a rule names the agent: the hero (R7.1) or a named transfer (R6.7)
    assign_to: Candidate | None = None  # R7.2: email and voicemail to the hero whatever their availability
    decided: bool = True  # False: a hero offer; when it ends, the next step decides again from the hero
    must_reserve: bool = False  # a named agent who cannot be reserved refuses the move
    excluded: list[str] = field(default_factory=list)
    rollover_mode: str | None = None
    policy_applies: bool = True
    backup_deadline: datetime | None = None
    backup_handler: SkillRef | None = None
    fallback_deadline: datetime | None = None
    fallback_to: SkillRef | None = None
    hero: str | None = None


def decide(facts: Facts, req: RouteRequest) -> Plan:
    """The routing step ``req`` under ``facts``: move (if a command asked), hero and policy (first
    step, or a hero offer ended), then backup (R3.3) and fallback (R6.4) on the skill's presence."""
    now, owner = req.now, facts.owner
    home = SkillRef(account=owner.id, skill=req.skill)
    plan = Plan(target=home, skill=_skill(facts, home), excluded=list(req.excluded),
                policy_applies=req.policy_applies, backup_deadline=req.backup_deadline,
                backup_handler=req.backup_handler, fallback_deadline=req.fallback_deadline,
                fallback_to=req.fallback_to)
    if req.target is not None and (req.move is None or req.move.kind == "reassign"):
        _goto(facts, plan, req.target, fresh=False)  # routing on where it is
    if req.move is not None:
        _move(facts, req, req.move, plan)
    if req.target is None or (req.move is not None and req.move.kind == "hero"):
        _hero_then_policy(facts, req, plan, home)
    _backup(facts, now, plan, owner.id)
    _fallback(facts, now, plan)
    return plan


def _skill(facts: Facts, ref: SkillRef) -> Skill:
    skill = facts.skill(ref)
    if skill is None:
        raise unknown("skill", ref.skill, f"account {ref.account!r}")
    return skill


def _goto(facts: Facts, plan: Plan, ref: SkillRef, *, fresh: bool = True) -> None:
    plan.target, plan.skill = ref, _skill(facts, ref)
    if fresh:
        plan.excluded = []  # a new skill: nobody there has passed on it yet


def _hero_then_policy(facts: Facts, req: RouteRequest, plan: Plan, home: SkillRef) -> None:
    """SPEC R7.1, R7.2, R7.7: the customer's hero first; what falls through meets the policy."""
    owner, hero = facts.owner, facts.hero
    if hero is None and req.move is not None and req.move.kind == "hero":
        raise Refusal("NoHero", f"reassign_to_hero: customer {req.customer!r} of account {owner.id!r} has no hero",
                      field="by")
    plan.target, plan.skill = home, _skill(facts, home)
    if hero is not None:
        inbox = hero_inbox(hero.inbox, list(facts.hero_agent_skills))
        hp = plan_hero(hero_agent=hero.agent, agent=facts.hero_agent, inbox=inbox, channel=req.channel,
                       default_voice_skill=owner.default_voice_skill, passed=hero.agent in req.excluded)
        plan.hero = hero.agent or hero.inbox
        plan.events.append(Event(at=req.now, kind="hero", account=owner.id, skill=hp.skill, agent=hp.agent,
                                 reason=hp.reason))
        if hp.skill is not None and facts.skill(SkillRef(account=owner.id, skill=hp.skill)) is not None:
            _goto(facts, plan, SkillRef(account=owner.id, skill=hp.skill), fresh=False)
        if hp.kind == "offer":
            plan.offer_to, plan.decided = facts.hero_agent, False
            return
        if hp.kind == "assign":
            plan.assign_to = facts.hero_agent
            return
    _policy(facts, req, plan)


def _policy(facts: Facts, req: RouteRequest, plan: Plan) -> None:
    """SPEC R3 at the workflow's instant in the owner's zone; R4.2 after a rollback."""
    owner, skill = facts.owner, plan.skill
    placement = place(owner.policy_for(skill), skill, zone(owner.timezone), req.now,
                      rolled_back=not plan.policy_applies)
    plan.rollover_mode = placement.mode.value
    plan.events.append(Event(at=req.now, kind="rollover_decision", account=owner.id, skill=skill.id,
                             reason=f"{placement.rule} {placement.reason}"))
    if placement.to_handler and placement.handler and facts.skill(placement.handler) is not None:
        _goto(facts, plan, placement.handler)
    if placement.backup and placement.handler:
        plan.backup_deadline, plan.backup_handler = placement.backup_deadline(req.now), placement.handler


def _backup(facts: Facts, now: datetime, plan: Plan, owner_id: str) -> None:
    """SPEC R3.3: no owner agent online, or the backup window closed: to the handler. A window
    that has run out is spent, whether or not the handler could take it."""
    if not plan.backup_deadline:
        return
    if plan.target.account != owner_id:
        plan.backup_deadline = None
        return
    if plan.assign_to or not plan.decided:
        return
    why = backup_rollover(owner_online=facts.online.get(plan.target, 0), now=now, deadline=plan.backup_deadline)
    if not why:
        return
    handler = plan.backup_handler
    if handler and facts.skill(handler) is not None:
        plan.events.append(Event(at=now, kind="rolled_over", account=handler.account, skill=handler.skill,
                                 reason=why))
        _goto(facts, plan, handler)
    plan.backup_deadline = None


def _fallback(facts: Facts, now: datetime, plan: Plan) -> None:
    """SPEC R6.4: nobody of the destination online, or its acceptance window closed: to its
    fallback. A window with nowhere else to go is spent."""
    to = plan.fallback_to
    if not plan.fallback_deadline:
        return
    if not to or plan.target == to or facts.skill(to) is None:
        plan.fallback_deadline = None
        return
    if plan.offer_to is not None:
        return  # a named agent is being offered it: the window runs on
    if facts.online.get(plan.target, 0) == 0:
        why = f"no agent of {plan.target} is online"
    elif now >= plan.fallback_deadline:
        why = f"nobody of {plan.target} accepted within its acceptance window"
    else:
        return
    plan.events.append(Event(at=now, kind="transfer_fallback", account=to.account, skill=to.skill,
                             reason=f"R6.4 {why}"))
    _goto(facts, plan, to)
    plan.fallback_deadline = None


def _move(facts: Facts, req: RouteRequest, move: Move, plan: Plan) -> None:
    """May ``move.by`` move the conversation where it asks? A refusal changes nothing."""
    where = Where(owner=req.account, handler=move.handler_account, assignee=move.assignee)
    if move.kind == "transfer":
        _transfer(facts, req, move, plan, where)
    elif move.kind == "rollback":
        _rollback(facts, req, move, plan, where)
    elif move.kind == "hero":  # R7.3, R7.4: the hero plan decides; who may ask is the workflow's to judge
        plan.events.append(Event(at=req.now, kind="reassigned_to_hero", actor=move.by, reason=move.reason))
    else:  # "reassign", R7.6: a hint; act only when the store says the agent is really deactivated
        if facts.subject is not None and facts.subject.active:
            raise Refusal("AgentActive", f"agent_deactivated: agent {move.assignee!r} is active; nothing to move",
                          field="agent")
        plan.events.append(Event(at=req.now, kind="reassigned", actor=move.by, agent=move.assignee,
                                 reason=move.reason))
        if facts.hero is not None:  # R7.6: a deactivated hero is their inbox now
            plan.hero = facts.hero.agent or facts.hero.inbox


def _transfer(facts: Facts, req: RouteRequest, move: Move, plan: Plan, where: Where) -> None:
    """SPEC R6: who may, where to (allow-list or the way back), open now, a named agent with room."""
    target, source = req.target, move.source
    if facts.by is None or not may_transfer(facts.by, where):
        raise Refusal("NotAllowed", f"transfer: {move.by!r} is neither the assignee ({move.assignee!r}) nor a "
                                    f"manager of an account involved in conversation {req.conversation_id}",
                      field="by")
    sending = facts.skill(source)
    why = check_allowed(source, sending.transfer_targets if sending else [], target, move.origin, move.agent)
    account = facts.accounts.get(target.account)
    skill = facts.skill(target)
    if account is None or skill is None:
        raise unknown("skill", target.skill, f"account {target.account!r}")
    check_open(target, skill, zone(account.timezone), req.now)
    if move.agent is not None:
        check_agent(facts.named, move.agent, target, member=facts.named_member)
        plan.offer_to, plan.must_reserve = facts.named, True
    _goto(facts, plan, target)
    plan.policy_applies, plan.backup_deadline, plan.backup_handler = False, None, None
    plan.fallback_deadline = req.now + timedelta(seconds=skill.accept_timeout)
    plan.fallback_to = fallback_for(target, skill, source)
    to = f"agent {move.agent} of {target}" if move.agent else str(target)
    plan.events.append(Event(at=req.now, kind="transferred", actor=move.by, account=target.account,
                             skill=target.skill, agent=move.agent,
                             reason=f"R6 from {source} to {to} ({why})"
                                    + ("; with a note for the next agent" if move.has_note else "")))
    if move.warm_message:
        plan.events.append(Event(at=req.now, kind="warm_message", actor=move.by, account=target.account,
                                 skill=target.skill, reason=f"sent to the customer on {req.channel}"))


def _rollback(facts: Facts, req: RouteRequest, move: Move, plan: Plan, where: Where) -> None:
    """SPEC R4.1, R4.3, R5: the handler side gives it back to an owner skill; R4.2 for good."""
    by, target = facts.by, req.target
    if by is None or not may_roll_back(by, where):
        account = by.account if by else None
        raise Refusal("NotAllowed", f"rollback: {move.by!r} (account {account!r}) is not on the handling side "
                                    f"({move.handler_account!r}) of conversation {req.conversation_id}"
                      + (f", and {move.assignee!r} is assigned" if move.assignee else ""), field="by")
    skill = facts.skill(target)
    if skill is None or target.account != req.account:
        raise unknown("skill", target.skill, f"account {req.account!r}")
    if not skill.enabled:
        raise Refusal("SkillDisabled", f"rollback: skill {target} is disabled", field="skill")
    _goto(facts, plan, target)
    plan.policy_applies, plan.backup_deadline, plan.backup_handler = False, None, None
    plan.fallback_deadline = plan.fallback_to = None
    plan.events.append(Event(at=req.now, kind="rolled_back", actor=move.by, account=target.account,
                             skill=target.skill,
                             reason=f"R4.1 {move.by} gave it back from {move.handler_account} to {target}"
                                    + ("; with a note for the next agent" if move.has_note else "")))
