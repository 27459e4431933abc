"""Durations as the directory file spells them: ``30s``, ``2m``, ``1h`` or a number of seconds."""

from __future__ import annotations

import math
import re

from routing.limits import quote

_UNITS = {"s": 1, "m": 60, "h": 3600}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(value: object) -> float:
    """Seconds for ``value``; raises ``ValueError`` naming the value when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"{quote(value)} is not a duration (use 30s, 2m, 1h or seconds)")
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) < 1e300 else math.inf  # float() of a 400-digit int overflows
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"{quote(value)} is not a duration (use 30s, 2m, 1h or seconds)")
    if not (seconds > 0 and math.isfinite(seconds)):  # YAML's .nan and .inf are floats too
        raise ValueError(f"{quote(value)} is not a finite, positive duration")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest directory spelling of ``seconds`` (``90`` -> ``90s``, ``120`` -> ``2m``)."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:f}".rstrip("0").rstrip(".") + "s"  # never an exponent: parse_duration reads it back
