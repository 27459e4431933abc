"""A simulated day (or week) of traffic on the engine's own routing rules (issue 13).

SimPy keeps the clock and the timers; every routing step is the engine's: ``routing.plan.decide``
over ``Facts`` (hero, rollover mode and window, backup), then placement as ``store.routing``
does it (``routing.selection`` for who gets the offer, the queue order, who must not be
overtaken and whom a freed slot wakes). Each conversation follows ``workflows.conversation``'s
story: route, offer, answer or decline or let it expire, the backup window, the queue with
wake-ups and re-checks, close. Nothing of Temporal or the database runs.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import simpy

from routing.directory import Account, Directory, SkillRef
from routing.errors import Refusal
from routing.hours import WeeklyHours, is_open, zone
from routing.model import Event, RouteRequest
from routing.plan import Facts, decide
from routing.selection import queue_order, recheck_after
from whatif.conversation import Conversation
from whatif.people import SimAgent, SimSkill, best, initial_presence, to_wake
from whatif.traffic import Stream, Traffic

DRAIN = 86_400.0  # after the last arrival, how long waiting conversations may still be answered


class Simulation:
    """One run of ``traffic`` over ``directory``; ``run`` returns every conversation."""

    def __init__(self, directory: Directory, traffic: Traffic, *, seed: int | None = None,
                 epoch: float | None = None) -> None:
        """``epoch``: the instant (POSIX seconds) of simulated time 0; default the first local
        midnight of the traffic's start among the directory's zones."""
        self.directory, self.traffic = directory, traffic
        self.seed = traffic.seed if seed is None else seed
        self.env = simpy.Environment()
        self.accounts: dict[str, Account] = {a.id: a for a in directory.accounts}
        self.t0 = min(self._midnight(a, traffic.start) for a in self.accounts.values()) if epoch is None else epoch
        self.horizon = max(self._midnight(a, traffic.start + timedelta(days=traffic.days))
                           for a in self.accounts.values()) - self.t0
        self.skills: dict[SkillRef, SimSkill] = {}
        self.online: dict[SkillRef, int] = {}  # the Facts' presence: live, shared by every cached Facts
        self.agents: dict[str, SimAgent] = {}
        self._build_people()
        self._owner_facts = {a.id: Facts(owner=a, accounts=self.accounts, online=self.online) for a in directory.accounts}
        self.conversations: list[Conversation] = []
        self.samples: list[tuple[float, dict[SkillRef, int]]] = []
        self._waiting: dict[SkillRef, int] = {}
        self._templates: dict[SkillRef, RouteRequest] = {}

    # ---- set-up -------------------------------------------------------------------------------

    @staticmethod
    def _midnight(account: Account, day: date) -> float:
        return datetime.combine(day, time(), zone(account.timezone)).timestamp()

    def _build_people(self) -> None:
        plans = {p.id: p for p in self.traffic.agents}
        for account in self.directory.accounts:
            for skill in account.skills:
                ref = SkillRef(account=account.id, skill=skill.id)
                self.skills[ref], self.online[ref] = SimSkill(ref), 0
        rng = random.Random(f"{self.seed}/agents")
        for account in self.directory.accounts:
            for agent in account.agents:
                plan = plans.get(agent.id)
                refs = [SkillRef(account=account.id, skill=s) for s in agent.skills]
                sim = SimAgent(agent=agent, account=account.id, skills=refs,
                               answer=plan.answer if plan and plan.answer else self.traffic.answer,
                               rng=random.Random(rng.random()), online=False)
                self.agents[agent.id] = sim
                for ref in refs:
                    self.skills[ref].agents.append(sim)
                if plan is not None and plan.shift is not None:
                    self._shifts(sim, plan.shift, zone(account.timezone))
                else:
                    self._presence(sim, initial_presence(agent))

    def _shifts(self, agent: SimAgent, shift: WeeklyHours, tz: ZoneInfo) -> None:
        """Online inside the shift (``routing.hours``, so DST as the engine sees it), offline outside."""
        first = datetime.fromtimestamp(self.t0, tz).date() - timedelta(days=1)
        changes: list[float] = []
        for d in range(self.traffic.days + 3):
            day = first + timedelta(days=d)
            for window in shift.on(day.weekday()):
                changes += [self.wall(day, window.start, tz), self.wall(day, window.end, tz)]
        self._presence(agent, is_open(shift, frozenset(), tz, self.now(0)))
        for t in sorted({c for c in changes if 0 < c < self.horizon}):
            self._at(t, self._shift_change, agent, shift, tz)

    def wall(self, day: date, minute: float, tz: ZoneInfo) -> float:
        """Simulated seconds of local wall time ``minute`` on ``day`` (DST days have 23 or 25 hours)."""
        local = (datetime.combine(day, time()) + timedelta(minutes=minute)).replace(tzinfo=tz)
        return local.timestamp() - self.t0

    def _shift_change(self, agent: SimAgent, shift: WeeklyHours, tz: ZoneInfo) -> None:
        online = is_open(shift, frozenset(), tz, self.now())
        if online != agent.online:
            self._presence(agent, online)

    def _presence(self, agent: SimAgent, online: bool) -> None:
        """``store.presence``: the status changes, and coming online wakes what the agent can take."""
        now = self.env.now
        if online == agent.online:
            return
        if agent.online:
            agent.spans.append((agent.online_since, now))
        else:
            agent.online_since = now
            if now > 0:  # as store.presence: idle since they came online (R2.1); at 0 the directory's stands
                agent.idle_since = self.now()
        agent.online = online
        agent.refresh()
        if agent.agent.active:
            for ref in agent.skills:
                self.online[ref] += 1 if online else -1
        if online:
            self._wake(agent)

    # ---- the clock --------------------------------------------------------------------------------

    def now(self, t: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.t0 + (self.env.now if t is None else t), timezone.utc)

    def _at(self, delay: float, fn, *args) -> None:
        self.env.timeout(delay).callbacks.append(lambda _: fn(*args))

    def _later(self, c: Conversation, delay: float, fn) -> None:
        """A timer of the conversation's current epoch: any change since makes it a no-op."""
        epoch = c.epoch
        self.env.timeout(max(delay, 0.0)).callbacks.append(lambda _: fn(c) if c.epoch == epoch else None)

    def run(self, arrivals: list[Conversation] | None = None) -> list[Conversation]:
        """Simulate the traffic's days, or (``arrivals``, fresh conversations from ``arrivals()``
        of some run, with times of this one) just those conversations."""
        if arrivals is None:
            arrivals = self.arrivals()
        else:
            self.horizon = max((c.arrived for c in arrivals), default=0.0)
        self.conversations = sorted(arrivals, key=lambda c: c.arrived)
        by_stream: dict[int, list[Conversation]] = {}
        for c in self.conversations:
            by_stream.setdefault(id(c.stream), []).append(c)
            self._waiting.setdefault(c.owner, 0)
        for convs in by_stream.values():
            self._next_arrival(iter(convs), 0.0)
        self._at(0, self._sample)
        self.env.run(until=self.horizon + DRAIN)
        self._close_books()
        return self.conversations

    def _sample(self) -> None:
        """Conversations waiting (queued or offered) per owner skill, each minute of the day."""
        if self.env.now <= self.horizon:
            self.samples.append((self.env.now, dict(self._waiting)))
            self._at(60, self._sample)

    # ---- arrivals ---------------------------------------------------------------------------------

    def arrivals(self) -> list[Conversation]:
        """Every conversation of the traffic's days, not yet simulated."""
        made: list[Conversation] = []
        for i, stream in enumerate(self.traffic.streams):
            made += self._arrivals(i, stream, len(made))
        return made

    def _arrivals(self, index: int, stream: Stream, first: int) -> list[Conversation]:
        """Poisson arrivals, the rate constant inside each piece of the local day (memoryless, so
        each piece starts afresh); handle time, patience and hero drawn at arrival, so every
        policy compared sees the same customers."""
        rng = random.Random(f"{self.seed}/stream/{index}")
        account = self.accounts[stream.account]
        tz = zone(account.timezone)
        heroes = [h for h in self.directory.heroes if h.account == stream.account]
        pieces = stream.pieces(self.traffic.interval)
        owner = SkillRef(account=stream.account, skill=stream.skill)
        arrivals: list[Conversation] = []
        for d in range(self.traffic.days):
            day = self.traffic.start + timedelta(days=d)
            for start_minute, end_minute, per_second in pieces:
                begin, end = self.wall(day, start_minute, tz), self.wall(day, end_minute, tz)
                t = begin
                while per_second > 0:
                    t += rng.expovariate(per_second)
                    if t >= end:
                        break
                    hero = rng.choice(heroes) if heroes and rng.random() < stream.heroes else None
                    n = first + len(arrivals)
                    arrivals.append(Conversation(
                        id=f"c{n:08d}", stream=stream, owner=owner, arrived=t, arrived_at=self.now(t),
                        customer=hero.customer if hero else f"{stream.account}-{index}-{n}",
                        handle=stream.handle.draw(rng), hero=hero,
                        patience=stream.patience.draw(rng) if stream.patience else None))
        return arrivals

    def _next_arrival(self, arrivals, now: float) -> None:
        """One pending arrival per stream on the clock, not a day of them: a short event heap."""
        following = next(arrivals, None)
        if following is None:
            return

        def arrive(_: object) -> None:
            self._next_arrival(arrivals, following.arrived)
            self._arrive(following)

        self.env.timeout(following.arrived - now).callbacks.append(arrive)

    def _arrive(self, c: Conversation) -> None:
        self._waiting[c.owner] += 1
        if c.patience is not None:
            self.env.timeout(c.patience).callbacks.append(lambda _: self._abandon(c))
        self._route(c)

    # ---- one routing step, as store.routing.route -----------------------------------------------------

    def _facts(self, c: Conversation) -> Facts:
        facts = self._owner_facts[c.owner.account]
        if c.hero is None:
            return facts
        agent = self.agents.get(c.hero.agent) if c.hero.agent else None
        return Facts(owner=facts.owner, accounts=self.accounts, online=self.online, hero=c.hero,
                     hero_agent=agent.candidate if agent else None,
                     hero_agent_skills=tuple(agent.agent.skills) if agent else ())

    def _route(self, c: Conversation, why: str = "start") -> None:
        if c.status == "closed":
            return
        c.step += 1
        c.epoch += 1
        req = self._request(c, why)
        try:
            plan = decide(self._facts(c), req)
        except Refusal as refusal:  # R1.3: a disabled skill refuses the start; nothing is held
            c.epoch += 1
            c.status, c.why, c.refused = "closed", refusal.message, True
            self._waiting[c.owner] -= 1
            return
        self._release(c)
        c.target = plan.target if plan.decided else None
        c.excluded, c.policy_applies = list(plan.excluded), plan.policy_applies
        c.backup_deadline, c.backup_handler = plan.backup_deadline, plan.backup_handler
        c.mode = plan.rollover_mode or c.mode
        self._explain(c, plan.events)
        skill = self.skills[plan.target]
        c.handler = plan.target.account if plan.target.account != c.owner.account else None
        if plan.assign_to is not None:  # R7.2: to the hero whatever their availability
            agent = self.agents[plan.assign_to.id]
            if agent.candidate.has_room:
                agent.take()
            self._answered(c, agent, counted=agent.load > 0)
            return
        chosen = None
        if plan.offer_to is not None:
            chosen = best([self.agents[plan.offer_to.id].candidate], plan.excluded)
        else:
            head = skill.ahead_of(self._key(c))
            if head is not None:
                self._enqueue(c, skill)
                self._later(head, 0, lambda h: self._route(h, "woken") if h.status == "queued" else None)
                return
            chosen = best(skill.pool(), plan.excluded)
        if chosen is None:
            self._enqueue(c, skill)
        else:
            self._offer(c, self.agents[chosen.id], skill)

    def _request(self, c: Conversation, why: str) -> RouteRequest:
        """The workflow's ``RouteRequest`` for this step. Built unvalidated once per conversation
        (its fields come from a validated traffic file and directory) and updated in place after:
        the hot path of a day of 100,000 conversations."""
        req = c.request
        if req is None:
            template = self._templates.get(c.owner)
            if template is None:
                template = self._templates[c.owner] = RouteRequest.model_construct(
                    conversation_id="", workflow_id="", first_run_id="", step=1, opening=True, now=c.arrived_at,
                    account=c.owner.account, skill=c.owner.skill, customer="", channel=c.stream.channel,
                    priority=c.stream.priority, arrived_at=c.arrived_at, target=None, excluded=[],
                    policy_applies=True, backup_deadline=None, backup_handler=None, move=None,
                    fallback_deadline=None, fallback_to=None)
            req = c.request = template.model_copy(update=dict(
                conversation_id=c.id, workflow_id=c.id, customer=c.customer, channel=c.stream.channel,
                priority=c.stream.priority, now=self.now(), arrived_at=c.arrived_at, excluded=[]))
            return req
        fields = req.__dict__  # no validation to skip: plain assignment of values already checked
        fields.update(step=c.step, opening=False, now=self.now(), target=c.target, excluded=c.excluded,
                      policy_applies=c.policy_applies, backup_deadline=c.backup_deadline,
                      backup_handler=c.backup_handler)
        return req

    def _key(self, c: Conversation) -> tuple:
        return queue_order(c.stream.priority, c.arrived_at, c.id)

    def _explain(self, c: Conversation, events: list[Event]) -> None:
        """The rule that placed it (R3.6), its instant taken out so that reasons add up."""
        for event in events:
            if event.kind in ("rollover_decision", "rolled_over", "hero") and event.reason:
                c.why = event.reason

    def _release(self, c: Conversation) -> None:
        """A new step frees the old offer's slot and queue place (``store.capacity.free``)."""
        if c.offer is not None:
            agent, c.offer = c.offer, None
            agent.give_back(self.now())
            self._wake(agent, skip=c)
        if c.queued_in is not None:
            c.queued_in.remove(c.key)
            c.queued_in = None

    def _enqueue(self, c: Conversation, skill: SimSkill) -> None:
        if c.status != "queued":
            c.rechecks = 0
        c.status, c.key, c.queued_in = "queued", self._key(c), skill
        skill.enqueue(c.key, c)
        self._deadlines(c, recheck_after(c.rechecks, passed=bool(c.excluded)).total_seconds())  # the engine's net

    def _offer(self, c: Conversation, agent: SimAgent, skill: SimSkill) -> None:
        agent.take()
        c.status, c.offer, c.rechecks = "offered", agent, 0
        c.offers += 1
        timeout = skill_accept_timeout(self, skill.ref)
        self._deadlines(c, timeout)
        answer, after = agent.respond(timeout)
        if answer == "decline":
            self._later(c, after, lambda c: self._declined(c, agent))
        elif answer == "accept":
            self._later(c, after, lambda c: self._accepted(c, agent))
        # "expire": no answer; the offer runs out at its deadline (R2.2)

    def _deadlines(self, c: Conversation, due: float) -> None:
        """``Conversation._deadline``: the backup window, else the offer's expiry or the re-check."""
        now = self.env.now
        at = now + due
        if c.backup_deadline is not None:
            at = min(at, c.backup_deadline.timestamp() - self.t0)
        self._later(c, at - now, self._on_deadline)

    def _on_deadline(self, c: Conversation) -> None:
        if c.backup_deadline is not None and self.now() >= c.backup_deadline:
            self._route(c, "backup window closed")
        elif c.status == "offered":
            c.excluded = [*c.excluded, c.offer.id]
            self._route(c, "offer expired")
        elif c.status == "queued":
            c.excluded, c.rechecks = [], c.rechecks + 1
            self._route(c, "queue re-check")

    def _declined(self, c: Conversation, agent: SimAgent) -> None:
        c.excluded = [*c.excluded, agent.id]
        self._route(c, "declined")

    def _accepted(self, c: Conversation, agent: SimAgent) -> None:
        c.offer = None
        self._answered(c, agent, counted=True)

    def _answered(self, c: Conversation, agent: SimAgent, *, counted: bool) -> None:
        c.epoch += 1
        c.status, c.answered, c.agent, c.counted = "assigned", self.env.now, agent, counted
        self._waiting[c.owner] -= 1
        self.env.timeout(c.handle).callbacks.append(lambda _: self._close(c, counted))

    def _close(self, c: Conversation, counted: bool) -> None:
        c.status = "closed"
        agent = c.agent
        if counted:
            agent.give_back(self.now())
            self._wake(agent)

    def _abandon(self, c: Conversation) -> None:
        """The customer gives up before an agent accepted: the close frees what it held (R8.1)."""
        if c.status in ("assigned", "closed"):
            return
        self._release(c)
        c.epoch += 1
        c.status, c.abandoned = "closed", self.env.now
        self._waiting[c.owner] -= 1

    def _wake(self, agent: SimAgent, skip: Conversation | None = None) -> None:
        """Push wake-ups (DESIGN "Queues wake up"): the heads this agent could take route again."""
        for head in to_wake(agent, self.skills):
            if head is not skip:
                self._later(head, 0, lambda h: self._route(h, "woken") if h.status == "queued" else None)

    def _close_books(self) -> None:
        """The online spans still open end with the run (the report clips them to the days)."""
        for agent in self.agents.values():
            if agent.online:
                agent.spans.append((agent.online_since, self.env.now))
                agent.online_since = self.env.now


def skill_accept_timeout(sim: Simulation, ref: SkillRef) -> float:
    return sim.accounts[ref.account].skill(ref.skill).accept_timeout
