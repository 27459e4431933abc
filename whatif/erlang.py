"""Queueing theory to hold the simulator to (issue 13, "Proof against queueing theory").

Erlang C: M/M/c, Poisson arrivals at ``rate`` per second, exponential handle times of mean
``handle`` seconds, ``c`` identical agents, nobody abandons. Erlang A: the same with exponential
patience of mean ``patience`` (M/M/c+M, Palm 1943; Garnett, Mandelbaum and Reiman 2002), computed
from its birth-death chain; its service level by uniformizing the queue a newcomer sees (PASTA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Queueing:
    """What theory expects of one skill: the share that waits at all, the mean wait (in queue,
    over every customer), the service level (share of all answered within ``target``) and the
    share that abandons."""

    p_wait: float
    mean_wait: float
    service_level: float
    abandoned: float = 0.0


def erlang_b(c: int, load: float) -> float:
    """Blocking probability of c servers under ``load`` erlangs (the stable recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(c: int, rate: float, handle: float, target: float) -> Queueing:
    load = rate * handle
    if load >= c:
        raise ValueError(f"{load:g} erlangs on {c} agents: the queue grows without bound")
    b = erlang_b(c, load)
    p_wait = c * b / (c - load * (1 - b))
    drain = c / handle - rate  # the queue empties at this rate once everyone is busy
    return Queueing(p_wait=p_wait, mean_wait=p_wait / drain, service_level=1 - p_wait * math.exp(-drain * target))


def erlang_a(c: int, rate: float, handle: float, patience: float, target: float) -> Queueing:
    mu, theta = 1 / handle, 1 / patience
    pi = _stationary(c, rate, mu, theta)
    queued = sum((n - c) * p for n, p in enumerate(pi) if n > c)
    p_wait = sum(pi[c:])
    # Little on the queue: mean time in queue of every arrival; abandonment: rate theta per waiter.
    return Queueing(p_wait=p_wait, mean_wait=queued / rate, service_level=_answered_within(pi, c, mu, theta, target),
                    abandoned=theta * queued / rate)


def _stationary(c: int, rate: float, mu: float, theta: float, tail: float = 1e-13) -> list[float]:
    """Stationary law of the number in system, truncated where its tail is negligible."""
    weights, w, n = [1.0], 1.0, 0
    while True:
        n += 1
        w *= rate / (min(n, c) * mu + max(n - c, 0) * theta)
        weights.append(w)
        if n > c and w < tail * sum(weights):
            break
    total = sum(weights)
    return [x / total for x in weights]


def _answered_within(pi: list[float], c: int, mu: float, theta: float, target: float) -> float:
    """P(answered within ``target``). A newcomer finding n >= c is at queue position k = n-c+1;
    position k moves up at rate c*mu + (k-1)*theta (a service, or someone ahead gives up) and the
    newcomer gives up at rate theta. Uniformized at rate ``big``: jumps are Poisson(big*target)."""
    at_once = sum(pi[:c])
    positions = [0.0] + [pi[c - 1 + k] for k in range(1, len(pi) - c + 1)]  # position k's share
    top = len(positions) - 1
    big = c * mu + top * theta
    mean = big * target
    served, total, jumps = 0.0, 0.0, int(mean + 12 * math.sqrt(mean) + 30)
    log_weight = -mean  # log Poisson(0; mean)
    v = positions[:]
    for n in range(jumps + 1):
        if n:
            log_weight += math.log(mean) - math.log(n)
            nxt = [0.0] * (top + 1)
            for k in range(1, top + 1):
                if v[k]:
                    up = (c * mu + (k - 1) * theta) / big
                    nxt[k - 1] += v[k] * up
                    nxt[k] += v[k] * (1 - up - theta / big)
            served += nxt[0]
            nxt[0] = 0.0
            v = nxt
        total += math.exp(log_weight) * served
    return at_once + total
