"""SPEC R9: the limits every input keeps, as pydantic types, and the short quote of a bad value.

One place for the numbers, so the gateway (422), the workflow's validators and the directory file
refuse the same things with the same words. Bounded inputs keep every payload, the workflow's
state and its history far from Temporal's limits (2 MB a payload, 2 KB a search attribute).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

ID_MAX = 200  # ids: conversation, account, skill, agent, customer, gateway name
TEXT_MAX = 4_000  # free text: first message, note, warm and private message, reason
ATTRIBUTES_KEYS = 50
ATTRIBUTES_DEPTH = 5
ATTRIBUTES_BYTES = 8 * 1024
QUOTE_MAX = 40  # how much of a bad value a refusal repeats


def quote(value: object) -> str:
    """``repr`` of a value, cut to a short prefix: a refusal never echoes a 10 kB input back."""
    try:
        text = repr(value)
    except RecursionError:  # nested deeper than the interpreter goes (a raw client's JSON)
        return f"<{type(value).__name__} nested too deep to show>"
    return text if len(text) <= QUOTE_MAX else f"{text[:QUOTE_MAX]}... ({len(text)} characters)"


def _no_control(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _printable_text(value: str) -> str:
    # Line breaks and tabs are text; NUL and other control characters are not (databases refuse NUL).
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


def depth(value: Any) -> int:
    """Nesting depth of a JSON value: a scalar is 0, ``{}`` or ``[]`` is 1."""
    stack, deepest = [(value, 0)], 0
    while stack:  # no recursion: a hostile value must not exhaust the interpreter's stack
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
            deepest = max(deepest, level + 1)
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
            deepest = max(deepest, level + 1)
    return deepest


def _bounded_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > ATTRIBUTES_KEYS:
        raise ValueError(f"has {len(value)} keys; at most {ATTRIBUTES_KEYS}")
    if depth(value) > ATTRIBUTES_DEPTH:
        raise ValueError(f"is nested deeper than {ATTRIBUTES_DEPTH} levels")
    try:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        raise ValueError("is not plain JSON") from None
    if size > ATTRIBUTES_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {ATTRIBUTES_BYTES}")
    return value


Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ID_MAX),
               AfterValidator(_no_control)]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX), AfterValidator(_printable_text)]
Attributes = Annotated[dict[str, Any], AfterValidator(_bounded_attributes)]
