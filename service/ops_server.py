"""The worker's operations port (CONTRACT "Operations"): ``/metrics`` and ``/healthz`` over plain HTTP.

A small asyncio server on the worker's own event loop, so a scrape reads the store there (no
threads) and stops with the worker. ``/healthz`` answers 200 while the worker runs, 503 once it is
stopping: what a container's healthcheck asks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST

from service.metrics import Exporter

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0
MAX_REQUEST = 8192  # bytes of request line and headers: a scrape sends a few hundred


@asynccontextmanager
async def serve(exporter: Exporter, host: str, port: int, *, healthy: Callable[[], bool]) -> AsyncIterator[int]:
    """Serve until the block ends; yields the port (0 picks a free one)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method = ""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            method, path = (head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
            path = path.split("?", 1)[0]
            status, kind, body = _route(method, path)
            if status == 200 and path == "/metrics":
                body = await exporter.scrape()
            elif status == 200 and not healthy():
                status, body = 503, b"stopping\n"
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            status, kind, body = 400, "text/plain", b"bad request\n"
        except Exception as exc:  # a scrape that failed: say so, keep serving
            log.warning("metrics scrape failed: %s", exc)
            status, kind, body = 500, "text/plain", b"scrape failed\n"
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  500: "Internal Server Error", 503: "Service Unavailable"}[status]
        try:
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, port, limit=MAX_REQUEST)
    drain = asyncio.create_task(exporter.drain_forever())
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        drain.cancel()
        server.close()
        await server.wait_closed()


def _route(method: str, path: str) -> tuple[int, str, bytes]:
    if path not in ("/metrics", "/healthz"):
        return 404, "text/plain", b"not found: /metrics, /healthz\n"
    if method not in ("GET", "HEAD"):
        return 405, "text/plain", b"GET only\n"
    return 200, CONTENT_TYPE_LATEST if path == "/metrics" else "text/plain", b"ok\n"
