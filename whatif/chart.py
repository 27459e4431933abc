"""The report as a planner looks at it: one self-contained HTML page of inline SVG (nothing is
fetched), per owner skill the service level and the conversations waiting by interval, one line
per policy."""

from __future__ import annotations

from html import escape
from typing import Any

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 220, 48, 12, 16, 40


def _lines(series: list[tuple[str, list[float | None]]], labels: list[str], *, top: float, unit: str,
           title: str) -> str:
    n = max(len(labels), 2)
    x = lambda i: PAD_L + i * (W - PAD_L - PAD_R) / (n - 1)  # noqa: E731
    y = lambda v: PAD_T + (1 - v / top) * (H - PAD_T - PAD_B)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             f'font-family="sans-serif" font-size="10"><title>{escape(title)}</title>',
             f'<text x="{PAD_L}" y="11" font-size="11" font-weight="bold">{escape(title)}</text>']
    for k in range(5):
        level = top * k / 4
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(level):.1f}" y2="{y(level):.1f}" stroke="#ddd"/>'
                     f'<text x="{PAD_L - 4}" y="{y(level) + 3:.1f}" text-anchor="end">{level:g}{unit}</text>')
    step = max(1, len(labels) // 12)
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{x(i):.1f}" y="{H - PAD_B + 14}" text-anchor="middle">'
                     f'{escape(labels[i][-5:])}</text>')
    for k, (colour, (name, values)) in enumerate(zip(COLOURS * 4, series)):
        width = max(3.4 - 0.8 * k, 1.2)  # the first lines wider: where policies agree, every colour shows
        runs: list[list[str]] = []
        run: list[str] = []
        for i, v in enumerate(values):  # an interval with nothing offered breaks the line
            if v is None:
                runs, run = runs + [run], []
            else:
                run.append(f"{x(i):.1f},{y(min(v, top)):.1f}")
        for r in runs + [run]:
            if r:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width:g}" points="{" ".join(r)}">'
                             f'<title>{escape(name)}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[str]) -> str:
    items = "".join(f'<span style="margin-right:1.5em"><span style="display:inline-block;width:1.5em;height:3px;'
                    f'background:{c};vertical-align:middle"></span> {escape(n)}</span>'
                    for c, n in zip(COLOURS * 4, names))
    return f'<p style="font-size:12px">{items}</p>'


def _nice(value: float) -> float:
    for top in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000):
        if value <= top:
            return top
    return value


def _panels(reports: list[dict[str, Any]], within: str, mean: str) -> list[tuple[str, str, str]]:
    """Per owner skill: its name, the service-level chart and the queue chart (a line per run)."""
    first, panels = reports[0], []
    target = f"{first['service_level_target_s']:g}s"
    for i, skill in enumerate(first["skills"]):
        ref = f"{skill['account']}/{skill['skill']}"
        labels = [row["start"] for row in skill["intervals"]]
        sl = [(r["policy"], [row["service_level"] * 100 if row["service_level"] is not None else None
                             for row in r["skills"][i]["intervals"]]) for r in reports]
        waiting = [(r["policy"], [row["waiting"] for row in r["skills"][i]["intervals"]]) for r in reports]
        top = _nice(max([v for _, vs in waiting for v in vs if v is not None] + [1]))
        panels.append((ref, _lines(sl, labels, top=100, unit="%", title=f"{ref}: service level ({within} {target})"),
                       _lines(waiting, labels, top=top, unit="", title=f"{ref}: conversations waiting{mean}")))
    return panels


def render(reports: list[dict[str, Any]]) -> str:
    """An HTML page for one or more runs of the same traffic (a line per run's policy)."""
    names = [r["policy"] for r in reports]
    first = reports[0]
    body = [f"<h1>What-if from {escape(first['start'])}, seed {first['seed']}</h1>", _legend(names)]
    for ref, service, waiting in _panels(reports, "answered within", " (mean)"):
        body.append(f"<h2>{escape(ref)}</h2><div>{service}{waiting}</div>")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Switchboard what-if</title></head>"
            "<body style=\"font-family:sans-serif\">" + "".join(body) + "</body></html>\n")


def render_svg(reports: list[dict[str, Any]]) -> str:
    """The same charts as one SVG file (for a README, which shows images, not pages)."""
    names = [r["policy"] for r in reports]
    panels = [(service, waiting) for _, service, waiting in _panels(reports, "within", "")]
    legend = "".join(f'<rect x="{10 + k * 200}" y="8" width="18" height="3" fill="{c}"/>'
                     f'<text x="{32 + k * 200}" y="13">{escape(n[:30])}</text>'
                     for k, (c, n) in enumerate(zip(COLOURS * 4, names)))
    body = "".join(f'<g transform="translate(0,{24 + k * H})">{a}</g><g transform="translate({W},{24 + k * H})">{b}</g>'
                   for k, (a, b) in enumerate(panels))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{24 + H * len(panels)}" '
            f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>'
            f'{legend}{body}</svg>\n')
