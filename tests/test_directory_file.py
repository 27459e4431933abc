"""The directory file (CONTRACT "Directory file"): what loads, its defaults, and what is refused.

``store.directory.parse_text`` / ``read_file`` either return a whole ``Directory`` or raise
``DirectoryError`` as ``file:line: field: detail``; these tests pin the line and the field.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.directory import Directory, RolloverMode, SkillRef, Status
from routing.durations import format_duration, parse_duration
from store.directory import DirectoryError, parse_text, read_file

# Verbatim from CONTRACT.md, "Directory file": it must load as it is.
CONTRACT_EXAMPLE = """\
accounts:
  - id: acme
    brand: {name: Acme Motors, url: https://acme.example, logo: https://acme.example/logo.png,
            hours: "Mon-Fri 9-17", contacts: [{name: Dana, phone: "+1 555 0100"}]}
    timezone: America/New_York
    default_voice_skill: phone
    skills:
      - id: sales
        hours: {mon-fri: "09:00-17:00", sat: "10:00-14:00"}   # absent: always open
        holidays: ["2026-12-25"]
        accept_timeout: 30s
        rollover: {mode: backup, handler: {account: bpo, skill: acme-sales}, backup_window: 60s}
        transfer_targets: [{account: acme-parts, skill: service}]
        fallback_skill: sales
      - id: phone
    agents:
      - {id: ann, name: Ann, role: agent, skills: [sales, phone], capacity: 3, status: online}
      - {id: mia, name: Mia, role: manager, skills: [sales]}
  - id: bpo
    brand: {name: Answer Bureau}
    timezone: UTC
    skills:
      - id: acme-sales
        rollover: null
    agents:
      - {id: zed, name: Zed, role: agent, skills: [acme-sales], capacity: 5, status: online}
      - {id: bot-1, name: Night bot, kind: bot, skills: [acme-sales], capacity: null}
heroes:
  - {account: acme, customer: cust-42, agent: ann}      # or: inbox: sales
"""
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "directory.yaml"
SOURCE = "test.yaml"


def load(text: str) -> Directory:
    return parse_text(text, SOURCE)


def refusal(text: str) -> str:
    with pytest.raises(DirectoryError) as info:
        load(text)
    return str(info.value)


def line_of(text: str, needle: str) -> int:
    """The 1-based line where the first occurrence of ``needle`` in ``text`` starts."""
    return text[:text.index(needle)].count("\n") + 1


def changed(old: str, new: str, text: str = CONTRACT_EXAMPLE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- what loads ------------------------------------------------------------------------------------


def test_contract_example_loads_as_it_is() -> None:
    directory = load(CONTRACT_EXAMPLE)
    acme, bpo = directory.account("acme"), directory.account("bpo")
    assert [a.id for a in directory.accounts] == ["acme", "bpo"]
    assert acme.brand.name == "Acme Motors" and acme.brand.hours == "Mon-Fri 9-17"
    assert acme.brand.contacts[0].name == "Dana" and acme.brand.contacts[0].phone == "+1 555 0100"
    assert acme.timezone == "America/New_York" and acme.default_voice_skill == "phone"
    sales = acme.skill("sales")
    assert sales.hours.spec == {"mon-fri": ["09:00-17:00"], "sat": ["10:00-14:00"]}
    assert len(sales.hours.windows) == 6
    assert sales.holiday_set == {date(2026, 12, 25)}
    assert sales.accept_timeout == 30.0
    assert sales.rollover.mode is RolloverMode.BACKUP
    assert sales.rollover.handler == SkillRef(account="bpo", skill="acme-sales")
    assert sales.rollover.backup_window == 60.0
    # The example names a transfer target in an account it does not hold (SPEC R6.1).
    assert sales.transfer_targets == [SkillRef(account="acme-parts", skill="service")]
    assert sales.fallback_skill == "sales"
    assert acme.skill("phone").hours is None  # absent: always open
    assert bpo.timezone == "UTC" and bpo.skill("acme-sales").rollover is None
    assert [(h.account, h.customer, h.agent, h.inbox) for h in directory.heroes] == [("acme", "cust-42", "ann", None)]


def test_contract_example_agents_and_their_defaults() -> None:
    agents = {a.id: a for account in load(CONTRACT_EXAMPLE).accounts for a in account.agents}
    ann, mia, zed, bot = agents["ann"], agents["mia"], agents["zed"], agents["bot-1"]
    assert (ann.role, ann.kind, ann.capacity, ann.status, ann.skills) == ("agent", "human", 3, Status.ONLINE,
                                                                         ["sales", "phone"])
    assert (mia.role, mia.kind, mia.capacity, mia.status, mia.active) == ("manager", "human", 1, Status.OFFLINE, True)
    assert (zed.capacity, zed.status) == (5, Status.ONLINE)
    assert (bot.kind, bot.capacity, bot.status, bot.role) == ("bot", None, Status.OFFLINE, "agent")


def test_examples_directory_loads() -> None:
    directory = read_file(EXAMPLES)
    assert {a.id for a in directory.accounts} >= {"acme", "bpo"}
    modes = {skill.rollover.mode for a in directory.accounts for skill in a.skills if skill.rollover}
    assert modes == {RolloverMode.BACKUP, RolloverMode.FULLY_MANAGED, RolloverMode.SCHEDULE, RolloverMode.HYBRID}
    orders = directory.account("umbrella").skill("orders")
    assert orders.rollover.schedule.spec == {"mon-fri": ["00:00-09:00", "17:00-24:00"], "sat-sun": ["00:00-24:00"]}
    assert orders.rollover.backup_window == 45.0
    assert directory.account("initech").skill("helpdesk").rollover.schedule == "off_hours"


@pytest.mark.parametrize("source", [CONTRACT_EXAMPLE, EXAMPLES.read_text(encoding="utf-8")])
def test_a_loaded_directory_survives_the_store_round_trip(source: str) -> None:
    # The store keeps models as JSON (model_dump(mode="json")) and reads them back.
    directory = load(source)
    assert Directory.model_validate(directory.model_dump(mode="json")) == directory


def test_an_empty_file_is_an_empty_directory() -> None:
    assert load("") == Directory()
    assert load("# nothing yet\n") == Directory()


def test_minimal_agent_defaults() -> None:
    text = """\
accounts:
  - id: a
    brand: {name: A}
    skills: [{id: s}]
    agents:
      - {id: x}
      - {id: y, capacity: null, skills: [s]}
"""
    account = load(text).account("a")
    x, y = account.agents
    assert (x.role, x.kind, x.status, x.capacity, x.active, x.skills) == ("agent", "human", Status.OFFLINE, 1, True, [])
    assert y.capacity is None  # null: unlimited
    assert account.timezone == "UTC"
    skill = account.skill("s")
    assert (skill.enabled, skill.hours, skill.accept_timeout, skill.rollover) == (True, None, 30.0, None)


@pytest.mark.parametrize(("written", "seconds"), [
    ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("45", 45.0), ("1.5", 1.5), ("0.5m", 30.0), ('"90"', 90.0),
])
def test_durations(written: str, seconds: float) -> None:
    text = changed("accept_timeout: 30s", f"accept_timeout: {written}")
    assert load(text).account("acme").skill("sales").accept_timeout == seconds


def test_account_default_policy_and_skill_opt_out() -> None:
    text = changed("""    timezone: UTC
    skills:
      - id: acme-sales
        rollover: null""", """    timezone: UTC
    rollover: {mode: fully_managed, handler: {account: acme, skill: sales}}
    skills:
      - id: acme-sales
        rollover: null
      - id: other""")
    bpo = load(text).account("bpo")
    assert bpo.policy_for(bpo.skill("acme-sales")) is None  # rollover: null opts out of the default
    assert bpo.policy_for(bpo.skill("other")).mode is RolloverMode.FULLY_MANAGED


def test_schedule_modes_load_with_off_hours_or_weekly_windows() -> None:
    text = changed("{mode: backup, handler: {account: bpo, skill: acme-sales}, backup_window: 60s}",
                   '{mode: hybrid, handler: {account: bpo, skill: acme-sales}, '
                   'schedule: {mon-fri: "17:00-09:00", sat-sun: "00:00-24:00"}}')
    assert load(text).account("acme").skill("sales").rollover.schedule.spec["mon-fri"] == ["17:00-09:00"]
    text = changed("{mode: backup, handler: {account: bpo, skill: acme-sales}, backup_window: 60s}",
                   "{mode: schedule, handler: {account: bpo, skill: acme-sales}, schedule: off_hours}")
    assert load(text).account("acme").skill("sales").rollover.schedule == "off_hours"


def test_a_transfer_target_in_a_known_account_must_name_one_of_its_skills() -> None:
    ok = changed("transfer_targets: [{account: acme-parts, skill: service}]",
                 "transfer_targets: [{account: bpo, skill: acme-sales}]")
    assert load(ok).account("acme").skill("sales").transfer_targets == [SkillRef(account="bpo", skill="acme-sales")]
    text = changed("transfer_targets: [{account: acme-parts, skill: service}]",
                   "transfer_targets: [{account: bpo, skill: nope}]")
    message = refusal(text)
    assert message.startswith(f"{SOURCE}:{line_of(text, 'transfer_targets')}: ")
    assert "'nope'" in message and "transfer_targets" in message


# --- what is refused: the line and the field -------------------------------------------------------


def test_malformed_yaml_names_the_line() -> None:
    message = refusal("accounts:\n  - id: a\n\t  brand: x\n")
    assert message.startswith(f"{SOURCE}:3: not valid YAML")
    message = refusal(changed("timezone: UTC", "timezone: [UTC"))
    assert "not valid YAML" in message and message.startswith(f"{SOURCE}:")


@pytest.mark.parametrize("text", ["- acme\n- bpo\n", "just words\n", "42\n"])
def test_the_directory_must_be_a_mapping(text: str) -> None:
    assert refusal(text) == f"{SOURCE}:1: the directory must be a mapping with 'accounts'"


REFUSALS = [
    # (name, old, new, the line holding this text, texts the message must contain)
    ("unknown top-level field", "heroes:", "heros:", "heros:", ["heros", "unknown field"]),
    ("unknown agent field", "capacity: 3,", "capcity: 3,", "capcity", ["accounts.0.agents.0.capcity", "unknown field"]),
    ("unknown skill field", "accept_timeout: 30s", "acept_timeout: 30s", "acept_timeout",
     ["accounts.0.skills.0.acept_timeout", "unknown field"]),
    ("unknown policy field", "backup_window: 60s}", "backup_windw: 60s}", "backup_windw",
     ["rollover.backup_windw", "unknown field"]),
    ("unknown brand field", "{name: Answer Bureau}", "{name: Answer Bureau, logo_url: x}", "Answer Bureau",
     ["brand.logo_url", "unknown field"]),
    ("bad time zone", "timezone: UTC", "timezone: Mars/Olympus", "Mars/Olympus",
     ["accounts.1.timezone", "'Mars/Olympus'", "unknown time zone"]),
    ("bad hours span", 'sat: "10:00-14:00"', 'sat: "10-14"', "10-14", ["accounts.0.skills.0.hours", "'10-14'"]),
    ("bad hours day", 'sat: "10:00-14:00"', 'saturday: "10:00-14:00"', "saturday",
     ["accounts.0.skills.0.hours", "'saturday'"]),
    ("24:00 as a start", 'sat: "10:00-14:00"', 'sat: "24:00-14:00"', "24:00-14:00", ["'24:00-14:00'"]),
    ("bad duration", "accept_timeout: 30s", "accept_timeout: 30 sec", "30 sec",
     ["accounts.0.skills.0.accept_timeout", "'30 sec'", "not a duration"]),
    ("negative duration", "backup_window: 60s", "backup_window: -5", "backup_window", ["backup_window", "-5"]),
    ("nan duration", "backup_window: 60s", "backup_window: .nan", "backup_window", ["backup_window", "nan"]),
    ("bad holiday", '"2026-12-25"', '"2026-13-25"', "2026-13-25", ["holidays.0", "'2026-13-25'"]),
    ("unknown handler account", "handler: {account: bpo,", "handler: {account: bpx,", "bpx",
     ["rollover.handler.account", "unknown account 'bpx'"]),
    ("unknown handler skill", "skill: acme-sales}, backup_window", "skill: acme-sale}, backup_window", "acme-sale}",
     ["rollover.handler.skill", "no skill 'acme-sale'"]),
    ("agent in an unknown skill", "skills: [sales, phone]", "skills: [sales, phones]", "phones",
     ["accounts.0.agents.0.skills", "'phones'"]),
    ("duplicate agent id across accounts", "{id: zed,", "{id: ann,", "{id: ann, name: Zed",
     ["accounts.1.agents.0.id", "duplicate agent id 'ann'"]),
    ("hero with an unknown agent", "agent: ann}", "agent: anne}", "anne", ["heroes.0.agent", "'anne'"]),
    ("hero with an unknown inbox", "agent: ann}", "inbox: sale}", "inbox: sale}", ["heroes.0.inbox", "'sale'"]),
    ("hero with an unknown account", "{account: acme, customer", "{account: acne, customer", "acne",
     ["heroes.0.account", "'acne'"]),
    ("hero with neither agent nor inbox", ", agent: ann}", "}", "customer: cust-42",
     ["heroes.0", "give one"]),
    ("schedule without a schedule", "{mode: backup,", "{mode: schedule,", "mode: schedule",
     ["accounts.0.skills.0.rollover", "'schedule' needs a schedule"]),
    ("hybrid without a schedule", "{mode: backup,", "{mode: hybrid,", "mode: hybrid",
     ["rollover", "'hybrid' needs a schedule"]),
    ("backup without a handler", "{mode: backup, handler: {account: bpo, skill: acme-sales}, backup_window: 60s}",
     "{mode: backup, backup_window: 60s}", "mode: backup",
     ["accounts.0.skills.0.rollover", "'backup' needs a handler"]),
    ("unknown mode", "{mode: backup,", "{mode: scheduled,", "scheduled", ["rollover.mode", "'scheduled'"]),
    ("bad weekly schedule", "{mode: backup,", "{mode: schedule, schedule: {mon-fri: '9-17'},", "'9-17'",
     ["rollover.schedule", "'9-17'"]),
    ("misspelt off_hours", "{mode: backup,", "{mode: schedule, schedule: of_hours,", "of_hours",
     ["rollover.schedule", "'of_hours'"]),
    ("unknown status", "status: online}\n      - {id: mia", "status: busy}\n      - {id: mia", "busy",
     ["accounts.0.agents.0.status", "'busy'"]),
    ("zero capacity", "capacity: 3,", "capacity: 0,", "capacity: 0", ["accounts.0.agents.0.capacity", "0"]),
    ("unknown role", "role: manager", "role: boss", "boss", ["accounts.0.agents.1.role", "'boss'"]),
    ("unknown fallback skill", "fallback_skill: sales", "fallback_skill: sails", "sails",
     ["fallback_skill", "'sails'"]),
    ("unknown default voice skill", "default_voice_skill: phone", "default_voice_skill: fone", "fone",
     ["default_voice_skill", "'fone'"]),
    ("duplicate skill id", "      - id: phone\n", "      - id: sales\n", "      - id: sales\n    agents",
     ["accounts.0.skills.1.id", "duplicate skill", "'sales'"]),
    ("duplicate account id", "  - id: bpo\n", "  - id: acme\n", "  - id: acme\n    brand: {name: Answer",
     ["accounts.1.id", "duplicate account id 'acme'"]),
    ("missing brand", "    brand: {name: Answer Bureau}\n", "", "  - id: bpo", ["accounts.1.brand", "missing field"]),
]


@pytest.mark.parametrize(("old", "new", "at", "named"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusal_names_line_and_field(old: str, new: str, at: str, named: list[str]) -> None:
    text = changed(old, new)
    message = refusal(text)
    assert message.startswith(f"{SOURCE}:{line_of(text, at)}: "), message
    for part in named:
        assert part in message, (part, message)


def test_account_default_policy_with_an_unknown_handler() -> None:
    text = changed("    timezone: UTC\n", "    timezone: UTC\n    rollover: {mode: fully_managed, "
                                           "handler: {account: acme, skill: nope}}\n")
    message = refusal(text)
    assert message.startswith(f"{SOURCE}:{line_of(text, 'skill: nope')}: ")
    assert "accounts.1.rollover.handler.skill" in message and "'nope'" in message


def test_gateway_with_an_unknown_account() -> None:
    text = CONTRACT_EXAMPLE + "gateways:\n  - {name: web, accounts: [acme, nobody]}\n"
    message = refusal(text)
    assert message.startswith(f"{SOURCE}:{line_of(text, 'nobody')}: ")
    assert "gateways.0.accounts.1" in message and "'nobody'" in message


def test_read_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(changed("timezone: UTC", "timezone: Nowhere/Land"), encoding="utf-8")
    with pytest.raises(DirectoryError) as info:
        read_file(path)
    assert str(info.value).startswith(f"{path}:{line_of(path.read_text(), 'Nowhere')}: ")
    with pytest.raises(DirectoryError, match="cannot read"):
        read_file(tmp_path / "missing.yaml")


# --- durations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "0s", -1, 0, "-5s", "abc", "1m30s", "30 sec", "", True, None, [],
                                   math.nan, math.inf, "1e3"])
def test_bad_durations_are_refused_naming_the_value(value: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(("seconds", "written"), [(30, "30s"), (90, "90s"), (120, "2m"), (3600, "1h"),
                                                  (5400, "90m"), (0.5, "0.5s"), (1234567, "1234567s")])
def test_format_duration(seconds: float, written: str) -> None:
    assert format_duration(seconds) == written


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(1, 10**8).map(float),
                 st.floats(min_value=0.001, max_value=10**7, allow_nan=False, allow_infinity=False)))
def test_property_format_duration_reads_back(seconds: float) -> None:
    """What the store writes (format_duration) it must read back (parse_duration), to the microsecond."""
    assert math.isclose(parse_duration(format_duration(seconds)), seconds, rel_tol=0, abs_tol=1e-6)
