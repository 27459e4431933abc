"""``switchboard simulate`` as a planner drives it (CONTRACT "What-if simulator"): the report, its
JSON keys, ``--compare``, the chart file; bad files and bad ``--policy`` values exit 2 naming the
problem, without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from switchboard.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DIRECTORY, TRAFFIC = str(EXAMPLES / "directory.yaml"), str(EXAMPLES / "traffic.yaml")


def simulate(*args: str):
    return CliRunner().invoke(main, ["simulate", *args])


def test_the_example_day_prints_per_skill_and_per_handler() -> None:
    result = simulate("--directory", DIRECTORY, "--traffic", TRAFFIC, "--intervals")
    assert result.exit_code == 0, result.output
    out = result.output
    for words in ("acme/sales", "umbrella/orders", "rolled over", "handler", "bpo", "by interval"):
        assert words in out
    assert "R3.5 hybrid: is inside Mon 17:00-24:00" in out  # why, by rule and window, without the instant


def test_json_has_the_contract_keys() -> None:
    result = simulate("--directory", DIRECTORY, "--traffic", TRAFFIC, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for skill in report["skills"]:
        assert {"account", "skill", "offered", "answered", "abandoned", "mean_wait_s", "service_level",
                "rolled_over"} <= skill.keys()
        assert skill["answered"] + skill["abandoned"] + skill["unanswered"] + skill["refused"] == skill["offered"]
        assert 0 <= skill["service_level"] <= 1
    assert sum(h["answered"] for h in report["handlers"]) == report["totals"]["answered"]


def test_compare_runs_each_policy_on_the_same_traffic_and_charts_them(tmp_path: Path) -> None:
    page, svg = tmp_path / "day.html", tmp_path / "day.svg"
    args = ["--directory", DIRECTORY, "--traffic", TRAFFIC, "--compare",
            "--policy", "acme/sales=backup:20s", "--policy", "acme/sales=fully_managed"]
    result = simulate(*args, "--chart", str(page))
    assert result.exit_code == 0, result.output
    assert "as in the directory" in result.output and "acme/sales=fully_managed" in result.output
    report = json.loads(simulate(*args, "--json", "--chart", str(svg)).output)
    sales = [next(s for s in run["skills"] if s["skill"] == "sales") for run in report["runs"]]
    assert len({s["offered"] for s in sales}) == 1  # the same customers under every policy
    assert sales[2]["rolled_over_share"] > sales[0]["rolled_over_share"]
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 2 * len(report["skills"])  # SL, waiting
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert svg.read_text().startswith("<svg") and "polyline" in svg.read_text()


@pytest.mark.parametrize("text, words", [
    ("start: 2026-12-07\nstreams: []\n", ["traffic.yaml:2", "streams", "at least 1 item"]),
    ("start: 2026-12-07\nstreams:\n  - {account: acme, skill: sales, per_hour: 5}\n",
     ["traffic.yaml:3", "streams.0.handle", "missing key"]),
    ("start: 2026-12-07\nstreams:\n  - {account: acme, skill: nope, per_hour: 5, handle: {mean: 5m}}\n",
     ["traffic.yaml:3", "streams.0.skill", "no skill 'nope'"]),
    ("start: 2026-12-07\nstreams:\n  - {account: acme, skill: sales, per_hour: 5,\n     handle: {mean: soon}}\n",
     ["traffic.yaml:4", "streams.0.handle.mean", "not a duration"]),
    ("start: 2026-12-07\nspeed: 3\nstreams:\n  - {account: acme, skill: sales, per_hour: 5, handle: {mean: 5m}}\n",
     ["traffic.yaml:2", "speed", "unknown key"]),
    ("start: 2026-12-07\nstreams: [\n", ["traffic.yaml", "not valid YAML"]),
    ("start: 2026-12-07\ndays: 31\nstreams:\n  - {account: acme, skill: sales, per_hour: 9000, handle: {mean: 5m}}\n",
     ["traffic.yaml:1", "conversations in all", "at most 2,000,000"]),
    ("start: 2026-12-07\nagents: [{id: nobody}]\nstreams:\n  - {account: acme, skill: sales, per_hour: 5, "
     "handle: {mean: 5m}}\n", ["traffic.yaml:2", "agents.0.id", "no agent 'nobody'"]),
])
def test_bad_traffic_files_exit_2_naming_line_and_key(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "traffic.yaml"
    path.write_text(text)
    result = simulate("--directory", DIRECTORY, "--traffic", str(path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    for word in words:
        assert word in result.output


@pytest.mark.parametrize("policy, words", [
    ("acme/sales=maybe", "unknown mode 'maybe'"),
    ("acme/phone=backup", "has no rollover handler"),
    ("acme-sales", "expected ACCOUNT/SKILL=MODE"),
])
def test_bad_policies_exit_2(policy: str, words: str) -> None:
    result = simulate("--directory", DIRECTORY, "--traffic", TRAFFIC, "--policy", policy)
    assert result.exit_code == 2 and words in result.output, result.output


def test_two_policies_for_one_skill_need_compare() -> None:
    result = simulate("--directory", DIRECTORY, "--traffic", TRAFFIC,
                      "--policy", "acme/sales=hybrid", "--policy", "acme/sales=none")
    assert result.exit_code == 2 and "use --compare" in result.output


def test_a_chart_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    result = simulate("--directory", DIRECTORY, "--traffic", TRAFFIC, "--chart", str(tmp_path / "no" / "day.html"))
    assert result.exit_code == 2 and "cannot write" in result.output


def test_a_missing_traffic_file_exits_2() -> None:
    result = simulate("--directory", DIRECTORY, "--traffic", "/nonexistent/traffic.yaml")
    assert result.exit_code == 2 and "cannot read" in result.output
