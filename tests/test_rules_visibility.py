"""SPEC R5 as pure rules: every (role, relation, handler present?) cell of who sees and who acts."""

from __future__ import annotations

import pytest

from routing.visibility import (Party, Where, has_part_in, may_act_for, may_answer_offer, may_close, may_manage,
                                may_roll_back, may_supervise, sees)

OWNED = Where(owner="acme")  # the owner handles it
HANDLED = Where(owner="acme", handler="bpo", assignee="zed")

OWNER_AGENT = Party("ann", "agent", "acme")
OWNER_MANAGER = Party("mia", "manager", "acme")
HANDLER_AGENT = Party("zed", "agent", "bpo")
OTHER_HANDLER_AGENT = Party("yan", "agent", "bpo")
HANDLER_MANAGER = Party("max", "manager", "bpo")
STRANGER_AGENT = Party("sam", "agent", "globex")
STRANGER_MANAGER = Party("gus", "manager", "globex")
GATEWAY = Party("gateway:web", "gateway")
ACME_GATEWAY = Party("gateway:acme", "gateway", accounts=frozenset({"acme"}))
GLOBEX_GATEWAY = Party("gateway:globex", "gateway", accounts=frozenset({"globex"}))
ADMIN = Party("admin", "admin")

# party, sees owned, sees handled, supervises owned, supervises handled, rolls back handled
MATRIX = [
    (OWNER_AGENT, True, False, False, False, False),  # R5.1
    (OWNER_MANAGER, True, True, True, True, False),  # R5.2
    (HANDLER_AGENT, False, True, False, False, True),  # R5.3, R4.1 (the assignee)
    (OTHER_HANDLER_AGENT, False, True, False, False, False),  # not while zed is assigned
    (HANDLER_MANAGER, False, True, False, True, True),  # R5.4
    (STRANGER_AGENT, False, False, False, False, False),  # R5.5
    (STRANGER_MANAGER, False, False, False, False, False),  # R5.5
    (GATEWAY, True, True, False, False, False),  # unlimited gateway
    (ACME_GATEWAY, True, True, False, False, False),
    (GLOBEX_GATEWAY, False, False, False, False, False),  # limited to other accounts
    (ADMIN, True, True, True, True, True),
]


@pytest.mark.parametrize(("party", "owned", "handled", "sup_owned", "sup_handled", "rolls_back"), MATRIX,
                         ids=[row[0].id for row in MATRIX])
def test_r5_who_sees_and_acts(party, owned, handled, sup_owned, sup_handled, rolls_back):
    assert sees(party, OWNED) is owned
    assert sees(party, HANDLED) is handled
    assert may_supervise(party, OWNED) is sup_owned
    assert may_supervise(party, HANDLED) is sup_handled
    assert may_roll_back(party, HANDLED) is rolls_back
    assert may_roll_back(party, OWNED) is (party.role == "admin"), "R4.3: nothing to roll back"


def test_r4_1_any_handler_agent_may_roll_back_while_nobody_is_assigned():
    queued_at_handler = Where(owner="acme", handler="bpo")
    assert may_roll_back(OTHER_HANDLER_AGENT, queued_at_handler)
    assert not may_roll_back(OWNER_AGENT, queued_at_handler)


def test_r5_3_a_handler_account_that_is_also_an_owner_elsewhere_sees_only_its_side():
    own_brand_conversation_handled_by_bpo = Where(owner="bpo-brand", handler="bpo")
    assert sees(HANDLER_AGENT, own_brand_conversation_handled_by_bpo)
    assert not sees(HANDLER_AGENT, Where(owner="acme", handler="other-bpo"))


# party, answers offers (owned, handled), closes (owned, handled); OWNED has no assignee, so only
# managers, gateways and admins close it; HANDLED is zed's.
ACTING = [
    (OWNER_AGENT, True, False, False, False),  # R5.1: nothing of it while bpo has it
    (OWNER_MANAGER, True, True, True, True),  # R8.1 a manager closes
    (HANDLER_AGENT, False, True, False, True),  # R8.1 the assignee closes
    (OTHER_HANDLER_AGENT, False, True, False, False),
    (HANDLER_MANAGER, False, True, False, True),
    (STRANGER_AGENT, False, False, False, False),  # R5.5
    (STRANGER_MANAGER, False, False, False, False),
    (GATEWAY, False, False, True, True),  # R8.1 the customer side closes; it answers no offer
    (ACME_GATEWAY, False, False, True, True),
    (GLOBEX_GATEWAY, False, False, False, False),
    (ADMIN, True, True, True, True),
]


@pytest.mark.parametrize(("party", "answers_owned", "answers_handled", "closes_owned", "closes_handled"), ACTING,
                         ids=[row[0].id for row in ACTING])
def test_r2_2_r8_1_who_answers_offers_and_who_closes(party, answers_owned, answers_handled, closes_owned,
                                                     closes_handled):
    assert may_answer_offer(party, OWNED) is answers_owned
    assert may_answer_offer(party, HANDLED) is answers_handled
    assert may_close(party, OWNED) is closes_owned
    assert may_close(party, HANDLED) is closes_handled


def test_r8_1_an_owner_agent_closes_what_they_are_assigned():
    assert may_close(OWNER_AGENT, Where(owner="acme", assignee="ann"))
    assert not may_close(Party("bob", "agent", "acme"), Where(owner="acme", assignee="ann"))


@pytest.mark.parametrize(("party", "part_of_acme", "manages_acme", "acts_for_ann"), [
    (OWNER_AGENT, True, False, True),  # themselves
    (Party("bob", "agent", "acme"), True, False, False),  # a colleague
    (OWNER_MANAGER, True, True, True),  # their manager
    (HANDLER_MANAGER, False, False, False),  # R5.5: bpo handles acme's conversations, not acme
    (GATEWAY, True, False, False),
    (GLOBEX_GATEWAY, False, False, False),
    (ADMIN, True, True, True),
], ids=["ann", "bob", "mia", "max", "gateway", "globex-gateway", "admin"])
def test_r5_5_accounts_and_agents_belong_to_their_own_and_their_managers(party, part_of_acme, manages_acme,
                                                                         acts_for_ann):
    assert has_part_in(party, "acme") is part_of_acme
    assert may_manage(party, "acme") is manages_acme
    assert may_act_for(party, OWNER_AGENT) is acts_for_ann
