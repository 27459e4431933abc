"""What the gateway reads from the store on every request, on a real SQLite file (and, through
tests/test_postgres.py, on PostgreSQL): a bearer token resolved to its principal as the directory
has it now (SPEC R5, in one query), and the owner account and skill of a start (R1.3, in one query).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from routing.errors import Refusal
from store import Store, directory, tokens
from store.heroes import deactivate

DIRECTORY = """\
accounts:
  - id: acme
    brand: {name: Acme Motors}
    skills:
      - id: sales
      - id: closed
        enabled: false
    agents:
      - {id: ann, skills: [sales]}
      - {id: mia, role: manager}
      - {id: bob, skills: [sales]}
  - id: globex
    brand: {name: Globex}
    skills: [{id: claims}]
gateways:
  - {name: web, accounts: [acme]}
  - {name: any}
"""


async def _refused(kind: str, field: str, work) -> None:
    with pytest.raises(Refusal) as refused:
        await work
    assert (refused.value.kind, refused.value.field) == (kind, field), refused.value


async def check_r5_a_token_is_its_principal_as_the_directory_has_it_now(url: str) -> None:
    store = await Store.open(url)
    try:
        await directory.save(store, directory.parse_text(DIRECTORY, "tokens"))
        names = ["ann", "mia", "bob", "admin", "gateway:web", "gateway:any", "gateway:gone"]
        made = {name: await tokens.create(store, name) for name in names[:-1]}
        parties = {name: await tokens.resolve(store, token) for name, token in made.items()}
        assert {n: (p.id, p.role, p.account, p.accounts) for n, p in parties.items()} == {
            "ann": ("ann", "agent", "acme", None), "mia": ("mia", "manager", "acme", None),
            "bob": ("bob", "agent", "acme", None), "admin": ("admin", "admin", None, None),
            "gateway:web": ("gateway:web", "gateway", None, frozenset({"acme"})),
            "gateway:any": ("gateway:any", "gateway", None, None)}
        assert await tokens.resolve(store, "sb_never-made") is None
        # Nothing is cached: each change stops (or changes) the very next lookup.
        await tokens.revoke(store, made["mia"])
        assert await tokens.resolve(store, made["mia"]) is None
        await deactivate(store, "bob", datetime.now(timezone.utc))
        await _refused("AgentInactive", "by", tokens.resolve(store, made["bob"]))
        await directory.save(store, directory.parse_text(
            DIRECTORY.replace("      - {id: ann, skills: [sales]}\n", "").replace("  - {name: web, accounts: [acme]}\n",
                                                                                 ""), "tokens, less"))
        await _refused("UnknownAgent", "principal", tokens.resolve(store, made["ann"]))
        unlisted = await tokens.resolve(store, made["gateway:web"])  # fail closed (R5.5)
        assert (unlisted.role, unlisted.accounts) == ("gateway", frozenset())
    finally:
        await store.close()


async def check_r1_3_the_owner_of_a_start_or_the_field_that_is_wrong(url: str) -> None:
    store = await Store.open(url)
    try:
        await directory.save(store, directory.parse_text(DIRECTORY, "tokens"))
        async with store.engine.connect() as conn:
            account, skill = await directory.owner_of(conn, "acme", "sales")
            assert (account.brand.name, skill.id) == ("Acme Motors", "sales")
            await _refused("UnknownAccount", "account", directory.owner_of(conn, "nowhere", "sales"))
            await _refused("UnknownSkill", "skill", directory.owner_of(conn, "acme", "claims"))  # globex's
            await _refused("SkillDisabled", "skill", directory.owner_of(conn, "acme", "closed"))
    finally:
        await store.close()


async def test_a_read_of_one_statement_opens_no_transaction_on_sqlite(tmp_path: Path) -> None:
    """``Store.one_read`` (the two reads above) holds no snapshot: no BEGIN, so no round trips for it."""
    store = await Store.open(_url(tmp_path))
    try:
        await directory.save(store, directory.parse_text(DIRECTORY, "tokens"))
        for opened, in_transaction in ((store.one_read, False), (store.engine.connect, True)):
            async with opened() as conn:
                account, _ = await directory.owner_of(conn, "acme", "sales")
                driver = (await conn.get_raw_connection()).driver_connection
                assert (account.brand.name, driver.in_transaction) == ("Acme Motors", in_transaction), opened
    finally:
        await store.close()


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tokens.db'}"


async def test_r5_a_token_is_its_principal_as_the_directory_has_it_now(tmp_path: Path) -> None:
    await check_r5_a_token_is_its_principal_as_the_directory_has_it_now(_url(tmp_path))


async def test_r1_3_the_owner_of_a_start_or_the_field_that_is_wrong(tmp_path: Path) -> None:
    await check_r1_3_the_owner_of_a_start_or_the_field_that_is_wrong(_url(tmp_path))
