"""M/M/c (and M/M/c+M) as a directory and a traffic file, and the figures the theory speaks of,
measured over independent replications with a confidence interval (docs/whatif.md)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date

from routing.directory import Directory
from whatif.sim import Simulation
from whatif.traffic import Traffic

# Student's t, two-sided 99 %, by degrees of freedom (replications - 1).
T99 = {3: 5.841, 4: 4.604, 5: 4.032, 6: 3.707, 7: 3.499, 8: 3.355, 9: 3.250, 11: 3.106, 15: 2.947, 19: 2.861}


def directory(c: int) -> Directory:
    """One always-open skill with ``c`` identical agents of capacity 1, online, no policy."""
    return Directory.model_validate({"accounts": [{
        "id": "mmc", "brand": {"name": "M/M/c"}, "skills": [{"id": "queue"}],
        "agents": [{"id": f"agent-{i:03d}", "skills": ["queue"], "status": "online"} for i in range(c)]}]})


def traffic(per_hour: float, handle: float, patience: float | None, days: int, seed: int, target: float) -> Traffic:
    stream = {"account": "mmc", "skill": "queue", "per_hour": per_hour, "handle": {"mean": handle}}
    if patience is not None:
        stream["patience"] = {"mean": patience}
    return Traffic.model_validate({"start": date(2026, 1, 5), "days": days, "seed": seed, "service_level": target,
                                   "streams": [stream]})


@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float  # of the 99 % confidence interval

    def holds(self, value: float) -> bool:
        return abs(value - self.mean) <= self.half_width


def _estimate(samples: list[float]) -> Estimate:
    return Estimate(statistics.fmean(samples), T99[len(samples) - 1] * statistics.stdev(samples) / math.sqrt(len(samples)))


def replicate(c: int, per_hour: float, handle: float, patience: float | None, *, days: int, replications: int,
              target: float = 20.0, seed: int = 1) -> dict[str, Estimate]:
    """Mean wait in queue (answered or given up, over everyone), service level and abandoned
    share of each replication, as 99 % confidence intervals across replications."""
    waits, levels, gone = [], [], []
    for r in range(replications):
        sim = Simulation(directory(c), traffic(per_hour, handle, patience, days, seed * 1000 + r, target))
        convs = sim.run()
        waits.append(statistics.fmean(w for c in convs if (w := c.queued_for) is not None))
        levels.append(sum(1 for c in convs if (w := c.wait) is not None and w <= target) / len(convs))
        gone.append(sum(1 for c in convs if c.abandoned is not None) / len(convs))
    return {"mean_wait": _estimate(waits), "service_level": _estimate(levels), "abandoned": _estimate(gone)}


CASES = (  # (agents, arrivals per hour, handle s, patience s or None): docs/whatif.md's table
    (1, 6, 300, None), (5, 42, 300, None), (10, 96, 300, None),
    (5, 60, 300, 120), (10, 120, 300, 180),
)


def main() -> None:
    """Print docs/whatif.md's comparison table: ``python -m whatif.mmc [days] [replications]``."""
    import sys

    from whatif.erlang import erlang_a, erlang_c

    days, reps = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (5, 10)
    print(f"{reps} replications of {days} days each, 99 % confidence intervals; service level: answered within 20 s\n")
    print("| model | agents | offered/h | handle | patience | figure | theory | simulated | agrees |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c, per_hour, handle, patience in CASES:
        rate = per_hour / 3600
        theory = erlang_c(c, rate, handle, 20) if patience is None else erlang_a(c, rate, handle, patience, 20)
        measured = replicate(c, per_hour, handle, patience, days=days, replications=reps)
        figures = [("mean wait (s)", theory.mean_wait, "mean_wait", 1), ("service level", theory.service_level,
                                                                         "service_level", 3)]
        if patience is not None:
            figures.append(("abandoned", theory.abandoned, "abandoned", 3))
        for name, value, key, digits in figures:
            est = measured[key]
            print(f"| {'Erlang C' if patience is None else 'Erlang A'} | {c} | {per_hour} | {handle}s | "
                  f"{f'{patience}s' if patience else '-'} | {name} | {value:.{digits}f} | "
                  f"{est.mean:.{digits}f} ± {est.half_width:.{digits}f} | {'yes' if est.holds(value) else 'no'} |")


if __name__ == "__main__":
    main()
