"""One way to connect to Temporal: the same data converter for client, worker and replayer, the
connection options of the Temporal profile (``service.config.temporal_profile``: address,
namespace, TLS or mTLS, API key) and, when tracing is on, the tracing interceptor."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from service import tracing
from service.config import Settings


async def connect(settings: Settings | None = None, *, address: str | None = None,
                  runtime: Runtime | None = None) -> Client:
    """``address`` overrides the profile's (``switchboard dev`` runs its own server); ``runtime``
    is the worker's, whose telemetry exports the SDK's metrics."""
    settings = settings or Settings.from_env()
    options = dict(settings.temporal)
    if address is not None:  # a local dev server: plain, whatever the profile says of the real one
        options = {k: v for k, v in options.items() if k == "rpc_metadata"}
    return await Client.connect(address or settings.temporal_address, namespace=settings.namespace,
                                data_converter=pydantic_data_converter, runtime=runtime,
                                interceptors=tracing.interceptors(), **options)
