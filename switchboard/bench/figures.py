"""The bench's figures: latencies, history counts, CPU, bytes, and the issue's targets."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

# History events that Temporal Cloud bills as one action each (for the plain cases measured here).
BILLABLE = ("WorkflowExecutionStarted", "ActivityTaskScheduled", "TimerStarted", "WorkflowExecutionSignaled",
            "WorkflowExecutionUpdateAccepted", "UpsertWorkflowSearchAttributes", "MarkerRecorded",
            "StartChildWorkflowExecutionInitiated", "WorkflowExecutionContinuedAsNew")

# Targets from issue 14, each a ratio to the floor measured in the same run (or an absolute bound).
TARGET_THROUGHPUT = 0.6  # conversations/s >= 0.6 of the one-activity floor's workflows/s
TARGET_CPU = 2.0  # server and worker CPU per conversation <= 2x the floor's per workflow
TARGET_OFFER_P50 = 1.2  # unloaded start->offer p50 <= 1.2x the one-activity floor's p50
TARGET_LOADED_P99 = 2.0  # start->offer p99 at c=20 <= 2x the floor's p99
TARGET_EVENTS = 20  # history events for a conversation offered once, accepted and closed
TARGET_ACTIONS = 7  # billable actions for the same
TARGET_ROLLOVER_ACTIONS = 10  # a backup rollover
TARGET_TRANSFER_ACTIONS = 5  # a transfer, beyond the conversation
TARGET_OPEN_RSS_MB = 1024  # worker RSS with the open conversations
TARGET_OPEN_P50 = 1.5  # start->offer p50 with them open, vs unloaded
TARGET_REPLAY_MS = 100  # replaying one run of a long conversation
TARGET_QUEUED_ACTIONS_PER_5MIN = 1.0
TARGET_CARRY_BYTES = 64 * 1024
TARGET_RUN_BYTES = 1_000_000
TARGET_GATEWAY = 1.3  # gateway p50 vs the same call made with the Temporal client


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with 20 samples, p95 is the 19th and p99 the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Latency:
    """Seconds per run; ``p(50)`` etc."""

    samples: list[float]

    def p(self, q: float) -> float:
        return percentile(self.samples, q)


@dataclass
class History:
    """Mean history events and billable actions per workflow over a sample, by event type."""

    events: float
    actions: float
    billable: dict[str, float]
    types: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, histories: list[Counter[str]]) -> History:
        n = len(histories)
        total = sum(histories, Counter())
        billable = {kind: total[kind] / n for kind in BILLABLE if total[kind]}
        types = {kind: count / n for kind, count in total.most_common()}
        return cls(events=total.total() / n, actions=sum(billable.values()), billable=billable, types=types)


@dataclass
class Cpu:
    """CPU seconds spent by the Temporal server and by this process (the worker) over a phase."""

    server: float = 0.0
    worker: float = 0.0

    def per(self, n: int) -> Cpu:
        return Cpu(self.server / n, self.worker / n)


@dataclass
class Floor:
    name: str
    unloaded: Latency
    loaded: Latency
    throughput: float
    history: History
    cpu: Cpu  # per workflow, in the loaded run


@dataclass
class Routed:
    unloaded: Latency
    loaded: Latency
    throughput: float
    history: History
    accepts: int  # accept updates sent in the loaded run
    early_accepts: int  # of which refused because the workflow had not yet taken the offer in
    cpu: Cpu  # per conversation, in the loaded run (the offer watch's reads left out of the worker's)
    watch_cpu: float = 0.0  # seconds per conversation the offer watch's reads cost this process (not counted)


@dataclass
class ModeRun:
    case: str
    mode: str
    handled_by: str
    history: History


@dataclass
class Transfers:
    """One conversation transferred ``hops`` times inside the owner account, each accepted."""

    hops: int
    history: History  # all runs together
    runs: int = 1  # runs (continue-as-new) it took
    largest_run_bytes: int = 0  # the largest single run's history, serialized
    replay_ms: float = 0.0  # replaying the largest run
    carried_bytes: int = 0  # the largest state carried into a next run
    update_bytes: int = 0  # the last accept's result
    state_bytes: int = 0  # the ``state`` query at the end, before the close


@dataclass
class GatewayRun:
    """Requests through the HTTP gateway: seconds per successful request."""

    start_unloaded: Latency
    start_loaded: Latency
    accept_unloaded: Latency
    accept_loaded: Latency
    early_accepts: int  # accepts answered 409 NoOffer (offer seen before the workflow had it), retried
    client_start: Latency  # the same start made with the gateway's Temporal connection, unloaded
    client_accept: Latency  # ... and the same accept update


@dataclass
class OpenRun:
    """``count`` conversations left open (queued: nobody is online for their skill)."""

    count: int
    rss_mb: float  # worker RSS with them open
    idle_cpu: Cpu  # per second of an idle window with them open
    idle_floor: Cpu  # per second of the same window before they were started (nothing open)
    idle_seconds: float
    offer: Latency  # a new conversation's start->offer, one at a time, with them open
    queued_actions_per_5min: float  # of one queued conversation over its first hour (its timer schedule)


@dataclass
class Pair:
    """Throughput of the floor and of conversations on a server with its SQLite file."""

    floor: float
    routed: float


@dataclass
class Report:
    conversations: int
    concurrency: int
    floor_count: int
    empty: Floor
    one_activity: Floor
    routed: Routed
    modes: list[ModeRun]
    transfers: Transfers
    gateway: GatewayRun
    open: OpenRun | None
    on_file: Pair | None
    rss_after_floor: float  # MB
    rss_after_run: float  # MB
    wall_time: float = 0.0
