"""SPEC R9.4 on the real dev server: disabling a skill refuses new starts only. A conversation
queued in it keeps routing; one offered or assigned there can be transferred out, and one a
handler has there can be rolled back out. (A load that would remove what open conversations use
is refused: tests/test_directory_changes.py.)"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError

from store import presence
from test_robustness import DIRECTORY, acme, assigned, kinds  # noqa: F401 (acme is a fixture)


def disabled(*skills: tuple[str, str]) -> str:
    """DIRECTORY with these (account, skill)s disabled."""
    text = DIRECTORY
    for account, skill in skills:
        head, _, rest = text.partition(f"  - id: {account}\n")
        text = head + f"  - id: {account}\n" + rest.replace(f"      - id: {skill}\n",
                                                            f"      - id: {skill}\n        enabled: false\n", 1)
    assert text.count("enabled: false") == len(skills)
    return text


async def test_r9_4_a_disabled_skill_refuses_new_starts_and_its_queue_keeps_routing(acme):
    """The old routing step refused every step in a disabled skill, not only the first: the
    queued conversation met ``routing_failed`` at each wake-up and never reached ann."""
    await acme.set_status("ann", "offline")
    queued = await acme.start("acme", "sales")
    await acme.wait_for(queued, lambda v: v["status"] == "queued")
    await acme.load(disabled(("acme", "sales")))

    refused = await acme.start("acme", "sales")
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(refused.result(), timeout=15)
    assert failed.value.cause.type == "SkillDisabled" and "'sales'" in failed.value.cause.message

    await acme.set_status("ann", "online")  # wakes the queue of the disabled skill
    view = await acme.offered(queued, "ann")
    assert "routing_failed" not in kinds(view)
    await queued.execute_update("accept", {"agent": "ann"})
    assert (await queued.execute_update("close", {"by": "ann"}))["status"] == "closed"


async def test_r9_4_a_conversation_assigned_in_a_disabled_skill_can_be_transferred_out(acme):
    handle = await assigned(acme)
    await acme.load(disabled(("acme", "sales")))
    view = await handle.execute_update("transfer", {"by": "ann", "skill": "billing", "note": "for billing"})
    assert view["status"] == "offered" and view["offer"]["agent"] == "bob"
    assert await presence.holds_of(acme.store, "ann") == []


async def test_r9_4_a_conversation_offered_in_a_disabled_skill_can_be_transferred_out(acme):
    handle = await acme.start("acme", "sales")
    await acme.offered(handle, "ann")
    await acme.load(disabled(("acme", "sales")))
    view = await handle.execute_update("transfer", {"by": "mia", "account": "parts", "skill": "service"})
    assert (view["handler_account"], view["offer"]["agent"]) == ("parts", "pia")


async def test_r9_4_a_conversation_in_a_disabled_handler_skill_can_be_rolled_back_out(acme):
    """Both the handler skill it is in and the owner skill it started in are disabled: it goes
    back to another owner skill. The old routing step refused it by the disabled owner skill."""
    handle = await assigned(acme)
    await handle.execute_update("transfer", {"by": "ann", "account": "parts", "skill": "service"})
    await acme.offered(handle, "pia")
    await handle.execute_update("accept", {"agent": "pia"})
    await acme.load(disabled(("acme", "sales"), ("parts", "service")))
    view = await handle.execute_update("rollback", {"by": "pia", "skill": "billing", "note": "back to you"})
    assert view["handler_account"] is None and view["status"] == "offered" and view["offer"]["agent"] == "bob"
    assert "rolled_back" in kinds(view)
    assert await presence.holds_of(acme.store, "pia") == []
