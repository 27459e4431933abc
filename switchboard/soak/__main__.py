"""``python -m switchboard.soak``: one fault soak per ``--database``; exits 1 when a figure is not zero."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from switchboard.soak import Options, run


@click.command()
@click.option("--conversations", default=300, show_default=True, type=click.IntRange(1, 5000))
@click.option("--kills", default=3, show_default=True, type=click.IntRange(0, 50), help="kill -9 of a worker.")
@click.option("--server-restarts", default=1, show_default=True, type=click.IntRange(0, 20))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 8))
@click.option("--database", "databases", multiple=True, type=click.Choice(["sqlite", "postgres"]),
              help="Repeat for several soaks in a row  [default: sqlite]")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--rate", default=2.5, show_default=True, type=click.FloatRange(0.1, 50), help="Starts per second.")
@click.option("--keep", is_flag=True, help="Keep the folder: Temporal's file, the store, every log.")
def main(databases: tuple[str, ...], **options) -> None:
    """Kill workers and restart Temporal during a few hundred conversations; print what broke."""
    failed = False
    for database in databases or ("sqlite",):
        try:
            figures = asyncio.run(_cancel_on_sigterm(Options(database=database, **options)))
        except (KeyboardInterrupt, asyncio.CancelledError):
            click.echo("soak interrupted; its processes and folder are gone", err=True)
            sys.exit(130)
        click.echo(figures.report(f"fault soak on {database}: {'all zero' if figures.ok else 'FAILED'}"))
        failed = failed or not figures.ok
    sys.exit(1 if failed else 0)


async def _cancel_on_sigterm(options: Options):
    """SIGTERM cancels the soak like Ctrl-C does, so its processes and folder are cleaned up."""
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(options)


if __name__ == "__main__":
    main()
