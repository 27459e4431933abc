"""The ``switchboard`` command line (CONTRACT "Command line").

Every command reads the CONTRACT environment variables. Bad arguments or refused changes exit
with a message that names the problem and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from importlib.metadata import version
from typing import Any

import click
from temporalio.client import Client
from temporalio.service import RPCError

from routing.directory import Directory
from routing.errors import Refusal
from store import Store, directory
from store.directory import DirectoryError
from service import heroes, logs
from service.config import ConfigError, Settings
from switchboard.cli_conversations import conversation
from switchboard.cli_people import agent, hero, token
from switchboard.cli_simulate import simulate
from switchboard.cli_support import BadFile, _connect, run_async



class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # a bad TEMPORAL_* value or profile: named, no traceback
            raise click.ClickException(str(exc)) from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """As the ``switchboard`` script: run, flush, and leave without interpreter teardown.

        A short-lived process that used a Temporal client can abort in teardown, when the client's
        Rust threads outlive the interpreter (temporalio/sdk-python#300), turning a clean exit code
        into a crash. ``CliRunner`` calls ``main()`` directly and is not affected.
        """
        try:
            super().__call__(*args, **kwargs)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@click.group(cls=_Cli)
@click.version_option(version("switchboard"), "--version", prog_name="switchboard", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.option("--log-format", type=click.Choice(logs.FORMATS), default=None,
              help="Log lines as plain text or one JSON object each  [default: $SWITCHBOARD_LOG_FORMAT, else text]")
def main(verbose: bool, log_format: str | None) -> None:
    """Switchboard: route contact-center conversations durably on Temporal."""
    try:
        fmt = logs.log_format(log_format)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    logs.setup(logging.INFO if verbose else logging.WARNING, fmt)


@main.command()
@click.option("--directory", "directory_file", type=click.Path(exists=True, dir_okay=False),
              help="Directory file to load at start (default: $SWITCHBOARD_DIRECTORY).")
@click.option("--port", default=7233, show_default=True, help="Temporal frontend port.")
@click.option("--ui-port", type=int, help="Temporal UI port  [default: --port + 1000, so 8233]")
@click.option("--data-dir", default=".switchboard", show_default=True, help="Where the server keeps its file.")
@click.option("--demo", is_flag=True, help="Start a few example conversations once the stack is up (closed at stop).")
@click.option("--gateway-port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="HTTP gateway and workspaces' port (0: no gateway).")
@click.option("--metrics-port", default=9464, show_default=True, type=click.IntRange(1, 65535),
              help="The worker's /metrics and /healthz port.")
def dev(directory_file: str | None, port: int, ui_port: int | None, data_dir: str, demo: bool,
        gateway_port: int, metrics_port: int) -> None:
    """Start the embedded stack: Temporal dev server (with UI), the worker, the directory, the
    HTTP gateway with the agent, manager and web-chat pages."""
    from switchboard.dev import run_dev

    settings = Settings.from_env()
    try:
        asyncio.run(run_dev(settings, directory_file or settings.directory, port=port,
                            ui_port=ui_port or port + 1000, data_dir=data_dir, demo=demo,
                            gateway_port=gateway_port, metrics_port=metrics_port))
    except (Refusal, DirectoryError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    except RPCError as exc:
        raise click.ClickException(f"Temporal: {exc.message}") from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--metrics-port", type=click.IntRange(0, 65535), envvar="SWITCHBOARD_METRICS_PORT",
              help="Serve /metrics and /healthz on this port (0: any free one)  [default: $SWITCHBOARD_METRICS_PORT, "
                   "else off]")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, envvar="SWITCHBOARD_METRICS_HOST",
              help="Address the metrics port binds to (0.0.0.0 in a container)  [env: SWITCHBOARD_METRICS_HOST]")
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Run a worker on the task queue (SWITCHBOARD_TASK_QUEUE)."""
    from worker import run_worker

    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(run_worker(metrics_port=metrics_port, metrics_host=metrics_host))
    except OSError as exc:  # the metrics port is taken
        raise click.ClickException(f"--metrics-port {metrics_port}: {exc.strerror}") from None
    except RuntimeError as exc:  # a bad setting (SWITCHBOARD_RECONCILE_EVERY), Temporal unreachable
        raise click.ClickException(str(exc)) from None


@main.group(name="directory")
def directory_group() -> None:
    """Load and show the directory: accounts, skills, agents, policies, heroes."""


@directory_group.command(name="load")
@click.argument("file", type=click.Path(dir_okay=False))
@run_async
async def directory_load(file: str) -> None:
    """Validate FILE and replace the stored directory with it (all or nothing).

    Agents already known keep their presence, and heroes set with `hero set` stay unless FILE
    names the same customer: the command says what it kept. Queued conversations that the new
    directory gives room are woken when Temporal is reachable.
    """
    parsed = directory.read_file(file)
    if not parsed.accounts:  # an empty or truncated file would otherwise wipe every account
        raise BadFile(f"{file}: no accounts; the stored directory is unchanged")
    settings = Settings.from_env()
    store = await Store.open(settings.database_url)
    try:
        saved = await directory.save(store, parsed)
        agents = sum(len(a.agents) for a in parsed.accounts)
        click.echo(f"loaded {len(parsed.accounts)} accounts, {agents} agents, {len(parsed.heroes)} heroes from {file}")
        _say_kept(parsed, saved)
        inactive = [agent.id for account in parsed.accounts for agent in account.agents if not agent.active]
        client = await _reachable(settings) if inactive or saved.wakes else None
        for agent_id in inactive:  # as by `agent deactivate` (R7.6)
            await heroes.deactivate_agent(store, client, agent_id)
    finally:
        await store.close()
    if saved.wakes and client is not None:
        from activities.routing import wake

        await wake(client, saved.wakes)
        click.echo(f"woke {len(saved.wakes)} queued conversation(s) that the new directory gives room")


def _say_kept(parsed: Directory, saved: directory.Saved) -> None:
    """What the load did not take from the file, in plain words (docs/routing.md "Directory loads")."""
    if saved.kept_status:
        said = {a.id: a.status.value for account in parsed.accounts for a in account.agents}
        click.echo("kept the presence agents set since they were first loaded: " + _listed(
            [f"{agent} {status} (the file says {said[agent]})" for agent, status in saved.kept_status.items()]))
    for heroes_, what in ((saved.kept_heroes, "kept heroes the file does not name (`hero clear` removes one)"),
                          (saved.replaced_heroes, "replaced heroes with the file's"),
                          (saved.dropped_heroes, "dropped heroes whose agent and inbox the file removes")):
        if heroes_:
            click.echo(f"{what}: " + _listed([f"{h.account}/{h.customer} -> {h.agent or h.inbox}" for h in heroes_]))


def _listed(items: list[str], most: int = 10) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


async def _reachable(settings: Settings) -> Client | None:
    """A Temporal client, or None with a warning: the load itself needs no server. Without one,
    deactivated agents' conversations and woken queues learn at their next timer."""
    try:
        return await _connect(settings)
    except click.ClickException as exc:
        click.echo(f"warning: {exc.message}; open conversations are not told of this load now", err=True)
        return None


@directory_group.command(name="show")
@run_async
async def directory_show() -> None:
    """Print the stored directory as YAML, with agents' live status."""
    store = await Store.open(Settings.from_env().database_url)
    try:
        stored = await directory.load(store)
    finally:
        await store.close()
    if not stored.accounts:
        raise click.ClickException("the directory is empty: load one with `switchboard directory load FILE`")
    click.echo(directory.to_yaml(stored), nl=False)


@main.command(name="gateway")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def gateway_command(host: str, port: int) -> None:
    """Run the HTTP gateway (OpenAPI at /docs, /healthz, /readyz, /metrics) on the CONTRACT environment variables."""
    import uvicorn

    from gateway import create_app

    try:
        app = create_app()
    except ValueError as exc:  # a bad environment variable, named
        raise click.ClickException(str(exc)) from None
    logging.getLogger().setLevel(logging.INFO)  # uvicorn's lines go through our format (--log-format)
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None)


@main.command()
@click.option("--conversations", "count", default=200, show_default=True, type=click.IntRange(10, 100_000),
              help="Routed conversations to run.")
@click.option("--concurrency", default=20, show_default=True, type=click.IntRange(1, 1000),
              help="Conversations in flight at once.")
@click.option("--floor", "floor_count", default=200, show_default=True, type=click.IntRange(10, 100_000),
              help="Workflows of each floor measurement (empty and one-activity).")
@click.option("--open", "open_count", default=1000, show_default=True, type=click.IntRange(0, 100_000),
              help="Conversations left open at once (queued); 10000 for issue 14's figure.")
@click.option("--transfers", "hops", default=200, show_default=True, type=click.IntRange(1, 100_000),
              help="Transfers through one conversation (1000 for issue 14's figure).")
@click.option("--no-file", is_flag=True, help="Skip the second dev server on its SQLite file.")
def bench(count: int, concurrency: int, floor_count: int, open_count: int, hops: int, no_file: bool) -> None:
    """Start a dev server and print the benchmark table: every target of issue 14 against the floor."""
    from switchboard.bench import run_bench

    try:
        asyncio.run(run_bench(conversations=count, concurrency=concurrency, floor=floor_count,
                              open_count=open_count, hops=hops, on_file=not no_file))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.Abort() from None


main.add_command(conversation)
main.add_command(simulate)
for group in (agent, hero, token):
    main.add_command(group)

if __name__ == "__main__":
    sys.exit(main())
