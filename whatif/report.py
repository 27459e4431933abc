"""What a simulated run comes to, per owner skill and per handler, by interval and for the run
(CONTRACT "What-if simulator" fixes the JSON keys ``skills``, ``account``, ``skill``, ``offered``,
``answered``, ``abandoned``, ``mean_wait_s``, ``service_level``, ``rolled_over``; the rest grows
with the design, docs/whatif.md).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from routing.directory import SkillRef
from routing.hours import zone
from whatif.conversation import Conversation
from whatif.people import SimAgent
from whatif.sim import Simulation

# ``routing.hours.describe`` ("Mon 18:05 America/New_York ") inside a reason: taken out so that
# the reasons of a whole day add up by rule and window.
_INSTANT = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2}:\d{2} [A-Za-z0-9_+\-/]+ ")


def reason_key(reason: str | None) -> str:
    return _INSTANT.sub("", reason or "no rule recorded")


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def figures(conversations: list[Conversation], target: float) -> dict[str, Any]:
    """Offered, answered, abandoned, waits and service level of some conversations."""
    waits = [w for c in conversations if (w := c.wait) is not None]
    offered = len(conversations)
    within = sum(1 for w in waits if w <= target)
    return {
        "offered": offered,
        "answered": len(waits),
        "abandoned": sum(1 for c in conversations if c.abandoned is not None),
        "refused": sum(1 for c in conversations if c.refused),
        "unanswered": sum(1 for c in conversations if c.answered is None and c.abandoned is None and not c.refused),
        "service_level": round(within / offered, 4) if offered else None,
        "mean_wait_s": _round(_mean(waits)),
        "p90_wait_s": _round(p90(waits)),
    }


def build(sim: Simulation, conversations: list[Conversation], policy: str = "as in the directory") -> dict[str, Any]:
    """The report of one run (one policy)."""
    by_skill: dict[SkillRef, list[Conversation]] = defaultdict(list)
    for c in conversations:
        by_skill[c.owner].append(c)
    target = sim.traffic.service_level
    skills = [_skill(sim, ref, convs, target) for ref, convs in sorted(by_skill.items(), key=lambda kv: str(kv[0]))]
    return {"policy": policy, "seed": sim.seed, "start": sim.traffic.start.isoformat(), "days": sim.traffic.days,
            "service_level_target_s": target, "interval_s": sim.traffic.interval,
            "totals": figures(conversations, target), "skills": skills, "handlers": _handlers(sim, conversations)}


def _skill(sim: Simulation, ref: SkillRef, convs: list[Conversation], target: float) -> dict[str, Any]:
    rolled = [c for c in convs if c.handler is not None]
    heroes = [c for c in convs if c.hero is not None]
    hits = [c for c in heroes if c.agent is not None and _hero_hit(c)]
    entry = {"account": ref.account, "skill": ref.skill, **figures(convs, target),
             "rolled_over": len(rolled), "rolled_over_share": round(len(rolled) / len(convs), 4) if convs else None,
             "rolled_over_why": dict(Counter(reason_key(c.why) for c in rolled).most_common()),
             "modes": dict(Counter(c.mode or "none" for c in convs).most_common()),
             "hero_conversations": len(heroes),
             "hero_hit_rate": round(len(hits) / len(heroes), 4) if heroes else None,
             "answered_by": dict(Counter(c.agent.account for c in convs if c.agent).most_common()),
             "intervals": _intervals(sim, ref, convs, target)}
    return entry


def _hero_hit(c: Conversation) -> bool:
    """Answered by the hero agent, or (a hero team) by a member of the hero inbox (R7.1)."""
    if c.hero.agent is not None:
        return c.agent.id == c.hero.agent
    return c.hero.inbox in c.agent.agent.skills and c.agent.account == c.hero.account


def _grid(sim: Simulation, account: str) -> tuple[list[float], list[str], float]:
    """The report intervals of the simulated days in ``account``'s local time: their starts in
    simulated seconds, their labels, and the end of the last one."""
    tz, size = zone(sim.accounts[account].timezone), sim.traffic.interval
    starts, labels = [], []
    for d in range(sim.traffic.days):
        day = sim.traffic.start + timedelta(days=d)
        for slot in range(int(86_400 // size)):
            minute = slot * size / 60
            starts.append(sim.wall(day, minute, tz))
            labels.append(f"{day.isoformat()} {int(minute) // 60:02d}:{int(minute) % 60:02d}")
    return starts, labels, sim.wall(sim.traffic.start + timedelta(days=sim.traffic.days), 0, tz)


def _overlaps(spans: list[tuple[float, float, float]], starts: list[float], end: float) -> list[float]:
    """Per interval, the sum of ``weight * overlap`` of the (from, to, weight) spans."""
    totals = [0.0] * len(starts)
    bounds = starts + [end]
    for lo, hi, weight in spans:
        i = max(bisect.bisect_right(starts, lo) - 1, 0)
        while i < len(starts) and bounds[i] < hi:
            totals[i] += weight * max(min(hi, bounds[i + 1]) - max(lo, bounds[i]), 0.0)
            i += 1
    return totals


def _occupancy(grid: tuple[list[float], list[str], float], agents: list[SimAgent],
               convs: list[Conversation]) -> tuple[list[dict[str, Any]], float | None]:
    """Occupancy by interval (of ``grid``) and over the simulated days: busy over online slot-time
    of ``agents`` with a capacity (bots have none; what runs past the days is not counted)."""
    starts, labels, end = grid
    capped = {a.id: a for a in agents if a.agent.capacity is not None}
    answers = [(c, c.answered) for c in convs if c.answered is not None]
    busy = _overlaps([(at, at + c.handle, 1.0) for c, at in answers
                      if c.counted and c.agent is not None and c.agent.id in capped], starts, end)
    online = _overlaps([(lo, hi, float(a.agent.capacity or 0)) for a in capped.values() for lo, hi in a.spans],
                       starts, end)
    answered = Counter(labels[i] for _, at in answers if (i := bisect.bisect_right(starts, at) - 1) >= 0 and at < end)
    rows = [{"start": label, "answered": answered.get(label, 0), "occupancy": round(b / o, 4) if o else None}
            for label, b, o in zip(labels, busy, online)]
    return rows, (round(sum(busy) / sum(online), 4) if sum(online) else None)


def _intervals(sim: Simulation, ref: SkillRef, convs: list[Conversation], target: float) -> list[dict[str, Any]]:
    """By arrival interval in the owner's local time; ``waiting``: mean conversations waiting
    (queued or offered) over the interval, sampled each minute."""
    starts, labels, end = _grid(sim, ref.account)

    def label(t: float) -> str | None:
        i = bisect.bisect_right(starts, t) - 1
        return labels[i] if i >= 0 and t < end else None

    buckets: dict[str | None, list[Conversation]] = defaultdict(list)
    for c in convs:
        buckets[label(c.arrived)].append(c)
    waiting: dict[str | None, list[int]] = defaultdict(list)
    for t, counts in sim.samples:
        waiting[label(t)].append(counts.get(ref, 0))
    keys = list(dict.fromkeys(labels))  # in the order of the day
    return [{"start": k, **figures(buckets.get(k, []), target),
             "rolled_over": sum(1 for c in buckets.get(k, []) if c.handler is not None),
             "answered_by": dict(Counter(c.agent.account for c in buckets.get(k, []) if c.agent)),
             "waiting": _round(_mean(waiting.get(k, [])), 2)} for k in keys]


def _handlers(sim: Simulation, conversations: list[Conversation]) -> list[dict[str, Any]]:
    """Per account that answered: workload and occupancy (busy slot-time over online slot-time
    of its agents with a capacity; bots, unlimited, have none)."""
    answered: dict[str, list[Conversation]] = defaultdict(list)
    for c in conversations:
        if c.agent is not None:
            answered[c.agent.account].append(c)
    rows = []
    for account, convs in sorted(answered.items()):
        agents = [a for a in sim.agents.values() if a.account == account]
        mine: dict[str, list[Conversation]] = defaultdict(list)
        for c in convs:
            mine[c.agent.id].append(c)
        grid = _grid(sim, account)  # the handler's own local days
        intervals, occupancy = _occupancy(grid, agents, convs)
        rows.append({
            "account": account, "answered": len(convs),
            "owners": dict(Counter(str(c.owner) for c in convs).most_common()),
            "handle_hours": round(sum(c.handle for c in convs) / 3600, 2),
            "occupancy": occupancy, "intervals": intervals,
            "agents": [{"agent": a.id, "answered": len(mine[a.id]), "occupancy": _occupancy(grid, [a], mine[a.id])[1]}
                       for a in agents if a.id in mine],
        })
    return rows
