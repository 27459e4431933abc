"""``switchboard agent|hero|token``: presence, deactivation, heroes and bearer tokens."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from store import Store, directory, presence, rights, tokens
from service import heroes
from service.config import Settings
from service.temporal import connect
from switchboard.cli_support import _connect, run_async




@click.group()
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


@click.group()
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


@click.group()
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
