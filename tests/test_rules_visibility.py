"""SPEC R5 as pure rules: every (role, relation, handler present?) cell of who sees and who acts."""

from __future__ import annotations

import pytest

from routing.visibility import Party, Where, may_roll_back, may_supervise, sees

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
