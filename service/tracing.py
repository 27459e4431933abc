"""Traces (README "Tracing"): OpenTelemetry, exported over OTLP/HTTP, configured by the standard
``OTEL_*`` variables, off unless an OTLP endpoint is named.

When on, every Temporal client of the process carries the SDK's ``TracingInterceptor`` (a worker
inherits it from its client), and the gateway's FastAPI app is instrumented, so one trace follows
``POST /conversations`` into the workflow and its activities. When off nothing of OpenTelemetry's
SDK is even imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_provider: TracerProvider | None = None


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """On when an OTLP endpoint is given, unless ``OTEL_SDK_DISABLED`` or ``OTEL_TRACES_EXPORTER=none``."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(env.get(name) for name in ENDPOINTS)


def provider() -> TracerProvider | None:
    """This process's tracer provider, made at first use when tracing is on (None when off).

    Its own, not OpenTelemetry's global one, so that a library's spans are ours only when asked.
    The exporter reads its endpoint, headers, timeout and compression from ``OTEL_EXPORTER_OTLP_*``;
    the service name is ``OTEL_SERVICE_NAME`` (default ``switchboard``)."""
    global _provider
    if _provider is None and enabled():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "switchboard")}).merge(
            OTELResourceDetector().detect())
        _provider = TracerProvider(resource=resource)
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return _provider


def interceptors() -> list[Any]:
    """The client (and so worker) interceptors: the SDK's tracing one when tracing is on."""
    traces = provider()
    if traces is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(traces.get_tracer("switchboard"))]


def instrument(app: Any) -> None:
    """Spans for the gateway's requests, parents of the client's Temporal spans."""
    traces = provider()
    if traces is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=traces, excluded_urls="healthz,readyz,metrics")


def shutdown() -> None:
    """Export what is buffered and stop (at the end of a process, or of a test)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
