"""What every ``switchboard`` command shares: one-line errors and exit codes, the Temporal client."""

from __future__ import annotations

import asyncio
import functools
import re
from typing import Any, Awaitable, Callable

import click
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from routing.errors import Refusal
from service.config import Settings
from service.temporal import connect
from store.directory import DirectoryError

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
