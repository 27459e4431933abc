"""`switchboard bench` at a tiny size: it runs end to end, prints every row, and cleans up.

Behaviour only: the figures are timings of a shared machine, so only their sign is checked.
"""

from __future__ import annotations

import re
import tempfile

from switchboard.bench import BILLABLE, run_bench

ROUTED_ROWS = [
    "start->offer p50, unloaded", "start->offer p95, unloaded", "start->offer p99, unloaded",
    "start->offer p50, c=5", "start->offer p95, c=5", "start->offer p99, c=5",
    "conversations done/s, c=5", "history events / conversation", "billable actions / conversation",
    "worker RSS after the run",
]
MODE_ROWS = ["none", "fully_managed", "backup, owner online", "backup, no owner online", "schedule, in schedule",
             "hybrid, in schedule", "hybrid, off schedule"]


def _row(table: str, label: str) -> str:
    found = [line for line in table.splitlines() if line.strip().startswith(label + " ")]
    assert found, f"no row {label!r} in:\n{table}"
    return found[0]


def _first_number(text: str) -> float:
    return float(re.search(r"\d+(\.\d+)?", text).group())


async def test_bench_prints_the_floor_the_routed_figures_and_every_rollover_mode(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the bench makes its folder
    report = await run_bench(conversations=10, concurrency=5, floor=10)
    table = capsys.readouterr().out

    for name in ("BenchEmpty", "BenchOneActivity"):
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", _row(table, name))]
        assert len(numbers) == 9 and all(n > 0 for n in numbers), _row(table, name)
    for label in ROUTED_ROWS:
        row = _row(table, label)
        assert _first_number(row.removeprefix("  " + label)) > 0, row
        assert "x one-activity" in row or "% of one-activity" in row or "after the floor" in row, row
    for target in ("<= 1.5x", ">= 50%", "<= 7"):
        assert target in table
    for case in MODE_ROWS:
        actions, events = _row(table, case).split()[-2:]
        assert float(actions) >= 4 and float(events) > float(actions), _row(table, case)
    assert all(kind in table for kind in BILLABLE), "the legend names every billable event type"

    assert report.routed.throughput > 0 and report.one_activity.throughput > 0
    assert report.routed.unloaded.p(50) > 0 and report.routed.loaded.p(99) > 0
    assert report.routed.history.billable["WorkflowExecutionStarted"] == 1
    assert report.routed.history.billable["WorkflowExecutionUpdateAccepted"] == 2  # accept and close
    assert report.one_activity.history.actions == 2 and report.empty.history.actions == 1
    modes = {m.case: m for m in report.modes}
    assert modes["fully_managed"].handled_by.startswith("handler ")
    assert modes["backup, owner online"].handled_by.startswith("owner ")
    assert modes["backup, no owner online"].handled_by.startswith("handler ")
    assert modes["hybrid, off schedule"].handled_by.startswith("owner ")
    per_transfer = _row(table, "billable actions / transfer (beyond one routed conversation)")
    assert _first_number(per_transfer.split(")")[-1]) >= 3, per_transfer  # transfer update, route, accept
    assert report.transfers.history.billable["WorkflowExecutionUpdateAccepted"] == 2 + 2 * report.transfers.hops
    assert list(tmp_path.iterdir()) == [], "the bench removes its folder"
