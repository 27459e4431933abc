"""Record the ``Conversation`` histories that ``tests/test_replay.py`` replays (``make histories``).

Each scenario runs once, on a fresh in-memory Temporal dev server with a real worker and a fresh
SQLite store, and the finished workflow's history goes to ``tests/histories/<scenario>.json``.
Ids and the task queue are fixed, so a re-run records the same story (timestamps aside).

Re-record to add a scenario or after a change that keeps old histories replaying
(``workflow.patched``), never to make a failing replay test pass: a failure there means running
conversations would break on deploy. The one exception is a documented breaking release
(CHANGELOG "Versioning"): its old corpus moves to ``histories/<version>/`` and keeps replaying on
the worker build that drains it, and the new code records a new corpus.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.routing import wake
from routing.directory import SkillRef
from routing.model import StartConversation
from store import Store, directory, presence
from store import heroes as stored_heroes
from service import conversations, heroes
from workflows.state import ConversationState
from switchboard.devserver import free_port, start_dev_server, stop, wait_until_serving
from worker import build_worker

HISTORIES = Path(__file__).parent / "histories"
RECONCILER = HISTORIES / "reconciler"  # the Reconciler workflow's corpus
TASK_QUEUE = "switchboard-replay"

DIRECTORY = """
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    skills:
      - id: sales
        accept_timeout: 30s
        transfer_targets: [{account: parts, skill: service}]
      - id: quick
        accept_timeout: 2s
      - id: care
        idle_timeout: 2s
      - id: parts
        rollover: {mode: backup, handler: {account: bpo, skill: acme-care}, backup_window: 60s}
      - id: claims
        rollover: {mode: fully_managed, handler: {account: bpo, skill: acme-care}}
      - id: service
        accept_timeout: 30s
        rollover: {mode: backup, handler: {account: bpo, skill: acme-care}, backup_window: 2s}
    agents:
      - {id: ann, skills: [sales, quick, care, claims, service], capacity: 3, status: online}
      - {id: mia, role: manager, skills: [sales]}
      - {id: bob, skills: [sales, quick], capacity: 3, status: online}
      - {id: cat, skills: [parts], capacity: 1, status: offline}
  - id: parts
    brand: {name: Parts Co}
    timezone: Europe/Berlin
    skills:
      - id: service
    agents:
      - {id: pia, skills: [service], capacity: 2, status: online}
  - id: bpo
    brand: {name: Answer Bureau}
    timezone: UTC
    skills:
      - id: acme-care
    agents:
      - {id: zed, skills: [acme-care], capacity: 5, status: online}
      - {id: max, role: manager, skills: [acme-care]}
"""


class Scenario:
    """One conversation driven to its end on a fresh store and worker."""

    def __init__(self, name: str, client: Client, store: Store) -> None:
        self.name, self.client, self.store = name, client, store

    async def start(self, account: str, skill: str, **extra: Any) -> WorkflowHandle:
        start = StartConversation(conversation_id=f"replay-{self.name}", account=account, skill=skill,
                                  channel="web", customer="cust-1", **extra)
        return await conversations.start(self.client, start, TASK_QUEUE)

    async def until(self, handle: WorkflowHandle, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(20):
            while not predicate(view := await handle.query("state")):
                await asyncio.sleep(0.05)
        return view

    async def offered(self, handle: WorkflowHandle, *, not_to: str | None = None) -> str:
        view = await self.until(handle, lambda v: v["status"] == "offered" and v["offer"]["agent"] != not_to)
        return view["offer"]["agent"]

    async def set_status(self, agent: str, status: str) -> None:
        await wake(self.client, await presence.set_status(self.store, agent, status, datetime.now(timezone.utc)))

    async def accept_and_close(self, handle: WorkflowHandle, agent: str) -> None:
        await handle.execute_update("accept", {"agent": agent})
        await handle.execute_update("close", {"by": agent, "reason": "resolved"})


# ---- the scenarios, named after the SPEC rules they exercise --------------------------------------

async def offered_accepted_closed(s: Scenario) -> WorkflowHandle:  # R1.1, R2.2, R8.1
    handle = await s.start("acme", "sales", first_message="Hi")
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def accepted_for_the_full_view(s: Scenario) -> WorkflowHandle:  # R2.2, R5.6: the gateway's accept
    handle = await s.start("acme", "sales")
    agent = await s.offered(handle)
    await handle.execute_update("accept", {"agent": agent, "view": "full"})
    await handle.execute_update("close", {"by": agent, "view": "full"})
    return handle


async def declined_then_accepted(s: Scenario) -> WorkflowHandle:  # R2.2
    handle = await s.start("acme", "sales")
    first = await s.offered(handle)
    await handle.execute_update("decline", {"agent": first, "reason": "wrong language"})
    await s.accept_and_close(handle, await s.offered(handle, not_to=first))
    return handle


async def offer_expired_then_next_agent(s: Scenario) -> WorkflowHandle:  # R2.2, accept_timeout 2s
    handle = await s.start("acme", "quick")
    first = await s.offered(handle)
    await s.accept_and_close(handle, await s.offered(handle, not_to=first))
    return handle


async def queued_then_woken(s: Scenario) -> WorkflowHandle:  # R2.3: push wake-up, not the re-check
    for agent in ("ann", "bob"):
        await s.set_status(agent, "offline")
    handle = await s.start("acme", "sales")
    await s.until(handle, lambda v: v["status"] == "queued")
    await s.set_status("bob", "online")
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def closed_while_queued(s: Scenario) -> WorkflowHandle:  # R8.1
    for agent in ("ann", "bob"):
        await s.set_status(agent, "offline")
    handle = await s.start("acme", "sales")
    await s.until(handle, lambda v: v["status"] == "queued")
    await handle.execute_update("close", {"by": "admin", "reason": "customer left"})
    return handle


async def invalid_signal_rejected(s: Scenario) -> WorkflowHandle:  # R2.5
    handle = await s.start("acme", "sales")
    agent = await s.offered(handle)
    await handle.signal("accept", {"agent": "nobody"})
    await s.until(handle, lambda v: v["timeline"][-1]["kind"] == "rejected")
    await handle.signal("accept", {"agent": agent})
    await s.until(handle, lambda v: v["status"] == "assigned")
    await handle.signal("close", {"by": agent, "reason": "resolved"})
    return handle


async def unknown_skill_refused(s: Scenario) -> WorkflowHandle:  # R1.3: the run fails
    return await s.start("acme", "nope")


async def backup_rolls_over_to_handler(s: Scenario) -> WorkflowHandle:  # R3.3: no owner agent online
    handle = await s.start("acme", "parts")
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def fully_managed(s: Scenario) -> WorkflowHandle:  # R3.2
    handle = await s.start("acme", "claims")
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def idle_timeout_closes(s: Scenario) -> WorkflowHandle:  # R8.1, idle_timeout 2s
    handle = await s.start("acme", "care")
    await handle.execute_update("accept", {"agent": await s.offered(handle)})
    return handle


async def rolled_back_after_supervision(s: Scenario) -> WorkflowHandle:  # R4.1, R4.2, R5.2, R5.4
    handle = await s.start("acme", "claims")
    await handle.execute_update("accept", {"agent": await s.offered(handle)})
    await handle.execute_update("join", {"manager": "mia"})
    await handle.execute_update("private_message", {"from": "max", "to": "zed", "text": "hand it back"})
    await handle.execute_update("rollback", {"by": "zed", "note": "needs the owner"})
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def backup_window_withdraws_the_offer(s: Scenario) -> WorkflowHandle:  # R3.3: window 2s < offer 30s
    handle = await s.start("acme", "service")
    await s.offered(handle)
    await s.accept_and_close(handle, await s.offered(handle, not_to="ann"))
    return handle


async def transfer_chain(s: Scenario) -> WorkflowHandle:  # R6.1, R6.2, R6.5: there and back
    handle = await s.start("acme", "sales")
    first = await s.offered(handle)
    await handle.execute_update("accept", {"agent": first})
    await handle.execute_update("transfer", {"by": first, "account": "parts", "skill": "service",
                                             "note": "brake kit", "warm_message": "Passing you to Parts"})
    await handle.execute_update("accept", {"agent": await s.offered(handle)})
    await handle.execute_update("transfer", {"by": "pia", "account": "acme", "skill": "sales", "agent": first})
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def transfer_refused_then_closed(s: Scenario) -> WorkflowHandle:  # R6.1: a refusal is an answer
    handle = await s.start("acme", "sales")
    first = await s.offered(handle)
    await handle.execute_update("accept", {"agent": first})
    try:
        await handle.execute_update("transfer", {"by": first, "skill": "no-such-skill"})
    except WorkflowUpdateFailedError:
        pass  # refused by the store, as a result of the route step, not a failed activity
    await handle.execute_update("close", {"by": first, "reason": "resolved"})
    return handle


async def hero_offered_first(s: Scenario) -> WorkflowHandle:  # R7.1
    await stored_heroes.set_hero(s.store, "acme", "cust-1", agent="bob")
    handle = await s.start("acme", "sales")
    await s.accept_and_close(handle, await s.offered(handle))
    return handle


async def hero_replaced_moves_it(s: Scenario) -> WorkflowHandle:  # R7.4: a hint, checked with the store
    await stored_heroes.set_hero(s.store, "acme", "cust-1", agent="ann")
    handle = await s.start("acme", "sales")
    await handle.execute_update("accept", {"agent": await s.offered(handle)})
    await heroes.set_hero(s.store, s.client, "acme", "cust-1", agent="bob")
    await s.accept_and_close(handle, await s.offered(handle, not_to="ann"))
    return handle


async def malformed_signals_rejected(s: Scenario) -> WorkflowHandle:  # R9.2: no input, two, bytes, unknown
    handle = await s.start("acme", "sales")
    agent = await s.offered(handle)
    await handle.signal("accept")
    await handle.signal("accept", args=[{"agent": agent}, {"agent": agent}])
    await handle.signal("close", b"\x00\xff")
    await handle.signal("agent_deactivated", agent)  # a hint the store refutes: the agent is active
    await handle.signal("no_such_signal", {})
    await s.until(handle, lambda v: sum(e["kind"] == "rejected" for e in v["timeline"]) >= 5)
    await s.accept_and_close(handle, agent)
    return handle


async def continued_run_routes_its_pending_step(s: Scenario) -> WorkflowHandle:  # continue-as-new carries it
    start = StartConversation(conversation_id=f"replay-{s.name}", account="acme", skill="sales", channel="web",
                              customer="cust-1")
    now = datetime.now(timezone.utc)
    carried = ConversationState.opened(start, now, now).model_copy(update={
        "status": "routing", "pending": "declined", "excluded": ["ann"], "step": 1,
        "target": SkillRef(account="acme", skill="sales")})
    handle = await s.client.start_workflow(
        "Conversation", args=[start.model_dump(mode="json"), carried.model_dump(mode="json")],
        id=f"conversation-{start.conversation_id}", task_queue=TASK_QUEUE)
    await s.accept_and_close(handle, await s.offered(handle, not_to="ann"))
    return handle


SCENARIOS: dict[str, Callable[[Scenario], Awaitable[WorkflowHandle]]] = {
    "r1_r2_r8-offered-accepted-closed": offered_accepted_closed,
    "r2_2-declined-then-accepted": declined_then_accepted,
    "r2_2-accepted-asking-for-the-full-view": accepted_for_the_full_view,
    "r2_2-offer-expired-then-next-agent": offer_expired_then_next_agent,
    "r2_3-queued-then-woken": queued_then_woken,
    "r8_1-closed-while-queued": closed_while_queued,
    "r2_5-invalid-signal-rejected": invalid_signal_rejected,
    "r1_3-unknown-skill-refused": unknown_skill_refused,
    "r3_3-backup-rolls-over-to-handler": backup_rolls_over_to_handler,
    "r3_2-fully-managed": fully_managed,
    "r8_1-idle-timeout-closes": idle_timeout_closes,
    "r4_1-rolled-back-after-supervision": rolled_back_after_supervision,
    "r3_3-backup-window-withdraws-the-offer": backup_window_withdraws_the_offer,
    "r6-transfer-chain-there-and-back": transfer_chain,
    "r6_1-transfer-refused-then-closed": transfer_refused_then_closed,
    "r7_1-hero-offered-first": hero_offered_first,
    "r7_4-hero-replaced-moves-it": hero_replaced_moves_it,
    "r9_2-malformed-signals-rejected": malformed_signals_rejected,
    "r8_2-continued-run-routes-its-pending-step": continued_run_routes_its_pending_step,
}


async def record(name: str, client: Client, folder: Path) -> str:
    """Run one scenario on its own store and worker; return the workflow's final status."""
    store = await Store.open(f"sqlite+aiosqlite:///{folder / f'{name}.db'}")
    try:
        await directory.save(store, directory.parse_text(DIRECTORY, "replay-directory"))
        async with build_worker(client, store, TASK_QUEUE), asyncio.timeout(60):
            handle = await SCENARIOS[name](Scenario(name.replace("_", "-"), client, store))
            try:
                outcome = (await handle.result())["status"]
            except WorkflowFailureError as failure:
                outcome = f"failed: {failure.cause}"
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        return f"{outcome}, {len(history.events)} events"
    finally:
        await store.close()


async def record_sweep(client: Client, folder: Path) -> str:
    """One ``Reconciler`` sweep (its pages, then the wake-up of what waits for room)."""
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'reconciler.db'}")
    try:
        await directory.save(store, directory.parse_text(DIRECTORY, "replay-directory"))
        async with build_worker(client, store, TASK_QUEUE), asyncio.timeout(60):
            handle = await client.start_workflow("Reconciler", id="reconciler-sweep", task_queue=TASK_QUEUE)
            swept = await handle.result()
        history = await handle.fetch_history()
        RECONCILER.mkdir(exist_ok=True)
        (RECONCILER / "sweep.json").write_text(history.to_json())
        return f"{swept}, {len(history.events)} events"
    finally:
        await store.close()


async def main(names: list[str]) -> None:
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)  # R1.3's refusal is expected
    HISTORIES.mkdir(exist_ok=True)
    port = free_port()
    server = start_dev_server(port=port, ui_port=None, db_file=None, die_with_parent=True)
    try:
        await wait_until_serving(port, server)
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        with tempfile.TemporaryDirectory() as folder:
            for name in names or [*SCENARIOS, "reconciler"]:
                recorded = await (record_sweep(client, Path(folder)) if name == "reconciler"
                                  else record(name, client, Path(folder)))
                print(f"{name}: {recorded}")
    finally:
        stop(server)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
