"""`switchboard bench` at a tiny size: it runs end to end, prints every target of issue 14 with
its ratio or bound, and cleans up.

Behaviour only: the figures are timings of a shared machine, so only their presence and sign are
checked, and the counts that do not depend on timing (events, actions, runs, bytes).
"""

from __future__ import annotations

import re
import tempfile

from switchboard.bench import BILLABLE, extra, run_bench

TARGET_ROWS = [
    "conversations done/s, c=5", "with the server's SQLite file, c=5", "server CPU / conversation",
    "worker CPU / conversation", "start->offer p50, unloaded", "start->offer p99, c=5",
    "history events / conversation", "billable actions / conversation", "billable actions, backup rollover",
    "billable actions / transfer", "worker RSS, 20 open", "start->offer p50, 20 open", "idle CPU, 20 queued",
    "actions / 5 min, one queued (1st hour)", "replay of a run, 3 transfers", "history of one run (largest)",
    "carried state (largest)", "update result (accept, at the end)", "gateway start p50", "gateway accept p50",
]
MODE_ROWS = ["none", "fully_managed", "backup, owner online", "backup, no owner online", "schedule, in schedule",
             "hybrid, in schedule", "hybrid, off schedule", "backup, window closes (1 s)"]


def _row(table: str, label: str) -> str:
    found = [line for line in table.splitlines() if line.strip().startswith(label + " ")]
    assert found, f"no row {label!r} in:\n{table}"
    return found[0]


def _first_number(text: str) -> float:
    return float(re.search(r"\d+(\.\d+)?", text).group())


async def test_bench_prints_every_target_against_the_floor_of_the_same_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the bench makes its folder
    monkeypatch.setattr(extra, "IDLE_WINDOW", 1.0)  # the idle windows, with and without conversations open
    report = await run_bench(conversations=10, concurrency=5, floor=10, open_count=20, hops=3, on_file=True)
    table = capsys.readouterr().out

    for name in ("BenchEmpty", "BenchOneActivity"):
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", _row(table, name))]
        assert len(numbers) == 11 and all(n >= 0 for n in numbers[:9]), _row(table, name)
    for label in TARGET_ROWS:
        row = _row(table, label)
        assert _first_number(row.strip().removeprefix(label)) >= 0, row
        assert re.search(r"\d\.\d\dx |<= |>= |compact|of a core", row), row
    for case in MODE_ROWS:
        actions, events = _row(table, case).split()[-2:]
        assert float(actions) >= 4 and float(events) > float(actions), _row(table, case)
    assert all(kind in table for kind in BILLABLE), "the legend names every billable event type"
    assert "WorkflowTaskCompleted" in table, "the events by type, billable or not"

    assert report.routed.throughput > 0 and report.one_activity.throughput > 0 and report.on_file.routed > 0
    assert report.routed.cpu.worker > 0 and report.one_activity.cpu.server > 0
    assert report.routed.history.billable["WorkflowExecutionStarted"] == 1
    assert report.routed.history.billable["WorkflowExecutionUpdateAccepted"] == 2  # accept and close
    assert report.routed.history.types["MarkerRecorded"] == 2, "the route step and the release are local activities"
    assert "ActivityTaskScheduled" not in report.routed.history.types, "no activity task: the close is one task"
    assert report.routed.history.types["WorkflowTaskCompleted"] == 3, "start, accept, close: a task each"
    assert report.one_activity.history.actions == 2 and report.empty.history.actions == 1
    modes = {m.case: m for m in report.modes}
    assert modes["fully_managed"].handled_by.startswith("handler ")
    assert modes["backup, owner online"].handled_by.startswith("owner ")
    assert modes["backup, no owner online"].handled_by.startswith("handler ")
    assert modes["hybrid, off schedule"].handled_by.startswith("owner ")
    assert modes["backup, window closes (1 s)"].handled_by.startswith("handler ")
    assert report.transfers.history.billable["WorkflowExecutionUpdateAccepted"] == 2 + 2 * report.transfers.hops
    assert 0 < report.transfers.update_bytes < report.transfers.state_bytes, "an update answers compactly"
    assert report.transfers.replay_ms > 0 and report.transfers.largest_run_bytes > 0
    assert report.open.count == 20 and report.open.rss_mb > 0 and report.open.queued_actions_per_5min <= 1
    assert report.open.idle_floor.worker > 0 and report.open.idle_seconds == 1.0
    assert list(tmp_path.iterdir()) == [], "the bench removes its folder"
