"""DESIGN "Every step is fenced", at the store: late, retried and racing steps (issue 10's findings).

``check_*`` functions take a database URL so that tests/test_postgres.py runs the same checks on
PostgreSQL; ``test_*`` functions run them here on a SQLite file. Each test says what the store
before the redesign (commit 6680cc5, ``store/offers.py``) did instead.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from routing.directory import SkillRef
from routing.errors import Refusal
from routing.model import Delivery, Move
from store import Store, books, directory, outbox, presence
from store import routing as steps
from store import schema as t
from store.directory import parse_text
from test_store import ACME, T0, loads, request, rows, sqlite_url  # sibling module: tests/ is on sys.path

DAN = """\
accounts:
  - id: acme
    brand: {name: Acme}
    skills: [{id: sales}]
    agents:
      - {id: dan, skills: [sales], capacity: 1, status: online}
      - {id: eve, skills: [sales], capacity: 1, status: online}
"""


async def _opened(url: str, yaml_text: str = ACME) -> Store:
    store = await Store.open(url)
    await directory.save(store, parse_text(yaml_text, "test"))
    return store


async def _book(store: Store, conversation: str):
    async with store.engine.connect() as conn:
        return (await conn.execute(select(t.conversations).where(
            t.conversations.c.conversation_id == conversation))).first()


# --- R2.4: a late step changes nothing -------------------------------------------------------------


async def check_r2_4_a_late_step_after_close_changes_nothing(url: str) -> None:
    """Step 1 offers Bob, the conversation closes, then step 1 arrives again (an activity retry
    that ran late) and a step 2 after it: both are stale, and nobody holds or counts anything.
    Before: ``route`` found no hold of step 1 (the release had deleted it) and offered it again."""
    store = await _opened(url)
    try:
        await presence.set_status(store, "ann", "offline", T0)
        offered, _ = await steps.route(store, request("c-1"))
        assert offered.offer_to == "bob"
        await books.finish(store, "c-1", T0 + timedelta(seconds=1))

        late, wakes = await steps.route(store, request("c-1"))
        later, _ = await steps.route(store, request("c-1", 2, at=T0 + timedelta(seconds=2), waiting_since=T0))
        assert late.stale and later.stale and wakes == []
        assert late.offer_to is None and later.offer_to is None
        assert await rows(store, t.holds) == [] and await rows(store, t.queue) == []
        assert await loads(store) == {"ann": 0, "bob": 0, "cy": 0, "zed": 0}
        assert (await _book(store, "c-1")).closed_at is not None
    finally:
        await store.close()


async def test_r2_4_a_late_step_after_close_changes_nothing(tmp_path: Path) -> None:
    await check_r2_4_a_late_step_after_close_changes_nothing(sqlite_url(tmp_path))


async def check_r2_4_an_older_step_changes_nothing(url: str) -> None:
    """Step 5 holds Dan; step 4 arrives late: stale, and Dan's hold and load are intact.
    Before: step 4 met a hold of another step, freed it and reserved again."""
    store = await _opened(url, DAN)
    try:
        fourth, _ = await steps.route(store, request("c-1", 4, excluded=("dan",)))
        assert fourth.offer_to == "eve"
        fifth, _ = await steps.route(store, request("c-1", 5, at=T0 + timedelta(seconds=5), excluded=("eve",),
                                                    waiting_since=T0))
        assert fifth.offer_to == "dan"  # Eve declined: step 5 offers Dan
        [hold] = await rows(store, t.holds)
        assert (hold.agent_id, hold.step) == ("dan", 5)

        late, wakes = await steps.route(store, request("c-1", 4, excluded=("dan",)))  # step 4's retry, late
        assert late.stale and late.offer_to is None and wakes == []
        assert [(h.agent_id, h.step) for h in await rows(store, t.holds)] == [("dan", 5)]
        assert await loads(store) == {"dan": 1, "eve": 0}
        assert (await _book(store, "c-1")).step == 5
    finally:
        await store.close()


async def test_r2_4_an_older_step_changes_nothing(tmp_path: Path) -> None:
    await check_r2_4_an_older_step_changes_nothing(sqlite_url(tmp_path))


async def check_r2_4_a_refused_move_changes_nothing_and_its_step_is_spent(url: str) -> None:
    """Step 2 is a transfer Cy may not make: refused, Bob keeps his hold of step 1 and the books
    stay at step 1. The workflow spends the number anyway (tests/test_moves.py), so its next step
    is 3; a retry of the refused step 2 after that is stale, not a second chance."""
    store = await _opened(url)
    try:
        await presence.set_status(store, "ann", "offline", T0)
        offered, _ = await steps.route(store, request("c-1"))
        assert offered.offer_to == "bob"
        here = SkillRef(account="acme", skill="sales")
        transfer = request("c-1", 2, at=T0 + timedelta(seconds=1), waiting_since=T0).model_copy(update={
            "target": SkillRef(account="acme", skill="phone"),
            "move": Move(kind="transfer", by="cy", assignee="bob", source=here)})
        with pytest.raises(Refusal, match="'cy' is neither the assignee") as refused:
            await steps.route(store, transfer)
        assert refused.value.kind == "NotAllowed"
        assert [(h.agent_id, h.step) for h in await rows(store, t.holds)] == [("bob", 1)]
        assert (await loads(store))["bob"] == 1
        assert (await _book(store, "c-1")).step == 1

        third, _ = await steps.route(store, request("c-1", 3, at=T0 + timedelta(seconds=2), excluded=("bob",),
                                                    waiting_since=T0).model_copy(update={"target": here}))
        assert third.offer_to is None  # nobody else online: it waits
        assert await rows(store, t.holds) == [] and len(await rows(store, t.queue)) == 1
        allowed = transfer.model_copy(update={"move": Move(kind="transfer", by="bob", assignee="bob", source=here)})
        late, _ = await steps.route(store, allowed)
        assert late.stale and await rows(store, t.holds) == []
    finally:
        await store.close()


async def test_r2_4_a_refused_move_changes_nothing_and_its_step_is_spent(tmp_path: Path) -> None:
    await check_r2_4_a_refused_move_changes_nothing_and_its_step_is_spent(sqlite_url(tmp_path))


# --- R2.3 wake-ups ----------------------------------------------------------------------------------


async def check_r2_3_a_head_that_passed_on_the_freed_agent_does_not_use_up_the_wake(url: str) -> None:
    """q-1 heads Bob's queue but declined Bob in this attempt; Bob's slot comes free: the wake goes
    to q-2, the next in line who would take him. Before: ``heads_for`` woke q-1, which found
    nobody it would take, and q-2 waited for the re-check timer."""
    store = await _opened(url)
    try:
        await presence.set_status(store, "ann", "offline", T0)
        await steps.route(store, request("c-0"))  # Bob is full
        await steps.route(store, request("q-1", at=T0 + timedelta(seconds=1), excluded=("bob",)))
        await steps.route(store, request("q-2", at=T0 + timedelta(seconds=2)))
        assert [q.conversation_id for q in await rows(store, t.queue)] == ["q-1", "q-2"]
        assert await books.finish(store, "c-0", T0 + timedelta(seconds=3)) == ["conversation-q-2"]
    finally:
        await store.close()


async def test_r2_3_a_head_that_passed_on_the_freed_agent_does_not_use_up_the_wake(tmp_path: Path) -> None:
    await check_r2_3_a_head_that_passed_on_the_freed_agent_does_not_use_up_the_wake(sqlite_url(tmp_path))


async def check_r2_3_a_retried_route_or_release_returns_its_wakes_again(url: str) -> None:
    """The step that frees a slot returns the queue head to wake; if its attempt committed but the
    wake-up was never sent (the worker died), the retry must send it: a retried step replays its
    recorded result, wakes included, and so does a retried release. Before: a retried route
    returned its outcome with no wakes."""
    store = await _opened(url)
    try:
        await presence.set_status(store, "ann", "offline", T0)
        await steps.route(store, request("c-1"))  # Bob
        await steps.route(store, request("q-1", at=T0 + timedelta(seconds=1)))
        declined = request("c-1", 2, at=T0 + timedelta(seconds=2), excluded=("bob",), waiting_since=T0) \
            .model_copy(update={"target": SkillRef(account="acme", skill="sales")})
        first = await steps.route(store, declined)
        assert first[1] == ["conversation-q-1"]
        assert await steps.route(store, declined) == first

        woken, _ = await steps.route(store, request("q-1", 2, at=T0 + timedelta(seconds=3),
                                                    waiting_since=T0 + timedelta(seconds=1)))
        assert woken.offer_to == "bob"
        await steps.route(store, request("q-2", at=T0 + timedelta(seconds=4)))
        wakes = await books.finish(store, "q-1", T0 + timedelta(seconds=5))
        assert "conversation-q-2" in wakes
        assert await books.finish(store, "q-1", T0 + timedelta(seconds=6)) == wakes
        assert (await loads(store))["bob"] == 0  # the retry gave nothing back twice
    finally:
        await store.close()


async def test_r2_3_a_retried_route_or_release_returns_its_wakes_again(tmp_path: Path) -> None:
    await check_r2_3_a_retried_route_or_release_returns_its_wakes_again(sqlite_url(tmp_path))


async def check_r2_4_releases_racing_each_other_free_once_and_close_once(url: str) -> None:
    """A release retried beside its first attempt (over several connections at once) gives the slot
    back once, wakes the same heads, and tells the customer's side once (one ``closed`` row); a
    private message delivered twice at once lands once."""
    stores = [await _opened(url)] + [Store.connect(url) for _ in range(3)]
    try:
        await presence.set_status(stores[0], "ann", "offline", T0)
        await steps.route(stores[0], request("c-1"))  # Bob's one slot
        await steps.route(stores[0], request("q-1", at=T0 + timedelta(seconds=1)))  # waits for it
        wakes = await asyncio.gather(*(books.finish(s, "c-1", T0 + timedelta(seconds=2)) for s in stores))
        assert wakes == [["conversation-q-1"]] * len(stores)
        assert (await loads(stores[0]))["bob"] == 0
        closed = [r for r in await rows(stores[0], t.outbox) if r.kind == "closed"]
        assert [r.conversation_id for r in closed] == ["c-1"]
        message = Delivery(key="conversation-c-1/pm/1", conversation_id="c-1", by="mia", to="bob", text="hi",
                           now=T0)
        await asyncio.gather(*(outbox.private_message(s, message) for s in stores))
        assert [r.payload for r in await outbox.feed(stores[0], "bob")] == [{"from": "mia", "text": "hi"}]
    finally:
        for store in stores:
            await store.close()


async def test_r2_4_releases_racing_each_other_free_once_and_close_once(tmp_path: Path) -> None:
    await check_r2_4_releases_racing_each_other_free_once_and_close_once(sqlite_url(tmp_path))


async def check_r2_3_an_enqueue_beside_a_release_never_loses_the_wake(url: str, *, rounds: int = 40) -> None:
    """Bob (capacity 1) holds h-n; at once, over two connections, h-n closes and n-n arrives and
    finds Bob full. Either n-n got Bob, or the release saw n-n's queue place and returned it as a
    wake: never both missing. Before: no skill lock, so on PostgreSQL the release could read the
    queue before the enqueue committed, and the enqueue could read Bob's load before the release
    committed."""
    first = await _opened(url)
    other = Store.connect(url)
    try:
        await presence.set_status(first, "ann", "offline", T0)
        lost = []
        for n in range(rounds):
            at = T0 + timedelta(seconds=10 * n)
            held, _ = await steps.route(first, request(f"h-{n}", at=at))
            assert held.offer_to == "bob"
            wakes, (arrived, _) = await asyncio.gather(
                books.finish(first, f"h-{n}", at + timedelta(seconds=1)),
                steps.route(other, request(f"n-{n}", at=at + timedelta(seconds=1))))
            if arrived.offer_to != "bob" and f"conversation-n-{n}" not in wakes:
                lost.append(n)
            await books.finish(first, f"n-{n}", at + timedelta(seconds=2))
        assert lost == []
        assert await loads(first) == {"ann": 0, "bob": 0, "cy": 0, "zed": 0}
    finally:
        await first.close()
        await other.close()


async def test_r2_3_an_enqueue_beside_a_release_never_loses_the_wake(tmp_path: Path) -> None:
    await check_r2_3_an_enqueue_beside_a_release_never_loses_the_wake(sqlite_url(tmp_path))


# --- R2.3: a newcomer does not overtake the head ----------------------------------------------------


async def check_r2_3_a_newcomer_does_not_overtake_the_queue_head(url: str) -> None:
    """q-1 waits for Bob; Bob gets room without anyone being woken (his capacity is raised by a
    directory load); q-2, of equal priority, arrives: it queues behind q-1 and its step wakes q-1.
    Neither q-4, of lower priority, nor a re-check of q-3, further back, takes him. Before: q-2
    took Bob."""
    store = await _opened(url)
    try:
        await presence.set_status(store, "ann", "offline", T0)
        await steps.route(store, request("c-0"))  # Bob is full
        await steps.route(store, request("q-1", at=T0 + timedelta(seconds=1)))
        await steps.route(store, request("q-3", at=T0 + timedelta(seconds=2)))
        await directory.save(store, parse_text(ACME.replace("capacity: 1,", "capacity: 2,"), "more room"))

        newcomer, wakes = await steps.route(store, request("q-2", at=T0 + timedelta(seconds=3)))
        assert newcomer.offer_to is None and wakes == ["conversation-q-1"]
        lower, wakes = await steps.route(store, request("q-4", at=T0 + timedelta(seconds=3), priority=-1))
        assert lower.offer_to is None and wakes == ["conversation-q-1"]
        recheck, wakes = await steps.route(store, request("q-3", 2, at=T0 + timedelta(seconds=4),
                                                          waiting_since=T0 + timedelta(seconds=2)))
        assert recheck.offer_to is None and wakes == ["conversation-q-1"]
        head, _ = await steps.route(store, request("q-1", 2, at=T0 + timedelta(seconds=5),
                                                   waiting_since=T0 + timedelta(seconds=1)))
        assert head.offer_to == "bob"
        assert {q.conversation_id for q in await rows(store, t.queue)} == {"q-2", "q-3", "q-4"}
    finally:
        await store.close()


async def test_r2_3_a_newcomer_does_not_overtake_the_queue_head(tmp_path: Path) -> None:
    await check_r2_3_a_newcomer_does_not_overtake_the_queue_head(sqlite_url(tmp_path))


async def test_r2_3_a_higher_priority_newcomer_goes_before_the_head(tmp_path: Path) -> None:
    """The other side of the rule: only equal or lower priority waits behind the head."""
    store = await _opened(sqlite_url(tmp_path))
    try:
        await presence.set_status(store, "ann", "offline", T0)
        await steps.route(store, request("c-0"))
        await steps.route(store, request("q-1", at=T0 + timedelta(seconds=1)))
        async with store.transaction() as conn:  # room with no wake-up
            await conn.execute(update(t.agents).where(t.agents.c.id == "bob").values(capacity=2))
        urgent, wakes = await steps.route(store, request("q-2", at=T0 + timedelta(seconds=2), priority=5))
        assert urgent.offer_to == "bob" and wakes == []
    finally:
        await store.close()


# --- R2.1: idle longest ------------------------------------------------------------------------------


async def test_r2_1_idle_longest_is_since_the_last_conversation_ended(tmp_path: Path) -> None:
    """Ann was offered c-1 first but finished it last; Bob's ended earlier, so with both at load 0
    Bob is the one idle longest. Before: idle time started at the offer, so Ann got it."""
    store = await _opened(sqlite_url(tmp_path))
    try:
        ann_first, _ = await steps.route(store, request("c-1"))
        bob_next, _ = await steps.route(store, request("c-2", at=T0 + timedelta(seconds=1)))
        assert (ann_first.offer_to, bob_next.offer_to) == ("ann", "bob")  # Ann: least loaded of 2, id first
        await books.finish(store, "c-2", T0 + timedelta(seconds=3))
        await books.finish(store, "c-1", T0 + timedelta(seconds=5))
        third, _ = await steps.route(store, request("c-3", at=T0 + timedelta(seconds=6)))
        assert third.offer_to == "bob"
    finally:
        await store.close()


async def test_r2_1_going_online_starts_idle_time(tmp_path: Path) -> None:
    """Bob's conversation ends at 3 s. Cy came online at 2 s: idle longer than Bob, Cy gets c-2.
    Ann comes online at 4 s: idle for less time than Bob, Bob gets c-3. Before: presence left
    idle time unset, which ranks as idle longest, so Ann got c-3."""
    store = await _opened(sqlite_url(tmp_path))
    try:
        await presence.set_status(store, "ann", "offline", T0)
        assert (await steps.route(store, request("c-1")))[0].offer_to == "bob"
        await presence.set_status(store, "cy", "online", T0 + timedelta(seconds=2))
        await books.finish(store, "c-1", T0 + timedelta(seconds=3))
        assert (await steps.route(store, request("c-2", at=T0 + timedelta(seconds=3))))[0].offer_to == "cy"
        await presence.set_status(store, "ann", "online", T0 + timedelta(seconds=4))
        assert (await steps.route(store, request("c-3", at=T0 + timedelta(seconds=5))))[0].offer_to == "bob"
    finally:
        await store.close()
