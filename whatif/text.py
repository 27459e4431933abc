"""The report as a planner reads it in a terminal: one table per run, or (``--compare``) each
owner skill with one row per policy, side by side."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


_HEAD = f"{'':<28} {'offered':>7} {'answered':>8} {'abandoned':>9} {'SL':>6} {'mean':>7} {'p90':>7} " \
        f"{'rolled over':>13} {'hero hit':>8}"


def _row(label: str, f: dict[str, Any]) -> str:
    rolled = f"{f['rolled_over']} ({_pct(f['rolled_over_share'])})" if f.get("rolled_over_share") is not None else "-"
    return (f"{label[:28]:<28} {f['offered']:>7} {f['answered']:>8} {f['abandoned']:>9} {_pct(f['service_level']):>6} "
            f"{_s(f['mean_wait_s']):>7} {_s(f['p90_wait_s']):>7} {rolled:>13} {_pct(f.get('hero_hit_rate')):>8}")


def _title(report: dict[str, Any]) -> str:
    days = f"{report['days']} day" + ("s" if report["days"] > 1 else "")
    return (f"What-if from {report['start']}, {days}, seed {report['seed']}; service level: answered within "
            f"{report['service_level_target_s']:g}s")


def _handler_rows(report: dict[str, Any], label: str = "") -> list[str]:
    lines = []
    for h in report["handlers"]:
        owners = ", ".join(f"{k} {v}" for k, v in h["owners"].items())
        lines.append(f"{(label or h['account'])[:28]:<28} {h['account']:<12} {h['answered']:>8} "
                     f"{h['handle_hours']:>9.1f} {_pct(h['occupancy']):>9}  {owners}")
    return lines


_HANDLER_HEAD = f"{'':<28} {'handler':<12} {'answered':>8} {'handle h':>9} {'occupancy':>9}  owners"


def single(report: dict[str, Any], *, intervals: bool = False) -> str:
    lines = [_title(report), "", f"{'owner skill':<28}" + _HEAD[28:]]
    for skill in report["skills"]:
        lines.append(_row(f"{skill['account']}/{skill['skill']}", skill))
    lines.append(_row("all", {**report["totals"], "rolled_over": 0, "rolled_over_share": None}))
    for skill in report["skills"]:
        for why, n in skill["rolled_over_why"].items():
            lines.append(f"  {skill['account']}/{skill['skill']} rolled over {n}: {why}")
    lines += ["", _HANDLER_HEAD.replace(" " * 28 + " handler     ", f"{'handler':<28}", 1),
              *(row[:28] + row[41:] for row in _handler_rows(report))]
    if intervals:
        for skill in report["skills"]:
            lines += ["", f"{skill['account']}/{skill['skill']} by interval (owner's local time)",
                      f"{'start':<28}" + _HEAD[28:] + f" {'waiting':>8}"]
            for row in skill["intervals"]:
                share = row["rolled_over"] / row["offered"] if row["offered"] else None
                lines.append(_row(row["start"], {**row, "rolled_over_share": share}) + f" {row['waiting'] or 0:>8.2f}")
    return "\n".join(lines) + "\n"


def compare(reports: list[dict[str, Any]]) -> str:
    lines = [_title(reports[0]), ""]
    for i, skill in enumerate(reports[0]["skills"]):
        lines.append(f"{skill['account']}/{skill['skill']:<{27 - len(skill['account'])}}" + _HEAD[28:])
        for report in reports:
            lines.append(_row(f"  {report['policy']}", report["skills"][i]))
        lines.append("")
    lines.append(_HANDLER_HEAD.replace(" " * 28, f"{'policy':<28}", 1))
    for report in reports:
        lines += _handler_rows(report, report["policy"])
    return "\n".join(lines) + "\n"
