"""The conversation's domain metrics (README "Metrics"), counted from its timeline.

Every event a conversation records goes through ``ConversationState.extend``, so the timeline is
the one place to count from: ``Telemetry.observe`` looks at the events the state gained since it
last looked and records them on ``workflow.metric_meter()``. That meter is replay safe (nothing is
recorded while a worker replays a history), and recording adds no command, so the same history
still gives the same commands. Labels are ``account`` and ``skill`` (where the event happened)
and a few bounded ones; never a customer, an agent or a message.

``METRICS`` is the catalogue: the worker's exporter reads it for label names and buckets, and the
README, the Grafana dashboard and their tests check against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import MetricCounter, MetricHistogramFloat

if TYPE_CHECKING:
    from workflows.state import ConversationState

WHERE = ("account", "skill")
WAIT_BUCKETS = (1.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1800.0)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter | histogram | gauge
    help: str
    labels: tuple[str, ...] = WHERE
    buckets: tuple[float, ...] = ()


# The figures the workflows record (the store's gauges are in ``store.metrics``).
STARTED = Metric("switchboard_conversations_started_total", "counter",
                 "Conversations started, by owner account and skill and channel", (*WHERE, "channel"))
CLOSED = Metric("switchboard_conversations_closed_total", "counter", "Conversations closed, by where they were")
QUEUED = Metric("switchboard_queued_total", "counter", "Times a conversation entered a queue with nobody to offer to")
OFFERS_MADE = Metric("switchboard_offers_made_total", "counter", "Offers made to an agent")
OFFERS = Metric("switchboard_offers_total", "counter",
                "Offers ended, by outcome: accepted, declined, expired, withdrawn (R3.3/R6.4 windows)",
                (*WHERE, "outcome"))
ROLLOVERS = Metric("switchboard_rollovers_total", "counter",
                   "Rollover decisions by the owner's account and skill, mode and reason: the policy's placement "
                   "(reason: its SPEC rule) and backup rollovers (reason: backup_no_owner_online, "
                   "backup_window_closed)",
                   (*WHERE, "mode", "reason"))
TRANSFERS = Metric("switchboard_transfers_total", "counter",
                   "Transfers by outcome: transferred (to the destination), fallback (R6.4: to its fallback)",
                   (*WHERE, "outcome"))
ROLLBACKS = Metric("switchboard_rollbacks_total", "counter", "Rollbacks to an owner skill (R4), by that skill")
OFFER_WAIT = Metric("switchboard_offer_wait_seconds", "histogram",
                    "Time from a conversation's arrival to its first offer", buckets=WAIT_BUCKETS)
WAIT = Metric("switchboard_wait_seconds", "histogram",
              "Time from a conversation's arrival to its first acceptance (the service level: the share "
              "under a bucket's bound)", buckets=WAIT_BUCKETS)
METRICS = {m.name: m for m in (STARTED, CLOSED, QUEUED, OFFERS_MADE, OFFERS, ROLLOVERS, TRANSFERS, ROLLBACKS,
                               OFFER_WAIT, WAIT)}

OFFER_ENDS = {"accepted": "accepted", "declined": "declined", "offer_expired": "expired",
              "offer_withdrawn": "withdrawn"}
_RULE = re.compile(r"^R\d+(\.\d+)?$")


def seen(s: ConversationState | None) -> int:
    """How many events the conversation has recorded in all its runs."""
    return 0 if s is None else s.earlier_events + len(s.timeline)


class Telemetry:
    """Counts a conversation's new timeline events. Made when the run's state exists: the events
    of a state carried across continue-as-new (it has been routed: a step) were counted by the run
    that recorded them; a new conversation's (step 0) are this run's to count."""

    def __init__(self, s: ConversationState | None) -> None:
        self._seen = seen(s) if s is not None and s.step > 0 else 0
        self._made: dict[str, MetricCounter | MetricHistogramFloat] = {}

    def observe(self, s: ConversationState | None) -> None:
        total = seen(s)
        if s is None or total <= self._seen:
            return
        fresh = min(total - self._seen, len(s.timeline))
        self._seen = total
        for i in range(len(s.timeline) - fresh, len(s.timeline)):
            self._record(s, i)

    def _record(self, s: ConversationState, i: int) -> None:
        event = s.timeline[i]
        where = {"account": event.account or s.account, "skill": event.skill or s.skill}

        def count(metric: Metric, **labels: str) -> None:
            counter = self._metric(metric)
            assert isinstance(counter, MetricCounter)
            counter.add(1, {**where, **labels})

        def waited(metric: Metric, kind: str) -> None:
            if any(e.kind == kind for e in s.timeline[:i]):
                return  # the first one only
            histogram = self._metric(metric)
            assert isinstance(histogram, MetricHistogramFloat)
            histogram.record(max((event.at - s.arrived_at).total_seconds(), 0.0), where)

        kind = event.kind
        if kind == "started":
            count(STARTED, account=s.account, skill=s.skill, channel=s.channel)
        elif kind == "closed":
            count(CLOSED)
        elif kind == "queued":
            count(QUEUED)
        elif kind == "offered":
            count(OFFERS_MADE)
            waited(OFFER_WAIT, "offered")
        elif kind in OFFER_ENDS:
            count(OFFERS, outcome=OFFER_ENDS[kind])
            if kind == "accepted":
                waited(WAIT, "accepted")
        elif kind == "rollover_decision":
            rule = (event.reason or "").split(" ", 1)[0]
            count(ROLLOVERS, mode=s.rollover_mode or "none", reason=rule if _RULE.match(rule) else "other")
        elif kind == "rolled_over":  # labelled by the owner, like the decision (the event names the handler)
            why = "backup_no_owner_online" if "online" in (event.reason or "") else "backup_window_closed"
            count(ROLLOVERS, account=s.account, skill=s.skill, mode=s.rollover_mode or "backup", reason=why)
        elif kind == "transferred":
            count(TRANSFERS, outcome="transferred")
        elif kind == "transfer_fallback":
            count(TRANSFERS, outcome="fallback")
        elif kind == "rolled_back":
            count(ROLLBACKS)

    def _metric(self, metric: Metric) -> MetricCounter | MetricHistogramFloat:
        made = self._made.get(metric.name)
        if made is None:
            meter = workflow.metric_meter()
            made = (meter.create_counter(metric.name, metric.help) if metric.kind == "counter"
                    else meter.create_histogram_float(metric.name, metric.help, "s"))
            self._made[metric.name] = made
        return made
