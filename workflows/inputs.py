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
    from routing.model import parse

M = TypeVar("M", bound=BaseModel)


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
    """The one JSON object a command takes, as ``model``."""
    if len(args) != 1:
        raise Refusal("InvalidInput", f"{verb}: expected one JSON object as input, got {len(args)} inputs")
    return parse(model, args[0], verb)
