"""Benchmark of the what-if simulator (issue 13, "Speed"): a day of about 100,000 conversations
over 50 owner skills, every routing step by the engine's own ``routing.plan.decide``, against a
floor measured in the same run: the same number of bare SimPy arrival and service events.

    python -m whatif.bench [--conversations 100000] [--skills 50]      (make bench-whatif)
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date
from typing import Any

import simpy

from routing.directory import Directory
from whatif.report import build
from whatif.sim import Simulation
from whatif.traffic import Traffic

MODES = ("none", "backup", "schedule", "hybrid", "fully_managed")
SKILLS_PER_BRAND = 5
# A contact-center day in local time: quiet at night, peaks mid-morning and mid-afternoon.
SHAPE = [1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 9, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1]
ZONES = ("America/New_York", "Europe/London", "Europe/Berlin", "America/Chicago", "Asia/Tokyo")


def directory(skills: int, agents_per_skill: int = 8) -> Directory:
    """Brands of five skills each, with a policy of every mode in turn, all handled by one BPO."""
    brands, bpo_skills, bpo_agents = [], [], []
    for b in range(max(skills // SKILLS_PER_BRAND, 1)):
        brand, owned, agents = f"brand-{b:02d}", [], []
        for k in range(SKILLS_PER_BRAND):
            skill, mode = f"skill-{k}", MODES[(b * SKILLS_PER_BRAND + k) % len(MODES)]
            policy: dict[str, Any] = {"mode": mode}
            if mode != "none":
                policy["handler"] = {"account": "bpo", "skill": f"{brand}-{skill}"}
            if mode in ("schedule", "hybrid"):
                policy["schedule"] = "off_hours"
            owned.append({"id": skill, "hours": {"mon-fri": "08:00-20:00"}, "rollover": policy})
            bpo_skills.append({"id": f"{brand}-{skill}"})
            agents += [{"id": f"{brand}-{skill}-{i}", "skills": [skill], "capacity": 2, "status": "online"}
                       for i in range(agents_per_skill)]
            bpo_agents += [{"id": f"bpo-{brand}-{skill}-{i}", "skills": [f"{brand}-{skill}"], "capacity": 3,
                            "status": "online"} for i in range(3)]
        brands.append({"id": brand, "brand": {"name": brand}, "timezone": ZONES[b % len(ZONES)],
                       "skills": owned, "agents": agents})
    bpo_agents.append({"id": "bpo-bot", "kind": "bot", "capacity": None, "status": "online",
                       "skills": [s["id"] for s in bpo_skills]})
    brands.append({"id": "bpo", "brand": {"name": "BPO"}, "skills": bpo_skills, "agents": bpo_agents})
    return Directory.model_validate({"accounts": brands})


def traffic(d: Directory, conversations: int) -> Traffic:
    owners = [(a.id, s.id) for a in d.accounts if a.id != "bpo" for s in a.skills]
    per_hour = conversations / 24 / len(owners)
    return Traffic.model_validate({
        "start": date(2026, 12, 7), "seed": 1, "service_level": "20s",
        "answer": {"time": {"mean": "5s"}, "decline": 0.03, "no_answer": 0.02},
        "streams": [{"account": a, "skill": s, "per_hour": per_hour, "shape": SHAPE,
                     "handle": {"mean": "4m", "dist": "lognormal", "cv": 0.7},
                     "patience": {"mean": "3m"}} for a, s in owners]})


def floor(conversations: int, seed: int = 1) -> float:
    """Seconds for the bare events: one arrival and one service timeout per conversation."""
    rng, env = random.Random(seed), simpy.Environment()
    served = [0]

    def done(_: object) -> None:
        served[0] += 1

    def arrive(_: object) -> None:
        env.timeout(rng.expovariate(1 / 240)).callbacks.append(done)

    began = time.perf_counter()
    t = 0.0
    for _ in range(conversations):
        t += rng.expovariate(conversations / 86_400)
        env.timeout(t).callbacks.append(arrive)
    env.run()
    assert served[0] == conversations
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000, help="conversations in the day")
    parser.add_argument("--skills", type=int, default=50, help="owner skills (five per brand)")
    args = parser.parse_args()
    d = directory(args.skills)
    t = traffic(d, args.conversations)
    began, cpu = time.perf_counter(), time.process_time()
    sim = Simulation(d, t)
    convs = sim.run()
    run = time.perf_counter() - began
    report = build(sim, convs)
    total, total_cpu = time.perf_counter() - began, time.process_time() - cpu
    steps = sum(c.step for c in convs)
    cpu = time.process_time()
    bare = floor(len(convs))
    bare_cpu = time.process_time() - cpu
    totals = report["totals"]
    print(f"what-if day: {len(convs):,} conversations over {len(report['skills'])} owner skills, "
          f"{steps:,} routing steps by routing.plan.decide")
    print(f"  simulate  {run:8.2f} s  ({len(convs) / run:,.0f} conversations/s, {steps / run:,.0f} steps/s)")
    print(f"  report    {total - run:8.2f} s")
    print(f"  total     {total:8.2f} s wall, {total_cpu:.2f} s CPU (one core); target: under 60 s")
    print(f"  floor     {bare:8.2f} s wall, {bare_cpu:.2f} s CPU (bare SimPy: {2 * len(convs):,} arrival and "
          "service events)")
    print(f"  ratio     {total_cpu / bare_cpu:8.1f} x the floor (CPU)")
    print(f"  day: answered {totals['answered']:,}, abandoned {totals['abandoned']:,}, "
          f"service level {totals['service_level']:.1%}, mean wait {totals['mean_wait_s']}s")


if __name__ == "__main__":
    main()
