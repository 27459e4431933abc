"""SPEC R7.1, R7.2 as a pure rule: every channel with the hero available, away, busy, deactivated."""

from __future__ import annotations

import pytest

from routing.hero import hero_inbox, plan
from routing.model import CHANNELS, MESSAGING_CHANNELS
from routing.selection import Candidate

ONLINE = Candidate("ann", 0, 2, None)
AWAY = Candidate("ann", 0, 2, None, online=False)
BUSY = Candidate("ann", 2, 2, None)
GONE = Candidate("ann", 0, 2, None, active=False)


def _plan(agent, channel, **kw):
    return plan(hero_agent="ann", agent=agent, inbox="sales", channel=channel, default_voice_skill="phone", **kw)


@pytest.mark.parametrize("channel", CHANNELS)
def test_r7_1_an_available_hero_is_offered_first_on_every_channel(channel):
    chosen = _plan(ONLINE, channel)
    assert (chosen.kind, chosen.agent, chosen.skill) == ("offer", "ann", "sales")


@pytest.mark.parametrize("agent", [AWAY, BUSY])
@pytest.mark.parametrize("channel", MESSAGING_CHANNELS)
def test_r7_2_messaging_goes_to_the_hero_inbox(agent, channel):
    chosen = _plan(agent, channel)
    assert (chosen.kind, chosen.skill, chosen.agent) == ("skill", "sales", None)


@pytest.mark.parametrize("agent", [AWAY, BUSY])
def test_r7_2_voice_goes_to_the_default_voice_skill(agent):
    assert (_plan(agent, "voice").kind, _plan(agent, "voice").skill) == ("skill", "phone")


def test_r7_2_voice_without_a_default_voice_skill_goes_to_the_hero_inbox():
    chosen = plan(hero_agent="ann", agent=AWAY, inbox="sales", channel="voice", default_voice_skill=None)
    assert chosen.skill == "sales"


@pytest.mark.parametrize("agent", [AWAY, BUSY])
@pytest.mark.parametrize("channel", ["email", "voicemail"])
def test_r7_2_email_and_voicemail_are_assigned_to_the_hero_anyway(agent, channel):
    chosen = _plan(agent, channel)
    assert (chosen.kind, chosen.agent) == ("assign", "ann")


@pytest.mark.parametrize("channel", ["email", "voicemail", "web"])
def test_r7_6_a_deactivated_hero_is_never_given_anything(channel):
    assert _plan(GONE, channel).kind == "skill"


def test_r7_1_a_hero_who_passed_is_not_offered_again():
    chosen = _plan(ONLINE, "web", passed=True)
    assert chosen.kind == "skill" and "passed on it" in chosen.reason


def test_r7_1_an_inbox_hero_routes_in_the_inbox():
    chosen = plan(hero_agent=None, agent=None, inbox="vip", channel="web", default_voice_skill="phone")
    assert (chosen.kind, chosen.skill) == ("skill", "vip")


def test_the_hero_inbox_is_the_named_inbox_else_the_agents_first_skill():
    assert hero_inbox("vip", ["a", "b"]) == "vip"
    assert hero_inbox(None, ["a", "b"]) == "a"
    assert hero_inbox(None, []) is None
