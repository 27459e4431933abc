"""Logs (README "Logs"): plain text by default, one JSON object a line on request
(``SWITCHBOARD_LOG_FORMAT=json`` or ``switchboard --log-format json``).

Structured fields travel in a record's ``fields`` (``log.info(..., extra={"fields": {...}})``):
the JSON line carries them as keys, the text line appends them as ``key=value``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

FORMATS = ("text", "json")
LOG_FORMAT = "SWITCHBOARD_LOG_FORMAT"
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


def log_format(given: str | None = None, env: Mapping[str, str] = os.environ) -> str:
    """The format asked for (an argument, else ``SWITCHBOARD_LOG_FORMAT``, else text); a bad one is named."""
    value = (given or env.get(LOG_FORMAT) or "text").strip().lower()
    if value not in FORMATS:
        source = "--log-format" if given else LOG_FORMAT
        raise ValueError(f"{source}: {value!r} is not one of {', '.join(FORMATS)}")
    return value


class _Ours(logging.StreamHandler):
    """The handler ``setup`` installs (so a second call replaces it, and only it)."""


def setup(level: int, fmt: str) -> None:
    """Send the root logger's records to stderr in ``fmt``. Like ``logging.basicConfig``, it
    leaves a root logger that someone else configured (a test runner, an embedding app) alone."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Ours)]:
        root.removeHandler(old)
    if root.handlers:
        return
    handler = _Ours()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
