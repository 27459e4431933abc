"""Loading a directory over one in use: what a load may not remove (SPEC R9.4), what it keeps from
run time (presence, heroes), and whom it wakes (R2.3).

``check_*`` functions take a database URL so that tests/test_postgres.py runs them on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from routing.directory import Hero, Status
from routing.errors import Refusal
from store import Store, directory, heroes, presence, routing as steps
from store import schema as t
from store.directory import parse_text
from test_store import ACME, T0, crowd, loads, request, sqlite_url

# ACME (tests/test_store.py): acme/sales (ann, bob online, cy offline), acme/phone (ann), bpo/overflow (zed).
WITHOUT_PHONE = ACME.replace("      - id: phone\n        rollover: null\n", "").replace("[sales, phone]", "[sales]")


async def open_conversation(store: Store, conversation: str, account: str = "acme", skill: str = "sales", *,
                            closed: bool = False) -> None:
    """A conversation's book as the workflow's first step writes it (owner account and skill)."""
    async with store.transaction() as conn:
        await conn.execute(insert(t.conversations).values(
            conversation_id=conversation, workflow_id=f"conversation-{conversation}", first_run_id="run-1",
            account_id=account, skill_id=skill, step=1, started_at=T0, closed_at=T0 if closed else None))


async def refused(store: Store, text: str, *words: str) -> Refusal:
    """The load is refused naming ``words``, and the stored directory is as it was."""
    before = await directory.load(store)
    with pytest.raises(Refusal) as info:
        await directory.save(store, parse_text(text, "next"))
    for word in words:
        assert word in info.value.message, (word, info.value.message)
    assert await directory.load(store) == before
    return info.value


# --- SPEC R9.4: a load never strands a conversation ---------------------------------------------------


async def check_r9_4_a_load_that_removes_what_open_conversations_use_is_refused(url: str) -> None:
    store = await Store.open(url)
    try:
        await directory.save(store, parse_text(ACME, "acme"))
        for conversation in ("c-1", "c-2"):
            await open_conversation(store, conversation, skill="phone")
        await open_conversation(store, "c-0", skill="phone", closed=True)
        refusal = await refused(store, WITHOUT_PHONE.replace("Acme Motors", "Acme Cars"),
                                "skill acme/phone is used by 2 open conversations: c-1, c-2")
        assert refusal.kind == "DirectoryInUse" and "c-0" not in refusal.message
        # A whole account: its skills go with it.
        await open_conversation(store, "c-3", account="bpo", skill="overflow")
        without_bpo = ACME.split("  - id: bpo\n")[0].replace(
            "    rollover: {mode: fully_managed, handler: {account: bpo, skill: overflow}}\n", "")
        await refused(store, without_bpo, "account 'bpo' is used by 1 open conversation: c-3")
    finally:
        await store.close()


async def test_r9_4_a_load_that_removes_a_skill_or_account_open_conversations_use_is_refused_naming_them(
        tmp_path: Path) -> None:
    await check_r9_4_a_load_that_removes_what_open_conversations_use_is_refused(sqlite_url(tmp_path))


async def test_r9_4_a_queued_or_held_conversation_keeps_its_current_skill_and_agent(acme: Store) -> None:
    # Where a conversation is now (its queue place, its offer or assignment) counts as its owner does.
    await presence.set_status(acme, "ann", "offline", T0)
    queued, _ = await steps.route(acme, request("q-1", skill="phone"))  # nobody online for phone
    assert queued.offer_to is None
    await refused(acme, WITHOUT_PHONE, "skill acme/phone is used by 1 open conversation: q-1")
    held, _ = await steps.route(acme, request("h-1"))
    assert held.offer_to == "bob"
    without_bob = ACME.replace("      - {id: bob, name: Bob, skills: [sales], capacity: 1, status: online}\n", "")
    refusal = await refused(acme, without_bob, "agent 'bob' is used by 1 open conversation: h-1", "deactivate")
    assert refusal.field == "agents"


async def test_r9_4_removing_what_only_closed_conversations_used_is_allowed(acme: Store) -> None:
    await open_conversation(acme, "c-0", skill="phone", closed=True)
    await directory.save(acme, parse_text(WITHOUT_PHONE, "without phone"))
    assert [s.id for s in (await directory.load(acme)).account("acme").skills] == ["sales"]


async def test_r9_4_disabling_a_skill_open_conversations_use_is_allowed(acme: Store) -> None:
    await open_conversation(acme, "c-1", skill="phone")
    await directory.save(acme, parse_text(ACME.replace("      - id: phone\n", "      - id: phone\n        enabled: false\n"),
                                          "disabled"))
    assert not (await directory.load(acme)).account("acme").skill("phone").enabled


# --- what a load keeps from run time ----------------------------------------------------------------


async def test_contract_runtime_presence_survives_a_directory_load(acme: Store) -> None:
    """The file's ``status`` is where a new agent starts; an agent already known keeps the presence
    they set since (CONTRACT "Runtime changes take effect at once"), and the load says so."""
    await presence.set_status(acme, "bob", "offline", T0)  # the file says online
    await presence.set_status(acme, "cy", "online", T0)  # the file says nothing (offline)
    saved = await directory.save(acme, parse_text(ACME.replace(
        "      - {id: cy,", "      - {id: dee, skills: [sales], status: online}\n      - {id: cy,"), "with dee"))
    agents = {a.id: a.status for a in (await directory.load(acme)).account("acme").agents}
    assert agents == {"ann": Status.ONLINE, "bob": Status.OFFLINE, "cy": Status.ONLINE, "dee": Status.ONLINE}
    assert saved.kept_status == {"bob": "offline"}  # only where the file says otherwise


async def test_r7_a_hero_set_at_run_time_survives_a_directory_load_unless_the_file_names_that_customer(
        acme: Store) -> None:
    with_hero = ACME + "heroes:\n  - {account: acme, customer: cust-1, agent: ann}\n"
    await directory.save(acme, parse_text(with_hero, "with hero"))
    await heroes.set_hero(acme, "acme", "cust-1", agent="bob")  # the file's customer, changed at run time
    await heroes.set_hero(acme, "acme", "cust-2", agent="cy")  # a customer the file does not name
    saved = await directory.save(acme, parse_text(with_hero, "again"))
    stored = {(h.account, h.customer): h for h in (await directory.load(acme)).heroes}
    assert stored == {("acme", "cust-1"): Hero(account="acme", customer="cust-1", agent="ann"),
                      ("acme", "cust-2"): Hero(account="acme", customer="cust-2", agent="cy")}
    assert saved.kept_heroes == [Hero(account="acme", customer="cust-2", agent="cy")]
    assert saved.replaced_heroes == [Hero(account="acme", customer="cust-1", agent="ann")]


async def test_r7_6_a_kept_hero_whose_agent_the_load_removes_becomes_their_inbox(acme: Store) -> None:
    await heroes.set_hero(acme, "acme", "cust-1", agent="cy")  # cy's inbox: sales, their only skill
    await heroes.set_hero(acme, "bpo", "cust-2", agent="zed")
    without = ACME.replace("      - {id: cy, name: Cy, skills: [sales]}\n", "").replace(
        "    agents:\n      - {id: zed, skills: [overflow], capacity: null, status: online}\n", "").replace(
        "    skills: [{id: overflow}]\n", "    skills: [{id: overflow}, {id: other}]\n")
    saved = await directory.save(acme, parse_text(without, "without cy and zed"))
    assert (await directory.load(acme)).heroes == [Hero(account="acme", customer="cust-1", inbox="sales"),
                                                   Hero(account="bpo", customer="cust-2", inbox="overflow")]
    assert saved.kept_heroes == (await directory.load(acme)).heroes and saved.dropped_heroes == []
    # An inbox the load removes leaves nothing to keep: the entry goes, and the load says so.
    without_overflow = without.replace("{id: overflow}, ", "").replace("skill: overflow}}", "skill: other}}")
    saved = await directory.save(acme, parse_text(without_overflow, "without overflow"))
    assert saved.dropped_heroes == [Hero(account="bpo", customer="cust-2", inbox="overflow")]
    assert [h.customer for h in (await directory.load(acme)).heroes] == ["cust-1"]


# --- R2.3: a load that gives agents room wakes the queue ---------------------------------------------


async def test_r2_3_a_directory_load_that_gives_agents_room_returns_the_queue_heads_to_wake(acme: Store) -> None:
    for n in range(1, 6):
        await steps.route(acme, request(f"c-{n}", waiting_since=T0 + timedelta(seconds=n)))
    assert await loads(acme) == {"ann": 2, "bob": 1, "cy": 0, "zed": 0}  # c-4, c-5 wait
    assert (await directory.save(acme, parse_text(ACME, "same"))).wakes == []  # no room given: nobody woken
    raised = await directory.save(acme, parse_text(ACME.replace("capacity: 2", "capacity: 3"), "ann: 3"))
    assert raised.wakes == ["conversation-c-4"]
    added = ACME.replace("capacity: 2", "capacity: 3").replace(
        "      - {id: cy,", "      - {id: dee, skills: [sales], capacity: 2, status: online}\n      - {id: cy,")
    assert (await directory.save(acme, parse_text(added, "dee"))).wakes == ["conversation-c-4", "conversation-c-5"]


@pytest.fixture
async def acme(store: Store) -> Store:
    await directory.save(store, parse_text(ACME, "acme"))
    return store


# --- PostgreSQL: a load or a hero change beside other writers (run here on SQLite too) ----------------


async def check_r2_4_a_load_beside_a_route_refuses_by_the_load_it_waited_for(url: str) -> None:
    """A load lowering a capacity while a route reserves slots of that agent: the load waits for
    the route and refuses by the load it then reads (before: a CHECK violation, a 500)."""
    store, other = await Store.open(url), Store.connect(url)
    try:
        await directory.save(store, crowd(1, 2))
        async with other.transaction() as conn:  # the route, between its reservation and its commit
            await conn.execute(update(t.agents).where(t.agents.c.id == "agent-0").values(load=2))
            saving = asyncio.create_task(directory.save(store, crowd(1, 1)))
            await asyncio.sleep(0.5)
            assert not saving.done()
        with pytest.raises(Refusal, match="agent 'agent-0' holds 2 conversations") as info:
            await saving
        assert info.value.kind == "CapacityBelowLoad"
        assert (await presence.agent_row(store, "agent-0")).capacity == 2
    finally:
        await store.close()
        await other.close()


async def test_r2_4_a_load_beside_a_route_refuses_by_the_load_it_waited_for(tmp_path: Path) -> None:
    await check_r2_4_a_load_beside_a_route_refuses_by_the_load_it_waited_for(sqlite_url(tmp_path))


async def check_r7_4_hero_changes_for_one_customer_take_turns(url: str) -> None:
    """Two ``hero set`` at once for one customer: both succeed, and the second replaces the first
    (R7.4 moves the open conversation); a writer mid-transaction is waited for, not a key violation."""
    stores = [await Store.open(url), Store.connect(url)]
    try:
        await directory.save(stores[0], parse_text(ACME, "acme"))
        for n in range(10):
            changes = await asyncio.gather(heroes.set_hero(stores[0], "acme", f"cust-{n}", agent="ann"),
                                           heroes.set_hero(stores[1], "acme", f"cust-{n}", agent="bob"))
            assert sorted(change.replaced for change in changes) == [False, True]
        async with stores[1].transaction() as conn:
            await conn.execute(insert(t.heroes).values(account_id="acme", customer="cust-x", agent_id="ann"))
            setting = asyncio.create_task(heroes.set_hero(stores[0], "acme", "cust-x", agent="bob"))
            await asyncio.sleep(0.5)
        await setting
        async with stores[0].engine.connect() as conn:
            assert await heroes.hero_of(conn, "acme", "cust-x") == Hero(account="acme", customer="cust-x", agent="bob")
    finally:
        for store in stores:
            await store.close()


async def test_r7_4_hero_changes_for_one_customer_take_turns(tmp_path: Path) -> None:
    await check_r7_4_hero_changes_for_one_customer_take_turns(sqlite_url(tmp_path))


async def test_r9_1_hero_set_at_run_time_refuses_an_id_the_directory_file_would(acme: Store) -> None:
    """The hero's ids are the directory's (limits.Id): `hero set` refuses, naming the field, what a
    file would (before: a pydantic ValidationError, a traceback in the CLI)."""
    with pytest.raises(Refusal, match="hero: field 'customer' = 'xxxx.*at most 200 characters") as info:
        await heroes.set_hero(acme, "acme", "x" * 201, agent="ann")
    assert info.value.field == "customer"
    with pytest.raises(Refusal, match="field 'customer'.*control characters"):
        await heroes.set_hero(acme, "acme", "cust\n1", agent="ann")
