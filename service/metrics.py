"""Prometheus metrics (README "Metrics"): the Temporal SDK's own, the workflows' domain figures, the store's gauges.

The worker's Temporal ``Runtime`` records into a ``MetricBuffer`` (``telemetry_runtime``); its
client and worker use that runtime, so the SDK's metrics (task latencies, slots, polls) and what
``workflow.metric_meter()`` records in the workflows (``workflows.telemetry``) arrive in the
buffer. ``SdkMetrics`` drains it (on every scrape and every few seconds in between, so it never
fills) into cumulative Prometheus families. ``StoreMetrics`` exports ``store.metrics.figures``
from the database at scrape time, so every worker and gateway agrees. Each process has its own
``CollectorRegistry``: nothing global.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio.runtime import (BUFFERED_METRIC_KIND_COUNTER, BUFFERED_METRIC_KIND_GAUGE, MetricBuffer,
                                MetricBufferDurationFormat, Runtime, TelemetryConfig)

from store import Store
from store import metrics as store_metrics
from workflows.telemetry import METRICS

log = logging.getLogger(__name__)

BUFFER_SIZE = 100_000  # updates between drains; the drain runs far more often than this fills
DRAIN_EVERY = 2.0  # seconds
SDK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STORE_QUERY_TIMEOUT = 5.0

# The store's gauges: name -> (help, SkillFigures attribute).
STORE_GAUGES = {
    "switchboard_queue_length": ("Conversations waiting in the skill's queue", "queue_length"),
    "switchboard_queue_oldest_wait_seconds": ("How long the oldest conversation in the queue has waited",
                                              "oldest_wait_seconds"),
    "switchboard_conversations_held": ("Conversations offered or assigned to an agent of the skill", "held"),
    "switchboard_agents_online": ("Active agents online with the skill", "agents_online"),
    "switchboard_agent_load": ("Conversations those online agents hold, across their skills", "agent_load"),
    "switchboard_agent_capacity": ("Slots of those online agents (unlimited agents count none)", "agent_capacity"),
    "switchboard_agents_unlimited": ("Online agents of unlimited capacity (bots) with the skill", "unlimited_agents"),
}


def telemetry_runtime() -> tuple[Runtime, MetricBuffer]:
    """A Temporal runtime whose metrics go to a buffer this process drains (durations in seconds)."""
    buffer = MetricBuffer(BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer, attach_service_name=False))
    return runtime, buffer


@dataclass
class _Series:
    kind: str
    help: str
    buckets: tuple[float, ...] = ()
    labels: tuple[str, ...] | None = None  # a domain metric's fixed labels; None: all the SDK gives
    values: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)
    counts: dict[tuple[tuple[str, str], ...], list[int]] = field(default_factory=dict)
    sums: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)


class SdkMetrics(Collector):
    """The runtime's buffered updates, as cumulative counters, gauges and histograms."""

    def __init__(self, buffer: MetricBuffer) -> None:
        self._buffer = buffer
        self._series: dict[str, _Series] = {}

    def drain(self) -> None:
        for update in self._buffer.retrieve_updates():
            metric = update.metric
            series = self._series.get(metric.name)
            if series is None:
                domain = METRICS.get(metric.name)
                kind = ("counter" if metric.kind == BUFFERED_METRIC_KIND_COUNTER else
                        "gauge" if metric.kind == BUFFERED_METRIC_KIND_GAUGE else "histogram")
                series = self._series[metric.name] = _Series(
                    kind, metric.description or (domain.help if domain else metric.name),
                    domain.buckets if domain and domain.buckets else SDK_BUCKETS, domain.labels if domain else None)
            attributes = update.attributes
            key = tuple(sorted((k, str(v)) for k, v in attributes.items()
                               if series.labels is None or k in series.labels))
            value = float(update.value)
            if series.kind == "counter":
                series.values[key] = series.values.get(key, 0.0) + value
            elif series.kind == "gauge":
                series.values[key] = value
            else:
                counts = series.counts.setdefault(key, [0] * (len(series.buckets) + 1))
                counts[next((i for i, bound in enumerate(series.buckets) if value <= bound), len(series.buckets))] += 1
                series.sums[key] = series.sums.get(key, 0.0) + value

    def collect(self) -> Iterator[Metric]:
        self.drain()
        for name in sorted(self._series):
            series = self._series[name]
            keys = list(series.values) if series.kind != "histogram" else list(series.counts)
            labels = sorted(series.labels or {k for key in keys for k, _ in key})
            family: Metric
            if series.kind == "counter":
                family = CounterMetricFamily(name, series.help, labels=labels)
            elif series.kind == "gauge":
                family = GaugeMetricFamily(name, series.help, labels=labels)
            else:
                family = HistogramMetricFamily(name, series.help, labels=labels)
            for key in keys:
                values = [dict(key).get(label, "") for label in labels]
                if isinstance(family, HistogramMetricFamily):
                    counts, running, buckets = series.counts[key], 0, []
                    for bound, n in zip([*map(str, series.buckets), "+Inf"], counts):
                        running += n
                        buckets.append((bound, running))
                    family.add_metric(values, buckets, series.sums[key])
                else:
                    family.add_metric(values, series.values[key])
            yield family


class StoreMetrics(Collector):
    """``store.metrics.figures`` as gauges; ``refresh`` (on the event loop) reads them before a scrape."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._figures: dict[tuple[str, str], store_metrics.SkillFigures] | None = None

    async def refresh(self) -> None:
        try:
            self._figures = await asyncio.wait_for(
                store_metrics.figures(self._store, datetime.now(timezone.utc)), STORE_QUERY_TIMEOUT)
        except Exception as exc:  # the database is away: the scrape still answers, without these
            log.warning("store metrics unavailable: %s", exc)
            self._figures = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("switchboard_store_up", "1 if the last read of the store's figures succeeded")
        up.add_metric([], 0 if self._figures is None else 1)
        yield up
        if self._figures is None:
            return
        for name, (text, attribute) in STORE_GAUGES.items():
            family = GaugeMetricFamily(name, text, labels=["account", "skill"])
            for (account, skill), figures in sorted(self._figures.items()):
                family.add_metric([account, skill], getattr(figures, attribute))
            yield family


class Exporter:
    """One process's registry: what it can export, and the text of a scrape."""

    def __init__(self, *, store: Store | None = None, buffer: MetricBuffer | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.sdk = SdkMetrics(buffer) if buffer is not None else None
        self.store: StoreMetrics | None = None
        if self.sdk is not None:
            self.registry.register(self.sdk)
        if store is not None:
            self.watch_store(store)

    def watch_store(self, store: Store) -> None:
        """Export the store's gauges too (once; the gateway learns its store after start)."""
        if self.store is None:
            self.store = StoreMetrics(store)
            self.registry.register(self.store)

    async def scrape(self) -> bytes:
        if self.store is not None:
            await self.store.refresh()
        return generate_latest(self.registry)

    async def drain_forever(self) -> None:
        """Keep the runtime's buffer from filling between scrapes."""
        while self.sdk is not None:
            await asyncio.sleep(DRAIN_EVERY)
            try:
                self.sdk.drain()
            except Exception as exc:  # a scrape drains again; never stop the worker for this
                log.warning("could not drain the SDK's metrics: %s", exc)
