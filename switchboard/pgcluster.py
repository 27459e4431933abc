"""A throwaway PostgreSQL cluster in a temporary folder, for tests and the fault soak.

``initdb`` + ``postgres`` on a free port of 127.0.0.1, trust auth, no fsync (DESIGN "Servers on a
developer's machine"). ``missing()`` says why one cannot run here, so a caller can skip.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from switchboard.devserver import free_port

USER = "switchboard"
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None


def binary(name: str) -> str | None:
    """On PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH)."""
    installed = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return shutil.which(name) or max(installed, key=lambda path: int(Path(path).parents[1].name), default=None)


def _unprivileged() -> pwd.struct_passwd | None:
    """``initdb`` and ``postgres`` refuse to run as root: run them as ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def missing() -> str | None:
    """Why no cluster can run here, or None when one can."""
    if not (binary("initdb") and binary("postgres")):
        return "PostgreSQL binaries not found (initdb, postgres on PATH or in /usr/lib/postgresql/*/bin)"
    if os.geteuid() == 0 and _unprivileged() is None:
        return "running as root and there is no postgres or nobody user to run PostgreSQL as"
    return None


def _die_with_parent() -> None:
    """A killed run takes the cluster along (Linux). Called in the child after its switch of user
    (a switch clears the setting); libc is loaded beforehand, as the child cannot import."""
    _LIBC.prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


@contextmanager
def cluster() -> Iterator[str]:
    """A running cluster for the block; yields its base URL (no database name)."""
    if reason := missing():
        raise RuntimeError(reason)
    owner = _unprivileged()
    folder = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    if owner:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
    process = None
    try:
        made = subprocess.run([binary("initdb"), "-D", str(folder / "data"), "-U", USER, "-A", "trust", "-E", "UTF8",
                               "--no-sync"], capture_output=True, text=True, **run_as)
        if made.returncode:
            raise RuntimeError(f"initdb failed ({made.returncode}):\n{made.stderr[-2000:]}")
        port = free_port()
        with open(folder / "postgres.log", "wb") as log:
            process = subprocess.Popen(
                [binary("postgres"), "-D", str(folder / "data"), "-p", str(port), "-k", str(folder),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None, **run_as)
        _wait_for(port, process, folder / "postgres.log")
        yield f"postgresql+asyncpg://{USER}@127.0.0.1:{port}"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back, disconnect, stop
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with code {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"postgres did not listen on 127.0.0.1:{port} within {timeout:g}s")


async def create_database(base_url: str, name: str) -> str:
    """A new, empty database on the cluster at ``base_url``; returns its URL."""
    server = make_url(base_url)
    conn = await asyncpg.connect(host=server.host, port=server.port, user=USER, database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base_url}/{name}"
