"""The database store on a real SQLite file: migrations, the directory's home, capacity and queues.

``check_*`` functions take a database URL so that tests/test_postgres.py runs the same checks on
PostgreSQL; ``test_*`` functions run them here on a SQLite file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from routing.directory import Directory, Hero, SkillRef, Status
from routing.errors import Refusal
from routing.model import RouteRequest
from store import Store, books, capacity, directory, presence
from store import routing as steps
from store import schema as t
from store.db import _MIGRATIONS, database_url
from store.directory import DirectoryError, parse_text, read_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "directory.yaml"
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in New York

ACME = """\
accounts:
  - id: acme
    brand: {name: Acme Motors}
    timezone: America/New_York
    rollover: {mode: fully_managed, handler: {account: bpo, skill: overflow}}
    skills:
      - id: sales
        rollover: null          # opts out of the account's default policy
      - id: phone
        rollover: null
    agents:
      - {id: ann, name: Ann, skills: [sales, phone], capacity: 2, status: online}
      - {id: bob, name: Bob, skills: [sales], capacity: 1, status: online}
      - {id: cy, name: Cy, skills: [sales]}
  - id: bpo
    brand: {name: Answer Bureau}
    skills: [{id: overflow}]
    agents:
      - {id: zed, skills: [overflow], capacity: null, status: online}
"""


def crowd(agents: int, capacity: int) -> Directory:
    """One skill, ``agents`` online agents of ``capacity`` each: few slots for many conversations."""
    lines = "".join(f"      - {{id: agent-{n}, skills: [sales], capacity: {capacity}, status: online}}\n"
                    for n in range(agents))
    return parse_text("accounts:\n  - id: acme\n    brand: {name: Acme}\n    skills: [{id: sales}]\n"
                      "    agents:\n" + lines, "crowd")


def request(conversation: str, step: int = 1, *, at: datetime = T0, priority: int = 0, skill: str = "sales",
            excluded: tuple[str, ...] = (), waiting_since: datetime | None = None) -> RouteRequest:
    return RouteRequest(conversation_id=conversation, workflow_id=f"conversation-{conversation}",
                        first_run_id=f"run-{conversation}", step=step, now=at, account="acme", skill=skill,
                        customer="cust-1", channel="web", priority=priority, arrived_at=waiting_since or at,
                        excluded=list(excluded))


async def loads(store: Store) -> dict[str, int]:
    return {row.id: row.load for row in await presence.load_summary(store)}


async def rows(store: Store, table) -> list:
    async with store.engine.connect() as conn:
        return list(await conn.execute(select(table)))


@pytest.fixture
async def acme(store: Store) -> Store:
    await directory.save(store, parse_text(ACME, "acme"))
    return store


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"


# --- migrations -------------------------------------------------------------------------------------


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


async def check_migrations(url: str) -> None:
    """From nothing to head, the schema is exactly store/schema.py's; migrating again changes nothing."""
    store = await Store.open(url)
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == _head()
            drift = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), t.metadata))
            assert drift == []
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables == set(t.metadata.tables) | {"alembic_version"}
        await directory.save(store, crowd(2, 1))
    finally:
        await store.close()

    again = await Store.open(url)
    try:
        async with again.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [_head()]
        assert set(await loads(again)) == {"agent-0", "agent-1"}  # data kept
    finally:
        await again.close()


async def test_migrations_create_the_schema_from_nothing_and_rerun_is_a_no_op(tmp_path: Path) -> None:
    await check_migrations(sqlite_url(tmp_path))


@pytest.mark.parametrize("given, used", [
    ("sqlite:///data/switchboard.db", "sqlite+aiosqlite:///data/switchboard.db"),
    ("postgresql://sb:secret@db:5432/sb", "postgresql+asyncpg://sb:secret@db:5432/sb"),
    ("postgres://sb:secret@db/sb", "postgresql+asyncpg://sb:secret@db/sb"),
    ("postgresql+asyncpg://sb@db/sb", "postgresql+asyncpg://sb@db/sb"),
])
def test_database_urls_get_their_async_driver_and_keep_the_password(given: str, used: str) -> None:
    assert database_url(given) == used


async def check_concurrent_migrations(url: str) -> None:
    """Worker, gateway and CLI start together against an empty database: all of them come up."""
    stores = await asyncio.wait_for(asyncio.gather(*(Store.open(url) for _ in range(3))), timeout=30)
    for store in stores:
        await store.close()


async def test_concurrent_migrations_of_one_new_database_all_succeed(tmp_path: Path) -> None:
    await check_concurrent_migrations(sqlite_url(tmp_path))


# --- the directory's home ---------------------------------------------------------------------------


async def check_directory_round_trip(url: str, source: Path = EXAMPLES) -> None:
    """A saved directory file reads back equal, and its YAML parses back to the same directory."""
    store = await Store.open(url)
    try:
        saved = read_file(source)
        await directory.save(store, saved)
        stored = await directory.load(store)
        assert _canonical(stored) == _canonical(saved)
        assert _canonical(parse_text(directory.to_yaml(stored), "shown")) == _canonical(saved)
    finally:
        await store.close()


def _canonical(d: Directory) -> dict:
    """Order-free view: the file's order of accounts, agents and heroes carries no meaning."""
    return {
        "accounts": {a.id: {**a.model_dump(mode="json", exclude={"skills", "agents"}),
                            "skills": {s.id: s.model_dump(mode="json") for s in a.skills},
                            "agents": {g.id: {**g.model_dump(mode="json"), "skills": sorted(g.skills)}
                                       for g in a.agents},
                            "policies": {s.id: a.policy_for(s) for s in a.skills}}
                     for a in d.accounts},
        "heroes": sorted((h.account, h.customer, h.agent or "", h.inbox or "") for h in d.heroes),
        "gateways": sorted((g.name, tuple(g.accounts or ())) for g in d.gateways),
    }


async def test_example_directory_saves_loads_and_shows_as_it_was(tmp_path: Path) -> None:
    await check_directory_round_trip(sqlite_url(tmp_path))


async def check_concurrent_saves(url: str) -> None:
    """Two operators load a directory at once: each save is whole, and the last one wins."""
    stores = [await Store.open(url), Store.connect(url)]
    try:
        versions = [crowd(2, 1), parse_text(ACME, "acme")]
        await asyncio.gather(*(directory.save(s, v) for s, v in zip(stores, versions)))
        assert _canonical(await directory.load(stores[0])) in [_canonical(v) for v in versions]
    finally:
        for store in stores:
            await store.close()


async def test_concurrent_saves_each_land_whole(tmp_path: Path) -> None:
    await check_concurrent_saves(sqlite_url(tmp_path))


async def test_a_skill_that_opts_out_of_the_account_policy_stays_out_after_show_and_reload(acme: Store) -> None:
    """``rollover: null`` on a skill overrides the account default; ``directory show`` must keep it."""
    shown = parse_text(directory.to_yaml(await directory.load(acme)), "shown")
    assert shown.account("acme").policy_for(shown.account("acme").skill("sales")) is None


async def test_a_second_save_keeps_live_load_and_presence(acme: Store) -> None:
    await steps.route(acme, request("c-1"))
    await presence.set_status(acme, "cy", "away", T0)  # cy's status is not in the file
    await presence.set_status(acme, "bob", "offline", T0)  # bob's is: the file's is where bob started
    await directory.save(acme, parse_text(ACME.replace("capacity: 2", "capacity: 4"), "acme v2"))

    agents = {a.id: a for a in (await directory.load(acme)).account("acme").agents}
    assert agents["ann"].capacity == 4
    assert agents["cy"].status is Status.AWAY
    assert agents["bob"].status is Status.OFFLINE  # see tests/test_directory_changes.py
    assert (await loads(acme))["ann"] == 1
    assert len(await presence.holds_of(acme, "ann")) == 1


async def test_an_invalid_file_is_refused_naming_the_field_and_the_stored_directory_is_untouched(
        acme: Store) -> None:
    before = await directory.load(acme)
    bad = ACME.replace("skill: overflow}", "skill: nowhere}")
    with pytest.raises(DirectoryError, match=r"accounts\.0\.rollover\.handler\.skill.*nowhere"):
        parse_text(bad, "bad")
    duplicate = ACME.replace("{id: zed,", "{id: ann,")
    with pytest.raises(DirectoryError, match=r"accounts\.1\.agents\.0\.id: duplicate agent id 'ann'"):
        parse_text(duplicate, "bad")
    assert await directory.load(acme) == before


@pytest.mark.parametrize("spoil, field, named", [
    (lambda d: {"heroes": [Hero(account="acme", customer="c", agent="nobody")]}, "heroes.0.agent", "nobody"),
    (lambda d: {"accounts": [d.accounts[0], d.accounts[1].model_copy(
        update={"agents": [d.accounts[0].agents[0]]})]}, "accounts.1.agents.0.id", "ann"),
    (lambda d: {"accounts": [d.accounts[0].model_copy(update={"skills": d.accounts[0].skills[:1]}),
                             d.accounts[1]]}, "accounts.0.agents.0.skills.1", "phone"),
])
async def test_save_checks_a_directory_it_is_handed_and_changes_nothing_when_it_is_invalid(
        acme: Store, spoil, field, named) -> None:
    """A directory built in code (``model_copy`` skips validation) gets the same checks as a file."""
    before = await directory.load(acme)
    valid = parse_text(ACME, "acme")
    invalid = valid.model_copy(update=spoil(valid))
    with pytest.raises(Refusal, match=named) as info:
        await directory.save(acme, invalid)
    assert info.value.field == field
    assert await directory.load(acme) == before


async def test_a_capacity_below_live_load_is_refused_and_nothing_is_half_saved(acme: Store) -> None:
    for conversation in ("c-1", "c-2", "c-3"):
        await steps.route(acme, request(conversation))  # ann holds two, bob one
    before = await directory.load(acme)
    # Brand and skills are written before agents: the refusal must take them back too.
    shrunk = ACME.replace("Acme Motors", "Acme Cars").replace("- id: phone", "- id: parts\n      - id: phone") \
        .replace("capacity: 2", "capacity: 1")
    with pytest.raises(Refusal, match="agent 'ann' holds 2 conversations") as info:
        await directory.save(acme, parse_text(shrunk, "shrunk"))
    assert info.value.field == "capacity"
    assert await directory.load(acme) == before
    assert await loads(acme) == {"ann": 2, "bob": 1, "cy": 0, "zed": 0}


async def test_an_agent_holding_conversations_cannot_be_removed(acme: Store) -> None:
    await steps.route(acme, request("c-1"))
    holder = (await rows(acme, t.holds))[0].agent_id
    line = next(line for line in ACME.splitlines() if f"{{id: {holder}," in line)
    before = await directory.load(acme)
    with pytest.raises(Refusal, match=f"agent '{holder}' is used by 1 open conversation: c-1") as info:
        await directory.save(acme, parse_text(ACME.replace(line + "\n", ""), "without"))
    assert info.value.field == "agents"
    assert await directory.load(acme) == before


async def test_an_agent_can_move_to_a_new_account_while_the_old_one_is_removed(acme: Store) -> None:
    """Accounts are removed after agents have moved out of them, not before (foreign key)."""
    moved = ACME.replace("  - id: bpo\n", "  - id: bureau\n").replace("account: bpo", "account: bureau")
    await directory.save(acme, parse_text(moved, "moved"))
    assert [a.id for a in (await directory.load(acme)).accounts] == ["acme", "bureau"]
    assert (await presence.agent_row(acme, "zed")).account_id == "bureau"


# --- capacity (SPEC R2.4) ---------------------------------------------------------------------------


async def check_r2_4_concurrent_reservations(url: str, *, agents: int = 3, capacity: int = 2,
                                             conversations: int = 30, connections: int = 4) -> None:
    """Many ``route`` calls at once over several connections: no agent past capacity, no
    conversation held twice, and no slot lost, through offers, declines, retries and releases."""
    first = await Store.open(url)
    stores = [first] + [Store.connect(url) for _ in range(connections - 1)]
    try:
        await directory.save(first, crowd(agents, capacity))
        slots = agents * capacity
        ids = [f"c-{n}" for n in range(conversations)]

        outcomes = await asyncio.gather(*(steps.route(stores[n % connections], request(c, 1, priority=n % 3))
                                          for n, c in enumerate(ids)))
        offered = {c: o.offer_to for c, (o, _) in zip(ids, outcomes) if o.offer_to}
        assert len(offered) == slots  # only ever more load: whoever found nobody, found everyone full
        assert max(Counter(offered.values()).values()) <= capacity
        await _assert_consistent(first, capacity, conversations, held=slots)

        # Step 2 for everyone at once: each offered agent declines (excluded), the queued try again;
        # every call is sent twice, as an activity retry running beside its first attempt would.
        later = T0 + timedelta(seconds=1)
        again = await asyncio.gather(*(steps.route(stores[(n + k) % connections], request(
            c, 2, at=later, excluded=(offered[c],) if c in offered else ())) for n, c in enumerate(ids) for k in (0, 1)))
        for c, (first_try, _), (retry, _) in zip(ids, again[::2], again[1::2]):
            assert first_try == retry  # one step, one answer
            assert first_try.offer_to is None or first_try.offer_to != offered.get(c)
        await _assert_consistent(first, capacity, conversations)

        # Slots freed while others were queueing stay free until a wake-up or the workflow's timer
        # routes the queue again (DESIGN "Queues wake up by push, with a safety net"): do that.
        for n, c in enumerate(ids):
            await steps.route(stores[n % connections], request(c, 3, at=later))
        await _assert_consistent(first, capacity, conversations, held=slots)

        await asyncio.gather(*(books.finish(stores[n % connections], c, later)
                               for n, c in enumerate(ids) for _ in (0, 1)))
        await _assert_consistent(first, capacity, 0, held=0)
    finally:
        for store in stores:
            await store.close()


async def _assert_consistent(store: Store, capacity: int, conversations: int, *, held: int | None = None) -> None:
    """Loads equal the holds behind them, nobody is past capacity, and each conversation is in
    exactly one place: held by one agent or queued."""
    holds, queue = await rows(store, t.holds), await rows(store, t.queue)
    per_agent = Counter(h.agent_id for h in holds)
    assert await loads(store) == {agent: per_agent.get(agent, 0) for agent in await loads(store)}
    assert all(n <= capacity for n in per_agent.values())
    assert held is None or len(holds) == held
    assert len(holds) + len(queue) == conversations
    assert not {h.conversation_id for h in holds} & {q.conversation_id for q in queue}


async def test_r2_4_concurrent_routes_never_overfill_an_agent_or_hold_a_conversation_twice(tmp_path: Path) -> None:
    await check_r2_4_concurrent_reservations(sqlite_url(tmp_path))


async def test_r2_4_the_database_refuses_a_load_past_capacity(acme: Store) -> None:
    """The CHECK constraint is the last line of defence, whatever the code above it does."""
    with pytest.raises(IntegrityError):
        async with acme.transaction() as conn:
            await conn.execute(t.agents.update().where(t.agents.c.id == "bob").values(load=2))
    assert (await loads(acme))["bob"] == 0


async def test_r2_1_route_offers_to_the_least_loaded_online_member_and_reserves_a_slot(acme: Store) -> None:
    first, _ = await steps.route(acme, request("c-1"))
    second, _ = await steps.route(acme, request("c-2"))
    third, _ = await steps.route(acme, request("c-3"))
    fourth, _ = await steps.route(acme, request("c-4"))
    assert {first.offer_to, second.offer_to} == {"ann", "bob"}  # cy is offline
    assert third.offer_to == "ann" and fourth.offer_to is None
    assert await loads(acme) == {"ann": 2, "bob": 1, "cy": 0, "zed": 0}


async def test_route_is_idempotent_by_conversation_and_step(acme: Store) -> None:
    first, _ = await steps.route(acme, request("c-1"))
    again, _ = await steps.route(acme, request("c-1"))
    assert again == first
    assert sum((await loads(acme)).values()) == 1

    await presence.set_status(acme, "ann", "offline", T0)
    await presence.set_status(acme, "bob", "offline", T0)
    queued, _ = await steps.route(acme, request("c-2"))
    queued_again, _ = await steps.route(acme, request("c-2", waiting_since=T0 + timedelta(seconds=5)))
    assert queued.offer_to is None and queued_again == queued
    assert [(q.conversation_id, q.waiting_since) for q in await rows(acme, t.queue)] == [("c-2", T0)]


async def check_r2_4_retried_steps_racing_their_first_attempt(url: str) -> None:
    """An activity retry can run beside its first attempt: the same (conversation, step) sent at
    once over several connections is one offer or one queue place, and one answer."""
    stores = [await Store.open(url)] + [Store.connect(url) for _ in range(3)]
    try:
        await directory.save(stores[0], crowd(2, 1))
        for n, conversation in enumerate(["c-1", "c-2", "c-3"]):  # the third finds nobody with room
            outcomes = await asyncio.gather(*(steps.route(s, request(conversation, n + 1)) for s in stores))
            assert all(o == outcomes[0][0] for o, _ in outcomes)
        assert await loads(stores[0]) == {"agent-0": 1, "agent-1": 1}
        assert [q.conversation_id for q in await rows(stores[0], t.queue)] == ["c-3"]
        assert len(await rows(stores[0], t.holds)) == 2
    finally:
        for store in stores:
            await store.close()


async def test_r2_4_a_retried_step_racing_its_first_attempt_takes_one_slot(tmp_path: Path) -> None:
    await check_r2_4_retried_steps_racing_their_first_attempt(sqlite_url(tmp_path))


async def test_rerouting_moves_the_slot_and_wakes_the_queue(acme: Store) -> None:
    """A declined offer (next step, agent excluded) frees the old slot before taking the next."""
    await presence.set_status(acme, "bob", "offline", T0)
    first, _ = await steps.route(acme, request("c-1"))
    await steps.route(acme, request("c-2"))
    queued, _ = await steps.route(acme, request("c-3", at=T0 + timedelta(seconds=1)))
    assert first.offer_to == "ann" and queued.offer_to is None
    moved, wakes = await steps.route(acme, request("c-1", 2, excluded=("ann",)))
    assert moved.offer_to is None  # nobody else online: c-1 waits too
    assert wakes == ["conversation-c-3"]
    assert await loads(acme) == {"ann": 1, "bob": 0, "cy": 0, "zed": 0}


# --- release ----------------------------------------------------------------------------------------


async def test_release_frees_the_slot_wakes_the_queue_head_and_is_idempotent(acme: Store) -> None:
    await presence.set_status(acme, "bob", "offline", T0)
    await steps.route(acme, request("c-1"))
    await steps.route(acme, request("c-2"))
    await steps.route(acme, request("c-3"))  # queued: ann is full
    assert await books.finish(acme, "c-1", T0) == ["conversation-c-3"]
    assert await books.finish(acme, "c-1", T0) == ["conversation-c-3"]  # a retry: the wake may not have been sent
    assert (await loads(acme))["ann"] == 1
    assert await books.finish(acme, "c-3", T0) == []  # leaves the queue
    assert await rows(acme, t.queue) == []
    assert await books.finish(acme, "never-seen", T0) == []


# --- presence ---------------------------------------------------------------------------------------


async def test_set_status_refuses_an_unknown_agent_or_status_naming_it(acme: Store) -> None:
    with pytest.raises(Refusal, match="unknown agent 'nobody'") as info:
        await presence.set_status(acme, "nobody", "online", T0)
    assert (info.value.kind, info.value.field) == ("UnknownAgent", "agent")
    with pytest.raises(Refusal, match="'busy' is not one of online, away, offline") as info:
        await presence.set_status(acme, "ann", "busy", T0)
    assert info.value.field == "status"
    assert {a.id: a.status for a in (await directory.load(acme)).account("acme").agents}["ann"] is Status.ONLINE


# --- queue order (SPEC R2.3) ------------------------------------------------------------------------


async def test_r2_3_queue_heads_are_highest_priority_then_oldest(acme: Store) -> None:
    for agent in ("ann", "bob"):
        await presence.set_status(acme, agent, "offline", T0)
    for n, (priority, age) in enumerate([(0, 50), (5, 10), (0, 90), (5, 40), (-1, 100)]):
        outcome, _ = await steps.route(acme, request(f"q-{n}", priority=priority,
                                                      waiting_since=T0 - timedelta(seconds=age)))
        assert outcome.offer_to is None
    # ann (capacity 2) comes online: room for the two best; bob (capacity 1): room for one.
    assert await presence.set_status(acme, "ann", "online", T0) == ["conversation-q-3", "conversation-q-1"]
    assert await presence.set_status(acme, "bob", "online", T0) == ["conversation-q-3"]
    async with acme.engine.connect() as conn:
        assert await capacity.heads_for(conn, "cy") == []  # offline: no room to offer
        assert await capacity.heads_for(conn, "ann", exclude="q-3") == ["conversation-q-1", "conversation-q-2"]


async def test_r2_3_heads_are_only_from_the_agents_own_skills(acme: Store) -> None:
    await presence.set_status(acme, "ann", "offline", T0)
    await presence.set_status(acme, "bob", "offline", T0)
    await steps.route(acme, request("p-1", skill="phone", priority=9))
    await steps.route(acme, request("s-1"))
    assert await presence.set_status(acme, "bob", "online", T0) == ["conversation-s-1"]  # bob has no phone
    assert await presence.queue_length(acme, SkillRef(account="acme", skill="phone")) == 1



async def test_a_write_waits_for_another_process_write_while_the_event_loop_runs(tmp_path: Path) -> None:
    """store.sqlite runs SQLite's calls on the event loop's thread; the one call that can wait
    long, ``BEGIN IMMEDIATE`` behind another process's write, waits in ``asyncio.sleep`` instead
    of in SQLite's busy handler, so a worker's activities and pollers go on meanwhile."""
    store = await Store.open(sqlite_url(tmp_path))
    await directory.save(store, parse_text(ACME, "test"))
    other = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)  # as another process would
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        other.execute("BEGIN IMMEDIATE")
        writing = asyncio.create_task(presence.set_status(store, "ann", "online", T0))
        await asyncio.sleep(0.6)
        assert not writing.done(), "the write waits for the other one"
        assert ticks >= 25, f"the loop ran {ticks} times in 0.6 s while the write waited"
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
    finally:
        ticker.cancel()
        other.close()
        await store.close()
