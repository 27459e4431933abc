"""Business refusals shared by the store, the activities and the gateway."""

from __future__ import annotations


class Refusal(Exception):
    """A command or start that the routing rules refuse; the message names the bad field.

    ``kind`` is a stable, machine-readable name (it becomes the ``ApplicationError`` type and the
    gateway's error code); ``field`` is the input field at fault, when there is one.
    """

    def __init__(self, kind: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field
        self.message = message


def unknown(field: str, value: object, where: str = "") -> Refusal:
    """The refusal for a reference to something the directory does not have."""
    suffix = f" in {where}" if where else ""
    return Refusal("Unknown" + field.title().replace("_", ""), f"unknown {field} {value!r}{suffix}", field=field)
