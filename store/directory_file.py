"""The directory file (CONTRACT "Directory file"): YAML text to a validated ``Directory``.

``read_file`` and ``parse_text`` return a whole directory or raise ``DirectoryError`` as
``file:line: field: detail`` for the first problem. The YAML reader refuses what a small file
could use to cost much or mean two things (SPEC R9): anchors and aliases, deep nesting,
duplicate keys, oversized or non-UTF-8 files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from routing.directory import BadReference, Directory
from routing.limits import quote

FILE_MAX_BYTES = 10_000_000  # a directory of ten thousand agents is a few hundred kB
DEPTH_MAX = 20  # the directory itself nests 8 deep (accounts, skills, rollover, schedule, windows)
DETAIL_MAX = 200  # a refusal's own words; a bad value within them is quoted shorter still


class DirectoryError(ValueError):
    """A directory file that cannot load; the message names file, line and field."""


def read_file(path: str | Path) -> Directory:
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(FILE_MAX_BYTES + 1)  # not more: a huge file or /dev/zero is refused unread
    except OSError as exc:
        raise DirectoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > FILE_MAX_BYTES:
        raise DirectoryError(f"{path}: larger than {FILE_MAX_BYTES // 1_000_000} MB; not a directory file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DirectoryError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                             f"{exc.start}); save the file as UTF-8") from None
    return parse_text(text, str(path))


class _Refused(yaml.MarkedYAMLError):
    """YAML that PyYAML reads but a directory file must not hold; ``problem`` says what."""


# libyaml when PyYAML was built with it: a 1 MB directory reads in about 2 s instead of 6 s.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_events(text: str) -> None:
    """Refuse, before anything is built, what makes a small file costly (SPEC R9): anchors and
    aliases (a 2 kB "billion laughs" file expands to 10**8 values) and nesting deep enough to
    exhaust the recursive composer. The event stream itself is flat."""
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(problem="YAML anchors and aliases (&name, *name) are not accepted in a directory "
                           "file; write each value out", problem_mark=event.start_mark)
        if isinstance(event, _OPEN):
            depth += 1
            if depth > DEPTH_MAX:
                raise _Refused(problem=f"nested deeper than {DEPTH_MAX} levels", problem_mark=event.start_mark)
        elif isinstance(event, _CLOSE):
            depth -= 1


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]  # the C loader when built
    """The safe loader, refusing duplicate keys (PyYAML keeps the last one without a word) and
    values Python cannot build (a 5,000-digit integer, 2026-13-45) by their line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # int("9" * 5000), date(2026, 13, 45)
            reason = str(exc).split(";")[0]
            raise _Refused(problem=f"cannot read {quote(node.value)}: {reason}", problem_mark=node.start_mark) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in first:
                    raise _Refused(problem=f"duplicate key {quote(key)} (first at line {first[key]})",
                                   problem_mark=key_node.start_mark)
                first[key] = line
            except TypeError:  # an unhashable key: PyYAML's own refusal below names it
                break
        return super().construct_mapping(node, deep)


def read_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The root node (for line numbers) and the plain data of one YAML document, read with the
    limits above (the what-if traffic file is read the same way)."""
    loader = None
    try:
        _check_events(text)
        loader = _Loader(text)
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    except yaml.reader.ReaderError as exc:  # a character YAML forbids: a position, no mark
        # libyaml counts the position in UTF-8 bytes, PyYAML in characters.
        before = text.encode()[:exc.position] if _SafeLoader is not yaml.SafeLoader else text[:exc.position].encode()
        line = before.count(b"\n") + 1
        raise DirectoryError(f"{source}:{line}: not valid YAML: unacceptable character #x{exc.character:04x} "
                             f"({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        kind = "" if isinstance(exc, _Refused) else "not valid YAML: "
        raise DirectoryError(f"{source}{where}: {kind}{_cut(str(problem))}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _cut(detail: str) -> str:
    return detail if len(detail) <= DETAIL_MAX else f"{detail[:DETAIL_MAX]}..."


def parse_text(text: str, source: str = "<directory>") -> Directory:
    if len(text) > FILE_MAX_BYTES:
        raise DirectoryError(f"{source}: larger than {FILE_MAX_BYTES // 1_000_000} MB; not a directory file")
    root, data = read_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DirectoryError(f"{source}:1: the directory must be a mapping with 'accounts'")
    try:
        return Directory.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        loc = cause.loc if isinstance(cause, BadReference) else error["loc"]  # a reference: where it is named
        field = ".".join(str(p) for p in loc) or "directory"
        line = line_at(root, loc)
        detail = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            detail = "unknown field"
        elif error["type"] == "invalid_key":  # null:, true: or 1: where a field name belongs
            detail, error["input"] = f"unknown field (a field name is a word, not {quote(error['input'])})", {}
        elif error["type"] == "missing":
            detail = "missing field"
        value = f" = {quote(error['input'])}" if loc and error["type"] not in ("missing",) and not isinstance(
            error.get("input"), (dict, list)) else ""
        raise DirectoryError(f"{source}{f':{line}' if line else ''}: {field}{value}: {_cut(detail)}") from None


def line_at(node: Any, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at pydantic location ``loc`` (as deep as it exists).

    A mapping entry is named by its key's line: a block value starts on the line after it.
    """
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        mark = None
        if isinstance(node, yaml.MappingNode):
            key, node = next(((k, v) for k, v in node.value if k.value == part), (None, None))
            mark = key.start_mark if key is not None else None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        if mark is None:
            break
        line = mark.line + 1
    return line


def to_yaml(directory: Directory) -> str:
    data = directory.model_dump(mode="json", exclude_defaults=True)
    # A skill's ``rollover: null`` equals the default but means "not the account's policy"
    # (Account.policy_for): dropping it would hand the skill its account's policy on reload.
    for account, dumped in zip(directory.accounts, data.get("accounts", [])):
        for skill, out in zip(account.skills, dumped.get("skills", [])):
            if skill.rollover is None and "rollover" in skill.model_fields_set:
                out["rollover"] = None
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
