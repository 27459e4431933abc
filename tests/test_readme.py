"""The README's walk-throughs name only what the example directory has (issue 12, "the first ten
minutes": the README named an agent `bob` whom `examples/directory.yaml` did not have, so
`switchboard agent deactivate bob` failed for a newcomer following it literally)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from store.directory_file import read_file
from switchboard.cli import main

ROOT = Path(__file__).resolve().parents[1]
# Where a walk-through names an agent: CLI commands, update inputs and HTTP paths.
AGENT_MENTIONS = [
    re.compile(r"switchboard agent (?:status|deactivate) ([a-z][\w-]*)"),
    re.compile(r"--agent ([a-z][\w-]*)"),
    re.compile(r'"agent": "([a-z][\w-]*)"'),
    re.compile(r"/agents/([a-z][\w-]*)"),
    re.compile(r"token create ([a-z][\w-]*)\b(?!:)"),
]


def _code_blocks(text: str) -> str:
    return "\n".join(re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S))


def test_the_readme_walk_throughs_name_only_agents_of_the_example_directory() -> None:
    directory = read_file(ROOT / "examples" / "directory.yaml")
    agents = {agent.id for account in directory.accounts for agent in account.agents}
    code = _code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    named = {m.group(1) for pattern in AGENT_MENTIONS for m in pattern.finditer(code)}
    named.discard("admin")  # a principal, not an agent
    assert named, "the README's walk-throughs name agents: the patterns above must find them"
    assert named <= agents, f"the README names agents the example directory lacks: {sorted(named - agents)}"


def test_the_readme_what_if_example_prints_what_the_readme_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "What-if" section's command, run as written (the chart to a temporary file), prints
    every line the README quotes: the example must not drift from the simulator or the example
    directory and traffic files."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\n\$ (switchboard simulate .*?)```", text, flags=re.S)
    assert block, "the README's What-if section shows a `$ switchboard simulate` example"
    command, *shown = block.group(1).replace("\\\n", " ").splitlines()
    args = shlex.split(command)[2:]
    args[args.index("--chart") + 1] = str(tmp_path / "day.html")
    monkeypatch.chdir(ROOT)  # the example's paths are the repository's
    result = CliRunner().invoke(main, ["simulate", *args])
    assert result.exit_code == 0, result.output
    printed = set(result.output.splitlines())
    missing = [line for line in shown if line.strip() and line != "..." and line not in printed]
    assert not missing, f"the README shows lines the command does not print: {missing}"
