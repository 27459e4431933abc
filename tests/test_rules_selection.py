"""Who gets the next offer, and which queued conversation goes first (SPEC R2.1, R2.3).

Pure rules, no server: ``routing.selection`` is checked against examples and properties.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.selection import Candidate, eligible, queue_order, ranked, recheck_after, select_agent

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def agent(id: str, load: int = 0, capacity: int | None = 1, idle: int | None = 0, **flags: bool) -> Candidate:
    """A candidate idle since ``idle`` minutes after T0 (None: never offered anything)."""
    return Candidate(id, load, capacity, None if idle is None else T0 + timedelta(minutes=idle), **flags)


def chosen(*candidates: Candidate, excluded: tuple[str, ...] = ()) -> str | None:
    pick = select_agent(list(candidates), excluded)
    return pick.id if pick else None


# --- R2.1 eligibility ----------------------------------------------------------------------------


def test_r2_1_only_online_agents() -> None:
    assert chosen(agent("away", online=False), agent("ann", load=0, capacity=3)) == "ann"
    assert chosen(agent("away", online=False)) is None


def test_r2_1_only_active_agents() -> None:
    assert chosen(agent("gone", active=False), agent("ann", load=2, capacity=3)) == "ann"
    assert chosen(agent("gone", active=False)) is None


def test_r2_1_only_agents_below_capacity() -> None:
    assert chosen(agent("full", load=3, capacity=3), agent("ann", load=2, capacity=3)) == "ann"
    assert chosen(agent("full", load=1, capacity=1)) is None
    assert chosen(agent("over", load=4, capacity=3)) is None  # never more than capacity (R2.4)


def test_r2_1_not_an_agent_who_declined_or_timed_out_in_this_attempt() -> None:
    candidates = [agent("ann", idle=None), agent("bob", idle=5)]
    assert chosen(*candidates, excluded=("ann",)) == "bob"
    assert chosen(*candidates, excluded=("ann", "bob")) is None
    assert chosen(*candidates, excluded=iter(["bob"])) == "ann"  # any iterable of ids


def test_r2_1_capacity_none_is_unlimited() -> None:
    bot = agent("bot-1", load=10_000, capacity=None)
    assert bot.has_room
    assert chosen(bot) == "bot-1"
    # Unlimited is not a preference: the least loaded still goes first.
    assert chosen(bot, agent("zed", load=1, capacity=5)) == "zed"


def test_r2_1_nobody_to_offer_to_means_none() -> None:
    assert select_agent([]) is None
    assert ranked([]) == []


# --- R2.1 ordering -------------------------------------------------------------------------------


def test_r2_1_least_loaded_then_longest_idle() -> None:
    candidates = [
        agent("busy", load=2, capacity=5, idle=-600),
        agent("fresh", load=1, capacity=5, idle=30),
        agent("waiting", load=1, capacity=5, idle=10),
        agent("light", load=1, capacity=5, idle=20),
    ]
    assert chosen(*candidates) == "waiting"
    assert [c.id for c in ranked(candidates)] == ["waiting", "light", "fresh", "busy"]


def test_r2_1_least_loaded_wins_over_idle_longest() -> None:
    assert chosen(agent("idle-long", load=2, capacity=3, idle=-1000), agent("light", load=1, capacity=3, idle=5)) \
        == "light"


def test_r2_1_never_offered_counts_as_idle_longest() -> None:
    candidates = [agent("ann", idle=-10_000), agent("new", idle=None), agent("bob", idle=0)]
    assert chosen(*candidates) == "new"
    assert [c.id for c in ranked(candidates)] == ["new", "ann", "bob"]


def test_r2_1_full_ties_are_broken_by_id_so_the_order_is_stable() -> None:
    candidates = [agent("cy", idle=None), agent("al", idle=None), agent("bo", idle=None)]
    assert [c.id for c in ranked(candidates)] == ["al", "bo", "cy"]
    assert [c.id for c in ranked(list(reversed(candidates)))] == ["al", "bo", "cy"]


def test_r2_1_eligible_keeps_only_who_can_take_an_offer() -> None:
    candidates = [agent("ann"), agent("off", online=False), agent("gone", active=False),
                  agent("full", load=1), agent("skip")]
    assert [c.id for c in eligible(candidates, ["skip"])] == ["ann"]


# --- R2.3 queue order ----------------------------------------------------------------------------


def test_r2_3_queue_highest_priority_first_then_oldest() -> None:
    queued = [
        (0, T0, "c-old-normal"),
        (5, T0 + timedelta(minutes=9), "c-new-urgent"),
        (5, T0 + timedelta(minutes=1), "c-old-urgent"),
        (0, T0 + timedelta(minutes=3), "c-new-normal"),
        (-1, T0 - timedelta(hours=1), "c-oldest-low"),
    ]
    order = [c for _, _, c in sorted(queued, key=lambda q: queue_order(*q))]
    assert order == ["c-old-urgent", "c-new-urgent", "c-old-normal", "c-new-normal", "c-oldest-low"]


def test_r2_3_queue_ties_are_broken_by_conversation_id() -> None:
    assert queue_order(0, T0, "c-1") < queue_order(0, T0, "c-2")


# --- properties ----------------------------------------------------------------------------------

idle_times = st.one_of(st.none(), st.integers(0, 6).map(lambda m: T0 + timedelta(minutes=m)))
candidates_lists = st.lists(
    st.builds(Candidate, id=st.sampled_from([f"a{i}" for i in range(12)]), load=st.integers(0, 5),
              capacity=st.one_of(st.none(), st.integers(1, 5)), idle_since=idle_times,
              online=st.booleans(), active=st.booleans()),
    max_size=10, unique_by=lambda c: c.id,
)


def _is_eligible(c: Candidate, excluded: set[str]) -> bool:
    room = c.capacity is None or c.load < c.capacity
    return c.active and c.online and room and c.id not in excluded


def _idle_earlier(a: Candidate, b: Candidate) -> bool:
    """Has ``a`` been idle strictly longer than ``b``? Never offered (None) is longest."""
    if a.idle_since is None:
        return b.idle_since is not None
    return b.idle_since is not None and a.idle_since < b.idle_since


@settings(max_examples=75, deadline=None)
@given(candidates=candidates_lists, data=st.data())
def test_property_r2_1_chosen_agent_is_eligible_and_best(candidates: list[Candidate], data: st.DataObject) -> None:
    excluded = set(data.draw(st.lists(st.sampled_from([c.id for c in candidates] or ["x"]))))
    pick = select_agent(candidates, excluded)
    pool = [c for c in candidates if _is_eligible(c, excluded)]
    assert (pick is None) == (not pool)
    if pick is None:
        return
    assert _is_eligible(pick, excluded)
    for other in pool:
        assert not other.load < pick.load, (pick, other)
        assert not (other.load == pick.load and _idle_earlier(other, pick)), (pick, other)


@settings(max_examples=60, deadline=None)
@given(candidates=candidates_lists, excluded=st.sets(st.sampled_from([f"a{i}" for i in range(12)])))
def test_property_r2_1_ranked_is_every_eligible_agent_best_first(candidates: list[Candidate],
                                                                  excluded: set[str]) -> None:
    order = ranked(candidates, excluded)
    assert sorted(c.id for c in order) == sorted(c.id for c in candidates if _is_eligible(c, excluded))
    for better, worse in zip(order, order[1:]):
        assert better.load <= worse.load
        if better.load == worse.load:
            assert not _idle_earlier(worse, better)
    # Taking the best away leaves the next best (what happens after a decline or a timeout).
    if order:
        assert select_agent(candidates, excluded | {order[0].id}) == (order[1] if len(order) > 1 else None)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
                          st.text("abc", min_size=1, max_size=3)), unique_by=lambda q: q[2]))
def test_property_r2_3_queue_order(queued: list[tuple[int, datetime, str]]) -> None:
    order = sorted(queued, key=lambda q: queue_order(*q))
    for (p1, w1, _), (p2, w2, _) in zip(order, order[1:]):
        assert p1 > p2 or (p1 == p2 and w1 <= w2)


def test_r2_3_the_safety_net_waits_minutes_unless_someone_passed_on_it() -> None:
    """Issue 14: queued conversations cost next to nothing while they wait. Wake-ups do the work
    and the reconciler re-sends a lost one each minute, so a conversation nobody passed on looks
    again by itself only every 30 min (10,000 queued: about five re-checks a second, where a net
    starting at 5 min saturated one worker with the first waves); one an agent passed on (no
    wake-up brings that agent back) after 30 s, backing off to 30 min."""
    assert {recheck_after(n) for n in range(10)} == {timedelta(minutes=30)}
    passed = [recheck_after(n, passed=True).total_seconds() / 60 for n in range(8)]
    assert passed == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert recheck_after(10**6) == recheck_after(10**6, passed=True) == timedelta(minutes=30)
    first_hour, waited, checks = 3600, 0.0, 0
    while (waited := waited + recheck_after(checks).total_seconds()) <= first_hour:
        checks += 1
    assert 2 * checks / 12 <= 0.34, "a timer and a route per re-check: at most one action per 15 minutes"
