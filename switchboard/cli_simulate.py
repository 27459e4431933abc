"""``switchboard simulate``: a what-if day of traffic on the engine's own rules (CONTRACT
"What-if simulator", docs/whatif.md). Bad files and bad ``--policy`` values exit 2 with the
problem named; nothing runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from store.directory_file import DirectoryError, read_file
from switchboard.cli_support import BadFile
from whatif import chart, text
from whatif.policy import PolicyError, apply, parse_policy
from whatif.report import build
from whatif.sim import Simulation
from whatif.traffic import TrafficError, read_traffic


@click.command()
@click.option("--directory", "directory_file", required=True, type=click.Path(dir_okay=False),
              help="Directory file (accounts, skills, agents, policies, heroes) to simulate.")
@click.option("--traffic", "traffic_file", required=True, type=click.Path(dir_okay=False),
              help="Traffic file (YAML: start, days, seed, streams, answer, agents; docs/whatif.md).")
@click.option("--policy", "policies", multiple=True, metavar="ACCOUNT/SKILL=MODE[:WINDOW]",
              help="Another rollover policy for an owner skill (mode none, fully_managed, backup, schedule, "
                   "hybrid; backup and hybrid take a window, e.g. acme/sales=backup:60s). Repeatable.")
@click.option("--compare", is_flag=True,
              help="Run the directory as it is and once per --policy, and print them side by side.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--intervals", is_flag=True, help="Also print each owner skill by interval.")
@click.option("--chart", "chart_file", type=click.Path(dir_okay=False),
              help="Write the charts (service level and waiting by interval, a line per policy) to this file: "
                   "self-contained HTML, or SVG when it ends in .svg.")
@click.option("--seed", type=int, help="Override the traffic file's seed.")
@click.option("--live", is_flag=True,
              help="Also drive a compressed slice of the traffic through the real engine (Temporal dev server, "
                   "worker, store) and report the wait the engine adds to the pure simulation of it (with "
                   "--compare: on the directory as it is).")
@click.option("--live-conversations", default=20, show_default=True, type=click.IntRange(1, 500),
              help="With --live: how many conversations of the busiest hour to run.")
@click.option("--speed", default=60.0, show_default=True, type=click.FloatRange(1, 3600),
              help="With --live: how many times faster than the traffic file the slice runs (arrivals, "
                   "handle times, patience; the engine's timers stay in real seconds).")
def simulate(directory_file: str, traffic_file: str, policies: tuple[str, ...], compare: bool, as_json: bool,
             intervals: bool, chart_file: str | None, seed: int | None, live: bool, live_conversations: int,
             speed: float) -> None:
    """Simulate a day (or more) of traffic on the engine's routing rules, in simulated time."""
    try:
        directory = read_file(directory_file)
        traffic = read_traffic(traffic_file, directory)
        changes = [parse_policy(p) for p in policies]
        if compare:
            runs = [("as in the directory", directory)] + [(c.text, apply(directory, [c])) for c in changes]
        else:
            skills = [c.skill for c in changes]
            if len(set(skills)) < len(skills):
                raise PolicyError("--policy: two policies for one skill; use --compare to run them side by side")
            label = " ".join(c.text for c in changes) or "as in the directory"
            runs = [(label, apply(directory, changes) if changes else directory)]
    except (DirectoryError, TrafficError, PolicyError) as exc:
        raise BadFile(str(exc)) from None
    reports = []
    for label, variant in runs:
        sim = Simulation(variant, traffic, seed=seed)
        reports.append(build(sim, sim.run(), label))
    fidelity = None
    if live:
        from switchboard.whatif_live import run_live

        try:
            fidelity = asyncio.run(run_live(runs[0][1], traffic, count=live_conversations, speed=speed, seed=seed))
        except RuntimeError as exc:  # the dev server would not start
            raise click.ClickException(str(exc)) from None
        reports[0]["live"] = fidelity
    if chart_file:
        page = chart.render_svg(reports) if chart_file.endswith(".svg") else chart.render(reports)
        try:
            Path(chart_file).write_text(page, encoding="utf-8")
        except OSError as exc:
            raise BadFile(f"--chart {chart_file}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        click.echo(json.dumps(reports[0] if len(reports) == 1 else {"runs": reports, "skills": reports[0]["skills"]},
                              indent=2))
    elif compare:
        click.echo(text.compare(reports), nl=False)
    else:
        click.echo(text.single(reports[0], intervals=intervals), nl=False)
    if fidelity is not None and not as_json:
        from switchboard.whatif_live import describe

        click.echo(describe(fidelity), nl=False)
