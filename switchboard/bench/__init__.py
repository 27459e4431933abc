"""``switchboard bench``: what a routed conversation costs, next to the cheapest Temporal workflows.

Everything runs here and goes away at the end: a Temporal dev server in memory (one task-queue
partition; then a second one on its SQLite file for throughput), the worker in this process, a
fresh SQLite store in a temporary folder and a synthesized directory whose agents are online with
room to spare. Every target of issue 14 is printed with its ratio to the floor measured in the
same run (``figures`` has the targets):

1. The floor (``switchboard.bench_workflows``): an empty workflow and a one-activity workflow, unloaded (one at a time)
   and at the given concurrency, with the server's and the worker's CPU per workflow.
2. Routed conversations of an owner account with rollover ``none`` (``runs``): start -> offer
   latency, unloaded and loaded; conversations fully done per second; CPU, history events and
   billable actions per conversation, by event type.
3. One conversation per rollover mode, and a backup window that closes (a real rollover).
4. One conversation transferred many times (``extra``): runs, bytes, carried state, replay time.
5. The HTTP gateway in-process (ASGI) against the same calls made with the Temporal client.
6. Many conversations left open (queued): worker RSS, idle CPU, a new one's start -> offer.

An offer counts as seen when its ``holds`` row is in the database, which is what an agent's
workspace reads. One loop polls that table on a read-only connection of its own: polling the
``state`` query instead would make the worker answer queries while it is being measured.
"""

from switchboard.bench.figures import BILLABLE
from switchboard.bench.main import run_bench

__all__ = ["BILLABLE", "run_bench"]
