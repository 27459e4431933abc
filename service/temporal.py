"""One way to connect to Temporal: the same data converter for client, worker and replayer."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from service.config import Settings


async def connect(settings: Settings | None = None, *, address: str | None = None) -> Client:
    settings = settings or Settings.from_env()
    return await Client.connect(address or settings.temporal_address, namespace=settings.namespace,
                                data_converter=pydantic_data_converter)
