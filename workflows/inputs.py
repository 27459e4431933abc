"""Raw inputs of updates and signals, parsed by the workflow itself (DESIGN "Nothing from outside
is trusted"): a missing, extra, mistyped or undecodable payload is a ``Refusal``, never a failed
workflow task."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from routing.errors import Refusal
    from routing.limits import quote
    from routing.model import parse

M = TypeVar("M", bound=BaseModel)
VIEW = "view"  # a key any command's input may have: what the update answers (CONTRACT)
VIEWS = ("compact", "full")


def decoded(values: Sequence[RawValue], verb: str) -> list[Any]:
    """Payloads as plain JSON values; an undecodable one is refused by name. JSON is read by the
    standard library: the pydantic converter's parser stops at 200 levels, so a deep value would
    fail in the SDK before the workflow could refuse it by name."""
    out = []
    for raw in values:
        try:
            if raw.payload.metadata.get("encoding") == b"json/plain":
                out.append(json.loads(raw.payload.data))
            else:
                out.append(workflow.payload_converter().from_payload(raw.payload))
        except Exception:  # undecodable, or nested past the interpreter's recursion limit
            encoding = raw.payload.metadata.get("encoding", b"?").decode(errors="replace")[:40]
            raise Refusal("InvalidInput", f"{verb}: the input could not be decoded (encoding {encoding!r})") from None
    return out


def started(values: Sequence[RawValue]) -> tuple[Any, Any]:
    """The start input and the state carried across continue-as-new (None on a first run)."""
    if len(values) > 2:
        raise Refusal("InvalidInput", f"start: expected one JSON object as input, got {len(values)} inputs")
    start, carry = (decoded(values, "start") + [None, None])[:2]
    return start, carry


def command(model: type[M], args: Sequence[Any], verb: str) -> M:
    """The one JSON object a command takes, as ``model`` (its ``view``, if any, checked and left out)."""
    if len(args) != 1:
        raise Refusal("InvalidInput", f"{verb}: expected one JSON object as input, got {len(args)} inputs")
    raw = args[0]
    if isinstance(raw, dict) and VIEW in raw:
        full_view(args, verb)
        raw = {k: v for k, v in raw.items() if k != VIEW}
    return parse(model, raw, verb)


def full_view(args: Sequence[Any], verb: str) -> bool:
    """Whether a command asks for the full view back (``"view": "full"``: the ``state`` query's
    answer, timeline and notes included) rather than the compact result. The HTTP gateway asks,
    and so needs no query before a command whose right the workflow judges alone."""
    raw = args[0] if len(args) == 1 else None
    if not isinstance(raw, dict) or VIEW not in raw:
        return False
    if raw[VIEW] not in VIEWS:
        raise Refusal("InvalidInput", f"{verb}: view must be 'compact' or 'full', not {quote(raw[VIEW])}", field=VIEW)
    return raw[VIEW] == "full"
