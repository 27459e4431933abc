"""The ``switchboard`` command line (CONTRACT "Command line").

Every command reads the CONTRACT environment variables. Bad arguments or refused changes exit
with a message that names the problem and change nothing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import sys
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import click
from temporalio.client import (Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle,
                               WorkflowUpdateFailedError)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from routing.directory import Directory
from routing.errors import Refusal
from routing.model import StartConversation, parse
from store import Store, directory, presence, rights, tokens
from store.directory import DirectoryError
from service import conversations, heroes
from service.config import Settings
from service.temporal import connect
from workflows import search_attributes as sa

_LIST_KEYS = (sa.OWNER_ACCOUNT, sa.OWNER_SKILL, sa.HANDLER_ACCOUNT, sa.HANDLER_SKILL, sa.ASSIGNED_AGENT,
              sa.CONVERSATION_STATUS, sa.ROLLOVER_MODE, sa.CHANNEL)
WORKER_WAIT = 10.0  # seconds a command waits for a worker to answer before saying none did


class BadFile(click.ClickException):
    """An input file that cannot be read as what it should be: bad input, like a bad argument."""

    exit_code = 2


def run_async(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async command; turn every known refusal into a one-line error and exit code 1
    (2 for a file that does not read as a directory)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except DirectoryError as exc:
            raise BadFile(str(exc)) from None
        except Refusal as exc:
            raise click.ClickException(str(exc)) from None
        except WorkflowUpdateFailedError as exc:
            raise click.ClickException(getattr(exc.cause, "message", str(exc.cause))) from None
        except WorkflowAlreadyStartedError as exc:
            # Running ones are returned as they are (R1.2); this is a closed one.
            raise click.ClickException(f"{exc.workflow_id} already exists and is closed; "
                                       "conversation ids are never reused") from None
        except RPCError as exc:
            raise click.ClickException(f"Temporal: {exc.message}") from None
        except (ConnectionError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


async def _connect(settings: Settings) -> Client:
    """The Temporal client, or an error naming the address instead of the transport's debug text."""
    try:
        return await connect(settings)
    except RuntimeError as exc:
        reason = re.search(r'message: "([^"]+)"', str(exc))
        raise click.ClickException(
            f"cannot reach Temporal at {settings.temporal_address} (TEMPORAL_ADDRESS): "
            f"{reason.group(1) if reason else exc}; is the server (or `switchboard dev`) running?") from None


class _Cli(click.Group):
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
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """Switchboard: route contact-center conversations durably on Temporal."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--directory", "directory_file", type=click.Path(exists=True, dir_okay=False),
              help="Directory file to load at start (default: $SWITCHBOARD_DIRECTORY).")
@click.option("--port", default=7233, show_default=True, help="Temporal frontend port.")
@click.option("--ui-port", type=int, help="Temporal UI port  [default: --port + 1000, so 8233]")
@click.option("--data-dir", default=".switchboard", show_default=True, help="Where the server keeps its file.")
@click.option("--demo", is_flag=True, help="Start a few example conversations once the stack is up.")
def dev(directory_file: str | None, port: int, ui_port: int | None, data_dir: str, demo: bool) -> None:
    """Start the embedded stack: Temporal dev server (with UI), the worker, the directory."""
    from switchboard.dev import run_dev

    settings = Settings.from_env()
    try:
        asyncio.run(run_dev(settings, directory_file or settings.directory, port=port,
                            ui_port=ui_port or port + 1000, data_dir=data_dir, demo=demo))
    except (Refusal, DirectoryError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    except RPCError as exc:
        raise click.ClickException(f"Temporal: {exc.message}") from None
    except KeyboardInterrupt:
        pass


@main.command()
def worker() -> None:
    """Run a worker on the task queue (SWITCHBOARD_TASK_QUEUE)."""
    from worker import run_worker

    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(run_worker())
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


@main.group()
def conversation() -> None:
    """Start, show and list conversations."""


def _json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at column {exc.colno}): {value}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"must be a JSON object, got {type(parsed).__name__}: {value}")
    return parsed


@conversation.command(name="start")
@click.option("--id", "conversation_id", help="Conversation id (default: a new one).")
@click.option("--account", required=True)
@click.option("--skill", required=True)
@click.option("--channel", default="web", show_default=True)
@click.option("--customer", required=True)
@click.option("--message", "first_message")
@click.option("--priority", default=0, type=int, show_default=True)
@click.option("--attributes", callback=_json_object, help='Free attributes as a JSON object, e.g. \'{"vip": true}\'.')
@run_async
async def conversation_start(conversation_id: str | None, **fields: Any) -> None:
    """Start a conversation as a channel gateway would, and say where routing put it.

    Starting an id that is already running is not an error: it is the same conversation (R1.2).
    A start the engine refuses (unknown account or skill, ...) exits non-zero with the reason.
    """
    start = parse(StartConversation, {"conversation_id": conversation_id or f"c-{uuid.uuid4().hex[:10]}",
                                      **{k: v for k, v in fields.items() if v is not None}}, "start")
    settings = Settings.from_env()
    client = await _connect(settings)
    handle = await conversations.start(client, start, settings.task_queue)
    outcome = await _first_outcome(client, handle, start.conversation_id, settings.task_queue)
    click.echo(f"{start.conversation_id} ({handle.id}): {outcome}")


async def _first_outcome(client: Client, handle: WorkflowHandle, conversation_id: str, task_queue: str) -> str:
    """Where routing put a conversation just started; its refusal as an error if it failed.

    Reads the workflow's own ``ConversationStatus`` (describe needs no worker) until it leaves
    ``routing``, then the ``state`` query for the agent or queue.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WORKER_WAIT
    while loop.time() < deadline:
        described = await handle.describe()
        if described.status is WorkflowExecutionStatus.FAILED:
            try:
                await handle.result()
            except WorkflowFailureError as exc:
                raise click.ClickException(f"start refused: {getattr(exc.cause, 'message', exc.cause)}") from None
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return described.status.name.lower()
        if described.typed_search_attributes.get(sa.CONVERSATION_STATUS) not in (None, "routing"):
            return _summary(await conversations.state(client, conversation_id))
        await asyncio.sleep(0.1)
    return (f"started; no worker has routed it within {WORKER_WAIT:g}s "
            f"(is `switchboard worker` running on task queue {task_queue!r}?)")


def _summary(view: dict[str, Any]) -> str:
    """One line: 'offered to ann', 'queued at acme/sales', 'assigned to zed at bpo/acme-sales'."""
    handled = view.get("handler_account")
    where = f"{handled}/{view['handler_skill']}" if handled else f"{view['account']}/{view['skill']}"
    if view["status"] == "offered":
        return f"offered to {view['offer']['agent']}" + (f" at {where}" if handled else "")
    if view["status"] == "assigned":
        return f"assigned to {view['assignee']}" + (f" at {where}" if handled else "")
    if view["status"] == "queued":
        return f"queued at {where}"
    return view["status"]


@conversation.command(name="show")
@click.argument("conversation_id")
@run_async
async def conversation_show(conversation_id: str) -> None:
    """Print a conversation's state and timeline as JSON."""
    client = await _connect(Settings.from_env())
    try:
        view = await asyncio.wait_for(conversations.state(client, conversation_id), WORKER_WAIT)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise click.ClickException(f"no conversation {conversation_id!r}") from None
        raise click.ClickException(f"conversation {conversation_id!r}: {exc.message}") from None
    except TimeoutError:
        raise click.ClickException(f"conversation {conversation_id!r}: no worker answered within {WORKER_WAIT:g}s "
                                   "(is `switchboard worker` running?)") from None
    click.echo(json.dumps(view, indent=2))


@conversation.command(name="list")
@click.option("--query", default="", help="Visibility query, e.g. \"HandlerAccount='bpo'\".")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@run_async
async def conversation_list(query: str, limit: int) -> None:
    """List conversations from Temporal visibility (the search attributes)."""
    client = await _connect(Settings.from_env())
    clause = "WorkflowType = 'Conversation'" + (f" AND ({query})" if query else "")
    shown = 0
    async for wf in client.list_workflows(clause):
        attrs = {k.name: wf.typed_search_attributes.get(k) for k in _LIST_KEYS}
        click.echo(f"{wf.id}\t{wf.status.name if wf.status else '?'}\t" +
                   " ".join(f"{k}={v}" for k, v in attrs.items() if v))
        shown += 1
        if shown >= limit:
            break


@main.group()
def agent() -> None:
    """Agents' presence and lifecycle."""


@agent.command(name="status")
@click.argument("agent_id")
@click.argument("status", type=click.Choice(["online", "away", "offline"]))
@run_async
async def agent_status(agent_id: str, status: str) -> None:
    """Set an agent's presence; going online offers queued conversations at once."""
    settings = Settings.from_env()
    store = await Store.open(settings.database_url)
    try:
        if not (await presence.agent_row(store, agent_id)).active:  # as `PUT /agents/{id}/status` refuses it
            raise click.ClickException(f"agent {agent_id!r} is deactivated")
        wakes = await presence.set_status(store, agent_id, status, datetime.now(timezone.utc))
    finally:
        await store.close()
    if wakes:
        from activities.routing import wake

        try:
            await wake(await connect(settings), wakes)
        except RuntimeError as exc:  # Temporal away: the queue's re-check timer still picks it up
            click.echo(f"warning: could not signal queued conversations now ({exc})", err=True)
    click.echo(f"{agent_id} is {status}" + (f"; woke {len(wakes)} queued conversation(s)" if wakes else ""))


@agent.command(name="deactivate")
@click.argument("agent_id")
@run_async
async def agent_deactivate(agent_id: str) -> None:
    """Deactivate an agent: their hero entries become their inbox, their conversations go to
    another agent of the inbox (SPEC R7.6)."""
    settings = Settings.from_env()
    client = await _connect(settings)
    store = await Store.open(settings.database_url)
    try:
        done = await heroes.deactivate_agent(store, client, agent_id)
    finally:
        await store.close()
    click.echo(f"{agent_id} is deactivated; {len(done.held)} conversation(s) to reassign, "
               f"{len(done.heroes)} hero entr{'y' if len(done.heroes) == 1 else 'ies'} now the inbox")


@main.group()
def hero() -> None:
    """A customer's dedicated hero: an agent (with their inbox) or an inbox (SPEC R7)."""


@hero.command(name="set")
@click.argument("account")
@click.argument("customer")
@click.option("--agent", "agent_id", help="The hero agent.")
@click.option("--inbox", help="The hero inbox (a skill): the hero team, or the agent's inbox.")
@run_async
async def hero_set(account: str, customer: str, agent_id: str | None, inbox: str | None) -> None:
    """Set the hero; open conversations learn at once, and a replaced hero's take the new one."""
    if not agent_id and not inbox:
        raise click.UsageError("give --agent ID or --inbox SKILL")
    settings = Settings.from_env()
    client = await _connect(settings)
    store = await Store.open(settings.database_url)
    try:
        chosen = await heroes.set_hero(store, client, account, customer, agent=agent_id, inbox=inbox)
    finally:
        await store.close()
    click.echo(f"hero of {account}/{customer}: {chosen.agent or chosen.inbox}")


@hero.command(name="clear")
@click.argument("account")
@click.argument("customer")
@run_async
async def hero_clear(account: str, customer: str) -> None:
    """Remove the customer's hero; open conversations stay where they are."""
    settings = Settings.from_env()
    client = await _connect(settings)
    store = await Store.open(settings.database_url)
    try:
        await heroes.clear_hero(store, client, account, customer)
    finally:
        await store.close()
    click.echo(f"{account}/{customer} has no hero")


@main.group()
def token() -> None:
    """Bearer tokens of the HTTP gateway; only their SHA-256 is stored."""


@token.command(name="create")
@click.argument("principal")
@run_async
async def token_create(principal: str) -> None:
    """Create a token for PRINCIPAL: an agent id, gateway:<name> or admin. The token is printed
    once, as the last line: keep it, it cannot be shown again. A gateway must be in the directory's
    `gateways:` list first: the HTTP gateway serves an unlisted one nothing (gateway/auth.py)."""
    store = await Store.open(Settings.from_env().database_url)
    try:
        await _listed_gateway(store, principal)
        plain = await tokens.create(store, principal)
    finally:
        await store.close()
    click.echo(f"token for {principal} (shown once; only its hash is stored):")
    click.echo(plain)


async def _listed_gateway(store: Store, principal: str) -> None:
    name = principal.removeprefix(rights.GATEWAY_PREFIX)
    if principal.startswith(rights.GATEWAY_PREFIX) and name and name not in {
            g.name for g in (await directory.load(store)).gateways}:
        raise click.ClickException(f"{principal} is not in the directory's gateways: list, so the HTTP gateway "
                                   f"would serve it no account; add {{name: {name}, accounts: [...]}} to the "
                                   "directory file (no accounts: every account), load it, then create its token")


@token.command(name="revoke")
@click.argument("token_text", metavar="[TOKEN]", required=False)
@click.option("--principal", help="Revoke every live token of this principal instead (a lost token).")
@run_async
async def token_revoke(token_text: str | None, principal: str | None) -> None:
    """Revoke TOKEN ('-' reads it from stdin, out of the shell history), or all of --principal's."""
    if (token_text is None) == (principal is None):
        raise click.UsageError("give a TOKEN or --principal PRINCIPAL, not both")
    if token_text == "-":
        token_text = sys.stdin.readline().strip()
    store = await Store.open(Settings.from_env().database_url)
    try:
        if principal is not None:
            count = await tokens.revoke_all(store, principal)
            if count == 0:
                raise click.ClickException(f"{principal!r} has no live token")
            click.echo(f"revoked {count} token(s) of {principal}")
        else:
            click.echo(f"revoked a token of {await tokens.revoke(store, token_text)}")
    finally:
        await store.close()


@main.command(name="gateway")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def gateway_command(host: str, port: int) -> None:
    """Run the HTTP gateway (OpenAPI at /docs) on the CONTRACT environment variables."""
    import uvicorn

    from gateway import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@main.command()
@click.option("--conversations", "count", default=200, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--concurrency", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--floor", "floor_count", default=200, show_default=True, type=click.IntRange(10, 100_000))
def bench(count: int, concurrency: int, floor_count: int) -> None:
    """Start a dev server and print the benchmark table (floor vs routed conversations)."""
    from switchboard.bench import run_bench

    try:
        asyncio.run(run_bench(conversations=count, concurrency=concurrency, floor=floor_count))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.Abort() from None


if __name__ == "__main__":
    sys.exit(main())
