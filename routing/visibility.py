"""Who sees and acts on a conversation (SPEC R5): one pure function per question.

The store asks them before it runs a command that names its sender (rollback, join, private
message); the HTTP gateway asks them for every caller. A ``Party`` is a principal as the
directory knows it; ``Where`` is the part of a conversation's state that decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

Role = Literal["agent", "manager", "gateway", "admin"]


@dataclass(frozen=True)
class Party:
    """A caller: an agent or manager of one account, a channel gateway, or an admin.

    ``accounts`` limits a gateway to some owner accounts; None means any (CONTRACT).
    """

    id: str
    role: Role
    account: str | None = None
    accounts: frozenset[str] | None = None


@dataclass(frozen=True)
class Where:
    """Where a conversation is: its owner, the handler that has it (if any), who holds it."""

    owner: str
    handler: str | None = None
    assignee: str | None = None
    offered_to: str | None = None


class Relation(str, Enum):
    OWNER = "owner"  # the party belongs to the owner account
    HANDLER = "handler"  # ... to the account handling it now
    NONE = "none"


def relation(party: Party, where: Where) -> Relation:
    if party.account is not None and party.account == where.handler:
        return Relation.HANDLER
    if party.account is not None and party.account == where.owner:
        return Relation.OWNER
    return Relation.NONE


def sees(party: Party, where: Where) -> bool:
    """R5.1-R5.5: may ``party`` see this conversation at all (by id, in a list, in a queue)?"""
    if party.role == "admin":
        return True
    if party.role == "gateway":
        return party.accounts is None or where.owner in party.accounts
    side = relation(party, where)
    if party.role == "manager":
        return side is not Relation.NONE  # R5.2, R5.4
    if side is Relation.HANDLER:
        return True  # R5.3: with the owner's brand and both skills
    return side is Relation.OWNER and where.handler is None  # R5.1: hidden while a handler has it


def may_supervise(party: Party, where: Where) -> bool:
    """R5.2, R5.4: join and private-message: a manager of the owner or of the handler."""
    return party.role == "admin" or (party.role == "manager" and relation(party, where) is not Relation.NONE)


def may_roll_back(party: Party, where: Where) -> bool:
    """R4.1: an agent, bot or manager of the handler side; while assigned, the assignee or a manager."""
    if party.role == "admin":
        return True
    if relation(party, where) is not Relation.HANDLER:
        return False
    return party.role == "manager" or where.assignee is None or where.assignee == party.id



def has_part_in(party: Party, account: str) -> bool:
    """R5.5: does ``party`` belong to ``account`` (or, a gateway, serve it)? Anything of an account
    a caller has no part in does not exist for them."""
    if party.role == "admin":
        return True
    if party.role == "gateway":
        return party.accounts is None or account in party.accounts
    return party.account == account


def may_answer_offer(party: Party, where: Where) -> bool:
    """R2.2: accept or decline: an agent (person or bot) or manager who sees it; whether the offer
    is theirs and still open is the workflow's to say (R2.5)."""
    return party.role == "admin" or (party.role in ("agent", "manager") and sees(party, where))


def may_close(party: Party, where: Where) -> bool:
    """R8.1: the assignee, a manager of the owner or the handler, the customer side (a gateway of
    the owner account), an admin."""
    if party.role in ("admin", "gateway"):
        return sees(party, where)
    if party.role == "manager":
        return relation(party, where) is not Relation.NONE
    return where.assignee is not None and where.assignee == party.id


def may_manage(party: Party, account: str) -> bool:
    """An account's own settings and views (the manager's list, heroes): its managers, an admin."""
    return party.role == "admin" or (party.role == "manager" and party.account == account)


def may_act_for(party: Party, agent: Party) -> bool:
    """An agent's presence, offers and feed: the agent, a manager of their account, an admin."""
    if party.role == "admin" or party.id == agent.id:
        return True
    return party.role == "manager" and party.account == agent.account
