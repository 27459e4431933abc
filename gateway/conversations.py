"""``/conversations``: start one (channel gateways), read one, and every CONTRACT command as
``POST /conversations/{id}/<command>``, each checked against SPEC R5 before it reaches the workflow.

The workflow's validators have the last word on state (an offer that expired, a closed
conversation): their refusals come back as 409/422 with the validator's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gateway.access import acting_as, shown, visible, where_of
from gateway.auth import Caller, Gw
from gateway.errors import ApiError, forbidden, from_rpc
from gateway.schemas import (AcceptBody, CloseBody, ConversationId, ConversationView, DeclineBody, Done, JoinBody,
                             PrivateMessageBody, ReassignToHeroBody, RollbackBody, StartBody, Started, TransferBody,
                             _Body)
from routing.transfer import may_transfer
from routing.visibility import (Party, Where, has_part_in, may_answer_offer, may_close, may_roll_back,
                                may_supervise, sees)
from store import directory
from service import conversations
from workflows import search_attributes as sa
from workflows.conversation import workflow_id
from workflows.inputs import VIEW

router = APIRouter(prefix="/conversations", tags=["conversations"])


@router.post("", name="start_conversation", status_code=201,
             responses={200: {"model": Started, "description": "Running already (SPEC R1.2)"}})
async def start(body: StartBody, response: Response, party: Caller, gw: Gw) -> Started:
    """Start a conversation as a channel gateway (SPEC R1). Idempotent on its id: 201 when it is
    new, 200 when it runs already. An unknown account or skill, or a disabled skill, is refused
    (422, naming the field) before anything is started."""
    if party.role not in ("gateway", "admin"):
        raise forbidden("only a channel gateway (or an admin) starts conversations")
    if not has_part_in(party, body.account):
        raise forbidden(f"{party.id} does not serve account {body.account!r}", field="account")
    async with gw.store.one_read() as conn:
        await directory.owner_of(conn, body.account, body.skill)  # R1.3: refused here, nothing half-made
    try:  # the start first: a new conversation (the common case) costs no look beforehand
        await conversations.start(gw.client, body, gw.task_queue, join_running=False)
        created = True
    except WorkflowAlreadyStartedError:  # the id is in use: running already (200), or refused (409)
        await _running_already(gw, body)
        response.status_code, created = 200, False
    return Started(conversation_id=body.conversation_id, workflow_id=workflow_id(body.conversation_id),
                   created=created)


async def _running_already(gw: Gw, body: StartBody) -> None:
    """The start met a conversation with this id: fine when it is this account's and running;
    refuses an id another account's conversation has, or a closed one's: ids are never reused (R1.2)."""
    try:
        described = await gw.client.get_workflow_handle(workflow_id(body.conversation_id)).describe(
            rpc_timeout=gw.timeout)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # it ended and is gone since: still never reused
            raise _id_used(body.conversation_id) from None
        raise from_rpc(exc, f"conversation {body.conversation_id!r}") from None
    if described.typed_search_attributes.get(sa.OWNER_ACCOUNT) != body.account:
        raise ApiError(409, "IdTaken", f"conversation id {body.conversation_id!r} is taken", field="conversation_id")
    if described.status is not WorkflowExecutionStatus.RUNNING:
        raise _id_used(body.conversation_id)


def _id_used(conversation_id: str) -> ApiError:
    return ApiError(409, "ConversationClosed", f"conversation {conversation_id!r} has ended; conversation ids are "
                                               "never reused (SPEC R1.2)", field="conversation_id")


@router.get("/{conversation_id}", name="read_conversation")
async def read(conversation_id: ConversationId, party: Caller, gw: Gw) -> ConversationView:
    """The conversation with its timeline, if the caller may see it (SPEC R5); 404 otherwise."""
    view, _ = await visible(gw, party, conversation_id)
    return ConversationView.model_validate(shown(party, view))


def _may_roll_back(party: Party, where: Where) -> bool:
    # Not with a handler: anyone who sees it hears R4.3's refusal from the workflow, not a 403.
    return where.handler is None or may_roll_back(party, where)


# verb -> (who may, the rule in words for the 403)
RULES: dict[str, tuple[Callable[[Party, Where], bool], str]] = {
    "accept": (may_answer_offer, "R2.2: offers are answered by agents and managers"),
    "decline": (may_answer_offer, "R2.2: offers are answered by agents and managers"),
    "close": (may_close, "R8.1: the assignee, a manager of the owner or the handler, the owner's gateway or an "
                         "admin closes it"),
    "transfer": (may_transfer, "R6.1: the assignee or a manager of an account involved transfers it"),
    "rollback": (_may_roll_back, "R4.1: the handler side rolls it back: the assignee (any of its agents while "
                                 "nobody has it) or a manager"),
    # Reassigning to the hero moves it as a transfer does, so the same people may (R7.3).
    "reassign_to_hero": (may_transfer, "R7.3: the assignee or a manager of an account involved reassigns it"),
    "join": (may_supervise, "R5.2, R5.4: managers of the owner or the handler join"),
    "private_message": (may_supervise, "R5.2, R5.4: managers of the owner or the handler send private messages"),
}


# Commands whose right the workflow judges alone as they apply (SPEC R5.6: only the agent holding
# the offer answers it, and that agent sees the conversation). For the callers who may answer
# offers at all, the gateway sends these without reading the state first: one round trip and one
# query less per accept. The state is read only after a refusal, to answer 404 to a caller who may
# not know of the conversation, as the read before would have.
JUDGED_IN_THE_WORKFLOW = {"accept", "decline"}
ANSWER_OFFERS = ("agent", "manager", "admin")  # R2.2 (routing.visibility.may_answer_offer)


async def _command(gw: Gw, party: Party, conversation_id: str, verb: str, body: _Body,
                   defaults: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> ConversationView | Done:
    fields = body.update_input(party.id)
    acting_as(party, fields, body.actor)
    if verb in JUDGED_IN_THE_WORKFLOW and party.role in ANSWER_OFFERS:
        after = await _judged_in_the_workflow(gw, party, conversation_id, verb, fields)
    else:
        view, where = await visible(gw, party, conversation_id)
        may, rule = RULES[verb]
        if not may(party, where):
            raise forbidden(f"{verb}: {party.id} may not {verb.replace('_', ' ')} conversation {conversation_id} "
                            f"({rule})")
        if defaults:
            defaults(view, fields)
        after = conversations.merged(view, await _send(gw, conversation_id, verb, fields))
    if not sees(party, where_of(after)):
        return Done(conversation_id=conversation_id, command=verb)
    return ConversationView.model_validate(shown(party, after))


async def _judged_in_the_workflow(gw: Gw, party: Party, conversation_id: str, verb: str,
                                  fields: dict[str, Any]) -> dict[str, Any]:
    """The command with the full view asked back; a refusal of a conversation the caller does not
    see is a 404 (SPEC R5.5: nothing of it is told), any other keeps its own answer."""
    try:
        return await _send(gw, conversation_id, verb, {**fields, VIEW: "full"})
    except WorkflowUpdateFailedError:
        await visible(gw, party, conversation_id)
        raise
    except ApiError as exc:
        if exc.status == 409:  # closed, or never there: the read tells which
            await visible(gw, party, conversation_id)
        raise


async def _send(gw: Gw, conversation_id: str, verb: str, fields: dict[str, Any]) -> dict[str, Any]:
    handle = gw.client.get_workflow_handle(workflow_id(conversation_id))
    try:
        return await conversations.update(handle, verb, fields, rpc_timeout=gw.timeout)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # it was there a moment ago: it has ended since
            raise ApiError(409, "ConversationClosed", f"{verb}: conversation {conversation_id} is closed") from None
        raise from_rpc(exc, f"conversation {conversation_id!r}") from None


@router.post("/{conversation_id}/accept")
async def accept(conversation_id: ConversationId, body: AcceptBody, party: Caller, gw: Gw) -> ConversationView | Done:
    """The offered agent takes it (SPEC R2.2); 409 when the offer is not theirs or not open (R2.5)."""
    return await _command(gw, party, conversation_id, "accept", body)


@router.post("/{conversation_id}/decline")
async def decline(conversation_id: ConversationId, body: DeclineBody, party: Caller, gw: Gw) -> ConversationView | Done:
    """The offered agent passes; the next agent is tried (SPEC R2.2)."""
    return await _command(gw, party, conversation_id, "decline", body)


@router.post("/{conversation_id}/close")
async def close(conversation_id: ConversationId, body: CloseBody, party: Caller, gw: Gw) -> ConversationView | Done:
    """End it: by the assignee, a manager, or the customer side (a gateway) (SPEC R8.1)."""
    return await _command(gw, party, conversation_id, "close", body)


@router.post("/{conversation_id}/transfer")
async def transfer(conversation_id: ConversationId, body: TransferBody, party: Caller,
                   gw: Gw) -> ConversationView | Done:
    """To a skill or a named agent; another account is a manual rollover (SPEC R6)."""
    return await _command(gw, party, conversation_id, "transfer", body)


@router.post("/{conversation_id}/rollback")
async def rollback(conversation_id: ConversationId, body: RollbackBody, party: Caller,
                   gw: Gw) -> ConversationView | Done:
    """The handler side gives it back to the owner (SPEC R4)."""
    return await _command(gw, party, conversation_id, "rollback", body)


@router.post("/{conversation_id}/reassign_to_hero")
async def reassign_to_hero(conversation_id: ConversationId, body: ReassignToHeroBody, party: Caller,
                           gw: Gw) -> ConversationView | Done:
    """Move it to the customer's hero now (SPEC R7.3)."""
    return await _command(gw, party, conversation_id, "reassign_to_hero", body)


@router.post("/{conversation_id}/join")
async def join(conversation_id: ConversationId, body: JoinBody, party: Caller, gw: Gw) -> ConversationView | Done:
    """A manager of the owner or of the handler joins (SPEC R5.2, R5.4)."""
    return await _command(gw, party, conversation_id, "join", body)


@router.post("/{conversation_id}/private_message")
async def private_message(conversation_id: ConversationId, body: PrivateMessageBody, party: Caller,
                          gw: Gw) -> ConversationView | Done:
    """A manager writes to the agent handling it, never seen by the customer (SPEC R5.2, R5.4)."""
    return await _command(gw, party, conversation_id, "private_message", body, defaults=_to_the_assignee)


def _to_the_assignee(view: dict[str, Any], fields: dict[str, Any]) -> None:
    if "to" in fields:
        return
    if view.get("assignee") is None:
        raise ApiError(409, "NotAssigned", f"private_message: no agent is handling {view['conversation_id']} yet")
    fields["to"] = view["assignee"]
