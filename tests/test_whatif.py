"""The what-if simulator (issue 13): it agrees with queueing theory, and it routes by the engine's
own rules (a policy or a rule change changes the simulated day). Seeded, so every run is the same;
no Temporal, no database."""

from __future__ import annotations

from datetime import date

import pytest

from routing.directory import Directory
from routing.selection import first_ahead, heads, room, Candidate
from whatif.erlang import erlang_a, erlang_b, erlang_c
from whatif.mmc import replicate
from whatif.policy import PolicyError, apply, parse_policy
from whatif.report import build
from whatif.sim import Simulation
from whatif.traffic import Traffic

HOUR = 3600


def test_erlang_formulas_match_published_values() -> None:
    # Erlang B(5, 4) = 0.19907 and C(5, 4) = 0.55411 (standard tables); Erlang A tends to C as patience grows.
    assert erlang_b(5, 4.0) == pytest.approx(0.19907, abs=1e-5)
    c = erlang_c(5, 48 / HOUR, 300, 20)
    assert c.p_wait == pytest.approx(0.55411, abs=1e-5)
    assert c.mean_wait == pytest.approx(0.55411 / (5 / 300 - 48 / HOUR), rel=1e-4)
    a = erlang_a(5, 48 / HOUR, 300, 1e8, 20)
    assert a.mean_wait == pytest.approx(c.mean_wait, rel=1e-3)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-3)
    with pytest.raises(ValueError, match="without bound"):
        erlang_c(2, 1 / 100, 300, 20)


def test_mmc_agrees_with_erlang_c_within_a_99_percent_confidence_interval() -> None:
    """Poisson arrivals (42/h), exponential handle times (5 min), 5 agents, nobody abandons:
    8 independent replications of 2 simulated days each."""
    theory = erlang_c(5, 42 / HOUR, 300, 20)
    measured = replicate(5, 42, 300, None, days=2, replications=8)
    wait, level = measured["mean_wait"], measured["service_level"]
    assert wait.holds(theory.mean_wait), (wait, theory)
    assert level.holds(theory.service_level), (level, theory)
    assert wait.half_width < 0.5 * theory.mean_wait and level.half_width < 0.1  # an interval that says something
    assert measured["abandoned"].mean == 0


def test_mmc_with_exponential_patience_agrees_with_erlang_a() -> None:
    """The same skill at 60/h (offered load 5 on 5 agents) with a 2-minute mean patience."""
    theory = erlang_a(5, 60 / HOUR, 300, 120, 20)
    measured = replicate(5, 60, 300, 120, days=1, replications=8, seed=2)
    for key, value in (("mean_wait", theory.mean_wait), ("service_level", theory.service_level),
                       ("abandoned", theory.abandoned)):
        assert measured[key].holds(value), (key, measured[key], value)
        assert measured[key].half_width < 0.2 * value


def test_mmc_occupancy_is_the_offered_load_per_agent() -> None:
    """Busy over online slot-time of the day, by interval and in all: about a/c = 0.7 (one day,
    1,000 conversations: within 0.06), and the intervals add up to the day."""
    from whatif.mmc import directory, traffic

    sim = Simulation(directory(5), traffic(42, 300, None, 1, 11, 20))
    handler = build(sim, sim.run())["handlers"][0]
    assert handler["occupancy"] == pytest.approx(0.7, abs=0.06)
    assert sum(row["answered"] for row in handler["intervals"]) == handler["answered"]
    assert all(0 <= row["occupancy"] <= 1 for row in handler["intervals"])


def _shop(rollover: dict | None = None, *, owner_status: str = "online", hours: dict | None = None) -> Directory:
    sales = {"id": "sales", "accept_timeout": "30s"}
    if hours:
        sales["hours"] = hours
    if rollover:
        sales["rollover"] = {"handler": {"account": "bpo", "skill": "shop"}, **rollover}
    return Directory.model_validate({"accounts": [
        {"id": "shop", "brand": {"name": "Shop"}, "timezone": "America/New_York", "skills": [sales],
         "agents": [{"id": f"own-{i}", "skills": ["sales"], "status": owner_status} for i in range(3)]},
        {"id": "bpo", "brand": {"name": "BPO"}, "skills": [{"id": "shop"}],
         "agents": [{"id": f"bpo-{i}", "skills": ["shop"], "status": "online", "capacity": 2} for i in range(3)]}],
        "heroes": [{"account": "shop", "customer": "vip", "agent": "own-0"}]})


def _traffic(**more) -> Traffic:
    stream = {"account": "shop", "skill": "sales", "per_hour": 20, "handle": {"mean": "4m"}, **more.pop("stream", {})}
    return Traffic.model_validate({"start": date(2026, 12, 7), "seed": 3, "streams": [stream], **more})


def _run(directory: Directory, traffic: Traffic) -> dict:
    sim = Simulation(directory, traffic)
    return build(sim, sim.run())["skills"][0]


def test_r3_2_fully_managed_sends_every_conversation_to_the_handler() -> None:
    skill = _run(_shop({"mode": "fully_managed"}), _traffic())
    assert skill["offered"] > 300 and skill["rolled_over"] == skill["offered"]
    assert skill["answered_by"] == {"bpo": skill["answered"]}
    assert list(skill["rolled_over_why"]) == ["R3.2 fully_managed: always to bpo/shop"]


def test_r3_3_backup_rolls_over_when_no_owner_agent_answers_within_the_window() -> None:
    """Owner agents never answer: each offer expires after 30 s, and at 60 s the backup window
    sends the conversation to the handler (the engine's decide, on the simulated clock)."""
    traffic = _traffic(agents=[{"id": f"own-{i}", "answer": {"no_answer": 1.0}} for i in range(3)])
    skill = _run(_shop({"mode": "backup", "backup_window": "60s"}), traffic)
    assert skill["rolled_over"] == skill["offered"] == skill["answered"]
    assert skill["rolled_over_why"] == {"backup: no owner agent accepted within the backup window": skill["offered"]}
    assert skill["service_level"] == 0 and skill["mean_wait_s"] >= 60


def test_r3_3_backup_with_nobody_online_rolls_over_at_once() -> None:
    skill = _run(_shop({"mode": "backup"}, owner_status="offline"), _traffic())
    assert skill["rolled_over_why"] == {"backup: no owner agent of the skill is online": skill["offered"]}


def test_r3_4_schedule_off_hours_follows_the_owner_hours_in_its_zone() -> None:
    """Working hours 09:00-17:00 New York: what arrives outside them goes to the handler."""
    directory = _shop({"mode": "schedule", "schedule": "off_hours"}, hours={"mon-fri": "09:00-17:00"})
    skill = _run(directory, _traffic())
    for row in skill["intervals"]:
        hour = int(row["start"][11:13])
        if row["offered"]:
            assert (row["rolled_over"] == row["offered"]) == (not 9 <= hour < 17), row
            assert row["rolled_over"] in (0, row["offered"])


@pytest.mark.parametrize("holidays, closed_all_day", [([], False), ([date(2026, 3, 9)], True)])
def test_r3_4_off_hours_on_the_monday_after_the_dst_change_and_on_a_holiday(holidays: list[date],
                                                                            closed_all_day: bool) -> None:
    """New York moves to summer time on Sunday 2026-03-08: Monday's 09:00-17:00 is an hour earlier
    in UTC than the week before, and the simulation (``routing.hours``) follows the local clock; a
    skill holiday closes the whole local day."""
    directory = _shop({"mode": "schedule", "schedule": "off_hours"}, hours={"mon-fri": "09:00-17:00"})
    sales = directory.accounts[0].skills[0].model_copy(update={"holidays": holidays})
    directory = directory.model_copy(update={"accounts": [
        directory.accounts[0].model_copy(update={"skills": [sales]}), directory.accounts[1]]})
    traffic = Traffic.model_validate({"start": date(2026, 3, 8), "days": 2, "seed": 4, "streams": [
        {"account": "shop", "skill": "sales", "per_hour": 30, "handle": {"mean": "2m"}}]})
    monday = [row for row in _run(directory, traffic)["intervals"] if row["start"].startswith("2026-03-09")]
    assert len(monday) == 24 and all(row["offered"] for row in monday)
    for row in monday:
        inside = 9 <= int(row["start"][11:13]) < 17 and not closed_all_day
        assert row["rolled_over"] == (0 if inside else row["offered"]), row


def test_r7_1_a_repeat_customer_goes_to_their_hero_first() -> None:
    skill = _run(_shop(), _traffic(stream={"heroes": 1.0, "per_hour": 4}))
    assert skill["hero_conversations"] == skill["offered"] > 50
    assert skill["hero_hit_rate"] > 0.8  # the hero answers, unless busy with the previous one


def test_a_policy_change_changes_the_simulated_day() -> None:
    directory = _shop({"mode": "backup", "backup_window": "60s"})
    traffic = _traffic(agents=[{"id": f"own-{i}", "answer": {"no_answer": 1.0}} for i in range(3)],
                       stream={"patience": {"mean": "5m"}})
    base = _run(directory, traffic)
    never = _run(apply(directory, [parse_policy("shop/sales=none")]), traffic)
    short = _run(apply(directory, [parse_policy("shop/sales=backup:5s")]), traffic)
    assert never["rolled_over"] == 0 and never["answered"] == 0  # nobody answers and nothing rolls over
    assert never["abandoned"] == never["offered"]
    assert base["offered"] == never["offered"] == short["offered"]  # the same customers in every run
    assert short["mean_wait_s"] < base["mean_wait_s"]


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    directory, traffic = _shop({"mode": "backup"}), _traffic(answer={"time": {"mean": "5s"}, "decline": 0.2})
    first, again = _run(directory, traffic), _run(directory, traffic)
    assert first == again
    other = Simulation(directory, traffic, seed=99)
    assert build(other, other.run())["skills"][0] != first


@pytest.mark.parametrize("text, words", [
    ("shop/sales", "expected ACCOUNT/SKILL=MODE"),
    ("shop/sales=sometimes", "unknown mode 'sometimes'"),
    ("shop/sales=none:60s", "only backup and hybrid have a window"),
    ("shop/sales=backup:soon", "window 'soon' is not a duration"),
])
def test_bad_policy_values_are_refused_naming_the_problem(text: str, words: str) -> None:
    with pytest.raises(PolicyError, match=words):
        parse_policy(text)


def test_a_policy_for_a_skill_without_a_handler_is_refused() -> None:
    with pytest.raises(PolicyError, match="has no rollover handler"):
        apply(_shop(), [parse_policy("shop/sales=hybrid")])
    with pytest.raises(PolicyError, match="no skill shop/returns"):
        apply(_shop(), [parse_policy("shop/returns=none")])


def test_queue_rules_the_store_and_the_simulator_share() -> None:
    """``routing.selection``'s queue rules (SPEC R2.3): the first conversation ahead that would take
    a free agent; whom a freed agent wakes."""
    ann, bob = Candidate("ann", 0, 1, None), Candidate("bob", 1, 3, None)
    assert first_ahead([("c1", ["ann"]), ("c2", [])], [ann]) == "c2"
    assert first_ahead([("c1", ["ann"])], [ann]) is None
    assert room(bob, 5) == 2 and room(Candidate("bot", 9, None, None), 5) == 5
    assert heads("ann", [("c1", ["ann"]), ("c2", []), ("c3", []), ("c4", [])], 2) == ["c2", "c3"]


def test_the_constants_the_simulator_mirrors_are_the_engines() -> None:
    """The simulator may import only ``routing``: the store's look-ahead and wake limit are
    mirrored, and must not drift (the queue's re-check back-off is ``routing.selection``'s, shared)."""
    from store import capacity, routing as store_routing
    from whatif import people

    assert people.QUEUE_LOOKAHEAD == store_routing.QUEUE_LOOKAHEAD
    assert people.WAKE_LIMIT == capacity.WAKE_LIMIT
