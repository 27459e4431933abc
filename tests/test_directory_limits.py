"""SPEC R9 for the directory file: bounded, typed, and refused with a message, never a traceback.

The refusals go through ``store.directory.read_file``/``parse_text``, the code path of
``switchboard directory load FILE``; the corpus at the end also runs that command in-process.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.limits import ID_MAX, TEXT_MAX
from store import directory_file
from store.directory import DirectoryError, parse_text, read_file
from switchboard.cli import main
from test_directory_file import CONTRACT_EXAMPLE, SOURCE, changed, line_of, refusal

SHORT = 400  # a refusal repeats at most a short prefix of a bad value (R9.2)


def refused(text: str, *words: str, at: str | None = None) -> str:
    message = refusal(text)
    assert len(message) < SHORT, message
    for word in words:
        assert word in message, (word, message)
    if at is not None:
        assert message.startswith(f"{SOURCE}:{line_of(text, at)}: "), message
    return message


# --- YAML itself -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "key", "first", "again"), [
    ("    timezone: UTC\n", "    timezone: UTC\n    timezone: Europe/Paris\n", "timezone", "timezone: UTC",
     "timezone: Europe/Paris"),
    ("{id: zed, name: Zed,", "{id: zed, name: Zed, id: zod,", "id", "{id: zed", "id: zod"),
    ("heroes:", "accounts: []\nheroes:", "accounts", "accounts:", "accounts: []"),
])
def test_r9_duplicate_yaml_keys_are_refused_naming_the_key_and_its_line(old: str, new: str, key: str, first: str,
                                                                       again: str) -> None:
    text = changed(old, new)
    refused(text, f"duplicate key {key!r}", f"first at line {line_of(text, first)}", at=again)


def billion_laughs(levels: int = 9) -> str:
    lines = ['lol0: &lol0 "lol"']
    lines += [f"lol{n}: &lol{n} [{', '.join([f'*lol{n - 1}'] * 10)}]" for n in range(1, levels)]
    return "\n".join(lines) + f"\naccounts: *lol{levels - 1}\n"


def test_r9_yaml_anchors_and_aliases_are_refused_before_they_expand() -> None:
    bomb = billion_laughs()
    assert len(bomb) < 2_000  # 1.6 KB that PyYAML would expand to 10**8 nodes
    began = time.monotonic()
    refused(bomb, "anchors and aliases", at="&lol0")
    assert time.monotonic() - began < 1.0
    shared = changed("      - {id: mia, name: Mia, role: manager, skills: [sales]}",
                     "      - {id: mia, name: Mia, role: manager, skills: &team [sales]}\n"
                     "      - {id: max, skills: *team}")
    refused(shared, "anchors and aliases", at="&team")


@pytest.mark.parametrize("nested", ["[" * 5_000 + "]" * 5_000, "{a: " * 5_000 + "1" + "}" * 5_000,
                                    "".join(f"{' ' * n}k{n}:\n" for n in range(2_000)) + " " * 2_000 + "v\n"])
def test_r9_deep_nesting_is_refused_not_a_recursion_error(nested: str) -> None:
    refused(nested, "nest")  # ours past 20 levels, or libyaml's own limit on flow nesting


def test_r9_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(CONTRACT_EXAMPLE.replace("Dana", "D\u00e4na").encode("latin-1"))
    with pytest.raises(DirectoryError) as info:
        read_file(path)
    assert str(info.value).startswith(f"{path}:{line_of(CONTRACT_EXAMPLE, 'Dana')}: not UTF-8 text"), info.value


def test_r9_a_file_too_large_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(CONTRACT_EXAMPLE + "#" * directory_file.FILE_MAX_BYTES)
    with pytest.raises(DirectoryError, match=f"{path}: larger than {directory_file.FILE_MAX_BYTES // 1_000_000} MB"):
        read_file(path)


# --- numbers ----------------------------------------------------------------------------------------


CAPACITY = "accounts.0.agents.0.capacity"


@pytest.mark.parametrize(("written", "words"), [
    ("10" + "0" * 30, [CAPACITY, "less than or equal to 10000"]),
    ("9" * 5_000, ["cannot read", "5000 digits"]),  # refused by the YAML reader: no field yet
    ("true", [CAPACITY, "valid integer"]),
    ('"3"', [CAPACITY, "valid integer"]),
    ("3.0", [CAPACITY, "valid integer"]),
    ("-1", [CAPACITY, "greater than or equal to 1"]),
    ("10001", [CAPACITY, "less than or equal to 10000"]),
])
def test_r9_capacity_is_a_strict_int_from_1_to_10000(written: str, words: list[str]) -> None:
    refused(changed("capacity: 3,", f"capacity: {written},"), *words, at="capacity: ")
    assert parse_text(changed("capacity: 3,", "capacity: 10000,")).account("acme").agents[0].capacity == 10_000


@pytest.mark.parametrize(("field", "written"), [
    ("accept_timeout", "86401"), ("accept_timeout", "25h"), ("accept_timeout", "1" + "0" * 400),
    ("accept_timeout", "1.0e+400"), ("backup_window", "0"), ("backup_window", "1441m"), ("idle_timeout", "-1"),
    ("idle_timeout", "true"), ("idle_timeout", '"' + "9" * 500 + 's"'), ("idle_timeout", "721h"),
])
def test_r9_durations_are_positive_and_at_most_a_day_or_30_days_idle(field: str, written: str) -> None:
    old = {"accept_timeout": "accept_timeout: 30s", "backup_window": "backup_window: 60s",
           "idle_timeout": "accept_timeout: 30s"}[field]
    new = f"accept_timeout: 30s\n        idle_timeout: {written}" if field == "idle_timeout" else f"{field}: {written}"
    refused(changed(old, new), field)


def test_r9_a_day_is_the_longest_timeout_and_30_days_the_longest_idle_timeout() -> None:
    sales = parse_text(changed("accept_timeout: 30s", "accept_timeout: 24h\n        idle_timeout: 720h")) \
        .account("acme").skill("sales")
    assert (sales.accept_timeout, sales.idle_timeout) == (86_400.0, 30 * 86_400.0)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("skills: [sales, phone], capacity: 3,", "skills: [sales, phone], capacity: 3, active: 1,",
     "accounts.0.agents.0.active"),
    ("      - id: phone\n", "      - id: phone\n        enabled: \"no\"\n", "accounts.0.skills.1.enabled"),
])
def test_r9_flags_are_strict_booleans(old: str, new: str, field: str) -> None:
    refused(changed(old, new), field, "valid boolean")


# --- ids and text -----------------------------------------------------------------------------------

LONG_ID = "x" * (ID_MAX + 1)
ID_FIELDS = [
    # (the id's field, old, new)
    ("accounts.1.id", "  - id: bpo\n", f"  - id: {LONG_ID}\n"),
    ("accounts.0.skills.1.id", "      - id: phone\n", f"      - id: {LONG_ID}\n"),
    ("accounts.1.agents.0.id", "{id: zed,", f"{{id: {LONG_ID},"),
    ("accounts.1.agents.0.skills.0", "skills: [acme-sales], capacity: 5", f"skills: [{LONG_ID}], capacity: 5"),
    ("accounts.0.skills.0.fallback_skill", "fallback_skill: sales", f"fallback_skill: {LONG_ID}"),
    ("accounts.0.default_voice_skill", "default_voice_skill: phone", f"default_voice_skill: {LONG_ID}"),
    ("accounts.0.timezone", "America/New_York", LONG_ID),
    ("accounts.0.skills.0.transfer_targets.0.skill", "skill: service}", f"skill: {LONG_ID}}}"),
    ("accounts.0.skills.0.rollover.handler.account", "{account: bpo, skill: acme-sales}, backup",
     f"{{account: {LONG_ID}, skill: acme-sales}}, backup"),
    ("heroes.0.customer", "customer: cust-42", f"customer: {LONG_ID}"),
    ("heroes.0.agent", "agent: ann}", f"agent: {LONG_ID}}}"),
    ("gateways.0.name", "heroes:", f"gateways: [{{name: {LONG_ID}}}]\nheroes:"),
    ("gateways.0.accounts.0", "heroes:", f"gateways: [{{name: web, accounts: [{LONG_ID}]}}]\nheroes:"),
]


@pytest.mark.parametrize(("field", "old", "new"), ID_FIELDS, ids=[f[0] for f in ID_FIELDS])
def test_r9_1_every_id_of_the_directory_is_at_most_200_characters(field: str, old: str, new: str) -> None:
    refused(changed(old, new), field, f"at most {ID_MAX} characters", at=LONG_ID)


def test_r9_1_ids_have_no_control_characters() -> None:
    refused(changed("{id: zed,", '{id: "z\\ted",'), "accounts.1.agents.0.id", "control characters")


@pytest.mark.parametrize("agent_id", ["admin", "gateway:web", '"gateway:"'])
def test_r9_agent_ids_that_are_principal_names_are_refused(agent_id: str) -> None:
    refused(changed("{id: zed,", f"{{id: {agent_id},"), "accounts.1.agents.0.id", "principal", at="Zed")


LONG_TEXT = "t" * (TEXT_MAX + 1)
TEXT_FIELDS = [
    ("accounts.0.brand.name", "name: Acme Motors", f"name: {LONG_TEXT}"),
    ("accounts.0.brand.url", "url: https://acme.example,", f"url: {LONG_TEXT},"),
    ("accounts.0.brand.logo", "logo: https://acme.example/logo.png", f"logo: {LONG_TEXT}"),
    ("accounts.0.brand.hours", 'hours: "Mon-Fri 9-17"', f"hours: {LONG_TEXT}"),
    ("accounts.1.brand.widget", "{name: Answer Bureau}", f"{{name: Answer Bureau, widget: {LONG_TEXT}}}"),
    ("accounts.0.brand.contacts.0.name", "{name: Dana,", f"{{name: {LONG_TEXT},"),
    ("accounts.0.brand.contacts.0.phone", 'phone: "+1 555 0100"', f"phone: {LONG_TEXT}"),
    ("accounts.0.brand.contacts.0.role", 'phone: "+1 555 0100"', f'phone: "+1 555 0100", role: {LONG_TEXT}'),
    ("accounts.1.agents.0.name", "name: Zed,", f"name: {LONG_TEXT},"),
    ("accounts.0.skills.1.name", "      - id: phone\n", f"      - id: phone\n        name: {LONG_TEXT}\n"),
]


@pytest.mark.parametrize(("field", "old", "new"), TEXT_FIELDS, ids=[f[0] for f in TEXT_FIELDS])
def test_r9_1_free_text_of_the_directory_is_at_most_4000_characters(field: str, old: str, new: str) -> None:
    refused(changed(old, new), field, f"at most {TEXT_MAX} characters")


def test_r9_1_a_contact_holds_text_not_structures() -> None:
    refused(changed('phone: "+1 555 0100"', 'phone: "+1 555 0100", extra: {deep: [1]}'),
            "accounts.0.brand.contacts.0.extra", "valid string")


# --- policies ---------------------------------------------------------------------------------------


def test_r9_a_rollover_policy_whose_handler_is_the_skill_itself_is_refused() -> None:
    text = changed("handler: {account: bpo, skill: acme-sales}, backup", "handler: {account: acme, skill: sales}, backup")
    refused(text, "accounts.0.skills.0.rollover.handler", "the skill itself", at="{account: acme, skill: sales}")
    # The account's default policy would send a skill that has none of its own to itself.
    text = changed("      - id: acme-sales\n        rollover: null\n", "      - id: acme-sales\n").replace(
        "    timezone: UTC\n", "    timezone: UTC\n    rollover: {mode: fully_managed, "
        "handler: {account: bpo, skill: acme-sales}}\n")
    refused(text, "accounts.1.rollover.handler", "bpo/acme-sales", "the skill itself", at="{mode: fully_managed")
    # Mode none sends nothing anywhere: its handler is not used.
    assert parse_text(changed("{mode: backup, handler: {account: bpo,", "{mode: none, handler: {account: acme,")
                      .replace("skill: acme-sales}, backup_window", "skill: sales}, backup_window"))


# --- no traceback for any file ----------------------------------------------------------------------

BAD_FILES = [
    # (name, content, words the refusal names)
    ("empty", b"", ["no accounts"]),
    ("only a comment", b"# nothing\n", ["no accounts"]),
    ("no accounts", b"accounts: []\n", ["no accounts"]),
    ("a scalar", b"just words\n", ["must be a mapping"]),
    ("a number", b"42\n", ["must be a mapping"]),
    ("a list at the top", b"- acme\n- bpo\n", ["must be a mapping"]),
    ("binary garbage", bytes(range(256)) * 8, ["not UTF-8"]),
    ("control characters", b"accounts:\x00\x01\x02\n", ["not valid YAML"]),
    ("bad YAML", b"accounts: [\n", ["not valid YAML"]),
    ("tabs", b"accounts:\n\t- id: a\n", ["not valid YAML"]),
    ("deep flow nesting", b"[" * 100_000, ["nest"]),
    ("deep block nesting", b"".join(b" " * n + b"- \n" for n in range(3_000)), ["nested deeper than"]),
    ("billion laughs", billion_laughs().encode(), ["anchors and aliases"]),
    ("python tag", b"accounts: !!python/object/apply:os.system [echo hi]\n", ["not valid YAML"]),
    ("unknown tag", b"accounts: !money 5\n", ["not valid YAML"]),
    ("unhashable key", b"? [a, b]\n: 1\n", ["not valid YAML"]),
    ("null key", b"~: 1\n", ["unknown field"]),
    ("bool key", b"accounts: [{id: a, brand: {name: A}, true: 1}]\n", ["unknown field"]),
    ("duplicate key", b"accounts: []\naccounts: []\n", ["duplicate key 'accounts'"]),
    ("huge int", b"accounts: [{id: a, brand: {name: A}, agents: [{id: x, capacity: " + b"9" * 5_000 + b"}]}]\n",
     ["cannot read", "digits"]),
    ("huge capacity", b"accounts: [{id: a, brand: {name: A}, agents: [{id: x, capacity: 1" + b"0" * 30 + b"}]}]\n",
     ["capacity"]),
    ("huge duration", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, accept_timeout: 1" + b"0" * 400
     + b"}]}]\n", ["accept_timeout"]),
    ("impossible date", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, holidays: [2026-13-45]}]}]\n",
     ["cannot read '2026-13-45'", "month"]),
    ("accounts a number", b"accounts: 5\n", ["accounts"]),
    ("account a number", b"accounts: [5]\n", ["accounts.0"]),
    ("id a list", b"accounts: [{id: [1, 2], brand: {name: A}}]\n", ["accounts.0.id"]),
    ("brand a string", b"accounts: [{id: a, brand: text}]\n", ["accounts.0.brand"]),
    ("skills a mapping", b"accounts: [{id: a, brand: {name: A}, skills: {id: s}}]\n", ["accounts.0.skills"]),
    ("status a number", b"accounts: [{id: a, brand: {name: A}, agents: [{id: x, status: 5}]}]\n",
     ["accounts.0.agents.0.status"]),
    ("hours a number", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, hours: 5}]}]\n", ["hours"]),
    ("hours of a number", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, hours: {mon: 5}}]}]\n", ["hours"]),
    ("hours a list of lists", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, hours: {mon: [[1]]}}]}]\n",
     ["hours"]),
    ("a day that is a number", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, hours: {5: '09:00-10:00'}}]}]\n",
     ["hours"]),
    ("holidays a number", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, holidays: 5}]}]\n", ["holidays"]),
    ("rollover a number", b"accounts: [{id: a, brand: {name: A}, rollover: 5}]\n", ["rollover"]),
    ("mode a number", b"accounts: [{id: a, brand: {name: A}, rollover: {mode: 5}}]\n", ["rollover.mode"]),
    ("schedule a number", b"accounts: [{id: a, brand: {name: A}, rollover: {mode: schedule, schedule: 5}}]\n",
     ["rollover"]),
    ("target a number", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, transfer_targets: [5]}]}]\n",
     ["transfer_targets.0"]),
    ("heroes a string", b"accounts: [{id: a, brand: {name: A}}]\nheroes: x\n", ["heroes"]),
    ("gateway name a number", b"accounts: [{id: a, brand: {name: A}}]\ngateways: [{name: 5}]\n", ["gateways.0.name"]),
    ("time zone a path", b"accounts: [{id: a, brand: {name: A}, timezone: ../../etc/passwd}]\n", ["timezone"]),
    ("time zone with a NUL", b'accounts: [{id: a, brand: {name: A}, timezone: "U\\0TC"}]\n', ["timezone"]),
    ("a huge hours string", b"accounts: [{id: a, brand: {name: A}, skills: [{id: s, hours: {mon: '" + b"9" * 100_000
     + b"'}}]}]\n", ["hours"]),
]


@pytest.mark.parametrize(("content", "words"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_r9_2_no_directory_file_ends_in_a_traceback(content: bytes, words: list[str], tmp_path: Path) -> None:
    """What `switchboard directory load FILE` says of each bad file: one line naming the problem,
    exit code 2 (bad input), no traceback, and the stored directory untouched."""
    env = {"SWITCHBOARD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"}
    (tmp_path / "good.yaml").write_text(CONTRACT_EXAMPLE)
    assert CliRunner().invoke(main, ["directory", "load", str(tmp_path / "good.yaml")], env=env).exit_code == 0
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["directory", "load", str(path)], env=env)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), result.output
    assert len(lines[0]) < SHORT + len(str(path)), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    shown = CliRunner().invoke(main, ["directory", "show"], env=env)
    assert shown.exit_code == 0 and "Acme Motors" in shown.output


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**40, 10**40) | st.floats() | TEXT | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_r9_2_property_any_value_anywhere_loads_or_is_refused_in_a_line(data: st.DataObject) -> None:
    """The CONTRACT example with one value, anywhere in it, replaced by anything YAML can hold."""
    tree = yaml.safe_load(CONTRACT_EXAMPLE)
    node = tree
    while True:
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
        if not isinstance(node[key], (dict, list)) or not node[key] or data.draw(st.booleans()):
            node[key] = data.draw(VALUES)
            break
        node = node[key]
    try:
        parse_text(yaml.safe_dump(tree, allow_unicode=True), SOURCE)
    except DirectoryError as exc:
        assert str(exc).startswith(f"{SOURCE}:") and len(str(exc)) < SHORT, exc
