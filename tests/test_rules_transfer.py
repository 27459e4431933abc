"""SPEC R6 as pure rules: the allow-list and the way back, the working-hours gate, named agents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.directory import Skill, SkillRef
from routing.errors import Refusal
from routing.hours import is_open
from routing.model import Origin
from routing.selection import Candidate
from routing.transfer import check_agent, check_allowed, check_open, fallback_for, may_transfer
from routing.visibility import Party, Where

SALES = SkillRef(account="acme", skill="sales")
SERVICE = SkillRef(account="parts", skill="service")
DESK = SkillRef(account="tyres", skill="desk")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = Skill.model_validate({"id": "service", "hours": {"mon-fri": "09:00-17:00"}, "holidays": ["2026-12-25"]})


def test_r6_1_inside_the_account_needs_no_allow_list():
    assert check_allowed(SALES, [], SkillRef(account="acme", skill="billing"), None, None) == "inside the account"


def test_r6_1_another_account_must_be_on_the_allow_list():
    assert "transfer target" in check_allowed(SALES, [SERVICE], SERVICE, None, None)
    with pytest.raises(Refusal) as refused:
        check_allowed(SALES, [SERVICE], DESK, None, None)
    assert refused.value.message == "transfer: tyres/desk is not a transfer target of acme/sales (allowed: parts/service)"
    assert refused.value.field == "skill"


def test_r6_5_back_to_the_originating_skill_or_agent_needs_no_allow_list():
    origin = Origin(skill=SALES, agent="ann")
    assert check_allowed(SERVICE, [], SALES, origin, None).startswith("back to where it came from")
    assert check_allowed(SERVICE, [], SkillRef(account="acme", skill="billing"), origin, "ann")
    with pytest.raises(Refusal):
        check_allowed(SERVICE, [], SkillRef(account="acme", skill="billing"), origin, "bob")


def test_r6_3_open_skill_passes_and_a_closed_one_names_its_next_opening():
    friday_evening = datetime(2026, 11, 27, 17, 30, tzinfo=BERLIN)
    check_open(SERVICE, WEEKDAYS, BERLIN, friday_evening - timedelta(hours=1))
    with pytest.raises(Refusal) as refused:
        check_open(SERVICE, WEEKDAYS, BERLIN, friday_evening)
    assert refused.value.message == ("transfer: skill parts/service is closed at Fri 17:30 Europe/Berlin; "
                                     "it opens Mon 09:00 Europe/Berlin")


def test_r6_3_a_holiday_is_closed_all_day():
    with pytest.raises(Refusal) as refused:
        check_open(SERVICE, WEEKDAYS, BERLIN, datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN))
    assert "it opens Mon 09:00" in refused.value.message  # Dec 28


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(timezone.utc)))
def test_r6_3_the_gate_agrees_with_the_working_hours_across_dst(instant):
    opened = is_open(WEEKDAYS.hours, WEEKDAYS.holiday_set, BERLIN, instant)
    try:
        check_open(SERVICE, WEEKDAYS, BERLIN, instant)
        refused = False
    except Refusal:
        refused = True
    assert refused is not opened


def test_r6_3_a_disabled_skill_is_refused():
    with pytest.raises(Refusal) as refused:
        check_open(SERVICE, Skill(id="service", enabled=False), BERLIN, datetime.now(timezone.utc))
    assert refused.value.kind == "SkillDisabled"


@pytest.mark.parametrize(("candidate", "member", "needle"), [
    (None, False, "is not in account 'parts'"),
    (Candidate("pia", 0, 2, None, online=True, active=False), True, "is deactivated"),
    (Candidate("pia", 0, 2, None, online=False), True, "is not online"),
    (Candidate("pia", 2, 2, None), True, "is at capacity"),
    (Candidate("pia", 0, 2, None), False, "is not in skill 'service'"),
])
def test_r6_7_a_named_agent_who_cannot_take_it_is_refused_with_the_reason(candidate, member, needle):
    with pytest.raises(Refusal) as refused:
        check_agent(candidate, "pia", SERVICE, member=member)
    assert needle in refused.value.message and refused.value.field == "agent"


def test_r6_7_a_named_agent_with_room_passes():
    check_agent(Candidate("pia", 1, 2, None), "pia", SERVICE, member=True)
    check_agent(Candidate("bot", 50, None, None), "bot", SERVICE, member=True)


def test_r6_4_fallback_is_the_destination_fallback_skill_else_the_sender():
    assert fallback_for(SERVICE, Skill(id="service", fallback_skill="front"), SALES) == \
        SkillRef(account="parts", skill="front")
    assert fallback_for(SERVICE, Skill(id="service"), SALES) == SALES


@pytest.mark.parametrize(("party", "allowed"), [
    (Party("ann", "agent", "acme"), True),  # the assignee
    (Party("bob", "agent", "acme"), False),  # a colleague
    (Party("mia", "manager", "acme"), True),  # owner manager
    (Party("pam", "manager", "parts"), False),  # manager of the destination only: not involved yet
    (Party("max", "manager", "bpo"), True),  # manager of the handler
    (Party("admin", "admin"), True),
])
def test_r6_7_who_may_transfer(party, allowed):
    assert may_transfer(party, Where(owner="acme", handler="bpo", assignee="ann")) is allowed
