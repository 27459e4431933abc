"""The processes a fault soak runs and hurts: a Temporal dev server on a persistence file, W
``switchboard worker`` processes, and the database they share. All on 127.0.0.1, all in one folder.

Workers are supervised: one that exits without being told to (say the server was away too long)
is started again and counted, so an unplanned exit shows in the figures instead of ending the run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from switchboard.devserver import _die_with_parent, free_port, start_dev_server, stop, wait_until_serving

BIN = Path(sys.executable).parent


class Stack:
    """The dev server and the workers of one soak; ``close()`` stops them all, whatever happened."""

    def __init__(self, folder: Path, database_url: str, workers: int) -> None:
        self.folder, self.database_url = folder, database_url
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.task_queue = f"soak-{folder.name}"
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.wanted: list[bool] = [False] * workers  # False while a worker is down on purpose
        self.unplanned_exits = 0
        self.kills = self.server_restarts = 0

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, TEMPORAL_ADDRESS=self.address, SWITCHBOARD_DATABASE_URL=self.database_url,
                    SWITCHBOARD_TASK_QUEUE=self.task_queue, TEMPORAL_NAMESPACE="default")

    async def start_server(self) -> None:
        self.server = start_dev_server(port=self.port, ui_port=None, db_file=str(self.folder / "temporal.db"),
                                       log_file=str(self.folder / "temporal.log"), die_with_parent=True)
        await wait_until_serving(self.port, self.server)

    async def restart_server(self, sig: signal.Signals, pause: float) -> None:
        """Stop the server with ``sig`` and start it again on the same port and file."""
        assert self.server is not None
        self.server.send_signal(sig)
        await asyncio.to_thread(self._reap, self.server, 20)
        await asyncio.sleep(pause)
        await self.start_server()
        self.server_restarts += 1

    async def load_directory(self, file: Path) -> None:
        """``switchboard directory load FILE``: migrates the store too."""
        done = await asyncio.to_thread(subprocess.run, [str(BIN / "switchboard"), "directory", "load", str(file)],
                                       env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"switchboard directory load failed ({done.returncode}):\n{done.stderr[-2000:]}")

    def start_worker(self, index: int) -> None:
        log = open(self.folder / f"worker-{index}.log", "ab")
        self.workers[index] = subprocess.Popen(
            [str(BIN / "switchboard"), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        log.close()  # the child has its own descriptor
        self.wanted[index] = True

    async def wait_for_pollers(self, client: Client, timeout: float = 60.0) -> None:
        """Until every worker polls for workflow tasks, so the load does not begin with a backlog."""
        request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=self.task_queue),
                                           task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            pollers = (await client.workflow_service.describe_task_queue(request)).pollers
            if len(pollers) >= len(self.workers):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{len(self.workers)} worker(s) did not poll {self.task_queue!r} within {timeout:g}s; "
                           f"see {self.folder}/worker-*.log")

    async def kill_worker(self, index: int, pause: float) -> None:
        """kill -9 one worker, and start it again after ``pause`` seconds."""
        self.wanted[index] = False
        process = self.workers[index]
        if process is not None and process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait)
        self.kills += 1
        await asyncio.sleep(pause)
        self.start_worker(index)

    async def supervise(self) -> None:
        """Restart workers that exited on their own; runs until cancelled."""
        while True:
            await asyncio.sleep(0.5)
            for index, process in enumerate(self.workers):
                if self.wanted[index] and process is not None and process.poll() is not None:
                    self.unplanned_exits += 1
                    self.start_worker(index)  # no pause: a worker takes seconds to start anyway

    def close(self) -> None:
        """Stop every worker and the server: synchronous, so it also runs on Ctrl-C."""
        for process in self.workers:
            if process is not None:
                if process.poll() is None:
                    process.terminate()
                self._reap(process, 15)
        if self.server is not None:
            stop(self.server)

    @staticmethod
    def _reap(process: subprocess.Popen, timeout: float) -> None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
