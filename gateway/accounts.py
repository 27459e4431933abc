"""``/accounts/{id}``: the manager's view of conversations and the customers' heroes.

The view reads Temporal visibility (the CONTRACT search attributes), not a copy: what an account
owns (SPEC R5.2: including what a handler has now) and what it handles for others (R5.4).
"""

from __future__ import annotations

import base64
import binascii
from datetime import timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from gateway.auth import Caller, Gw
from gateway.errors import ApiError, forbidden, from_rpc, not_found
from gateway.schemas import ConversationPage, ConversationSummary, HeroBody, HeroView, PathId
from routing.errors import Refusal
from routing.limits import Id
from routing.visibility import Party, has_part_in, may_manage
from store import directory
from service import heroes
from workflows import search_attributes as sa

router = APIRouter(prefix="/accounts", tags=["accounts"])

AccountId = PathId
CustomerId = PathId
_PREFIX = "conversation-"


async def managed(gw: Gw, party: Party, account_id: str) -> None:
    """404 for an account the caller has no part in (or none at all), 403 for a non-manager of it."""
    if not has_part_in(party, account_id):
        raise not_found(f"account {account_id!r}")
    async with gw.store.engine.connect() as conn:
        if await directory.account(conn, account_id) is None:
            raise not_found(f"account {account_id!r}")
    if not may_manage(party, account_id):
        raise forbidden(f"only managers of {account_id} (or an admin) may do this")


def visibility_query(account: str, *, status: str | None, skill: str | None, handler: str | None,
                     agent: str | None = None) -> str:
    """Conversations the account owns (R5.2) or handles (R5.4), narrowed by the filters."""
    a = sa.literal(account)
    clauses = ["WorkflowType = 'Conversation'", "ExecutionStatus != 'ContinuedAsNew'",
               f"({sa.OWNER_ACCOUNT.name} = {a} OR {sa.HANDLER_ACCOUNT.name} = {a})"]
    if status:
        clauses.append(f"{sa.CONVERSATION_STATUS.name} = {sa.literal(status)}")
    if skill:
        s = sa.literal(skill)
        clauses.append(f"(({sa.OWNER_ACCOUNT.name} = {a} AND {sa.OWNER_SKILL.name} = {s}) OR "
                       f"({sa.HANDLER_ACCOUNT.name} = {a} AND {sa.HANDLER_SKILL.name} = {s}))")
    if handler:
        clauses.append(f"{sa.HANDLER_ACCOUNT.name} = {sa.literal(handler)}")
    if agent:
        clauses.append(f"{sa.ASSIGNED_AGENT.name} = {sa.literal(agent)}")
    return " AND ".join(clauses)


@router.get("/{account_id}/conversations", name="account_conversations")
async def conversations(
        account_id: AccountId, party: Caller, gw: Gw,
        status: Annotated[Literal["routing", "queued", "offered", "assigned", "closed"] | None, Query()] = None,
        skill: Annotated[Id | None, Query(description="The account's own skill: as owner or as handler.")] = None,
        handler: Annotated[Id | None, Query(description="Only those this handler account has now.")] = None,
        agent: Annotated[Id | None, Query(description="Only those this agent is assigned now.")] = None,
        page_size: Annotated[int, Query(ge=1, le=100)] = 50,
        next_page_token: Annotated[str | None, Query(min_length=1, max_length=4000)] = None) -> ConversationPage:
    """The manager's view (SPEC R5.2, R5.4): conversations the account owns, including those a
    handler has now, and those it handles for other brands, newest first, from Temporal visibility."""
    await managed(gw, party, account_id)
    token = _token(next_page_token) if next_page_token else b""
    request = ListWorkflowExecutionsRequest(
        namespace=gw.client.namespace, page_size=page_size, next_page_token=token,
        query=visibility_query(account_id, status=status, skill=skill, handler=handler, agent=agent))
    try:  # no retries: a bad page token would otherwise be retried for seconds
        page = await gw.client.workflow_service.list_workflow_executions(request, retry=False, timeout=gw.timeout)
    except RPCError as exc:
        if token and exc.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.UNKNOWN):
            raise _bad_token() from None
        raise from_rpc(exc, "the conversation list") from None
    rows = [_summary(info) for info in page.executions]
    brands = await _brand_names({row.account for row in rows if row.account}, gw)
    for row in rows:
        row.brand_name = brands.get(row.account)
    following = base64.urlsafe_b64encode(page.next_page_token).decode() if page.next_page_token else None
    return ConversationPage(conversations=rows, next_page_token=following)


def _token(text: str) -> bytes:
    try:
        token = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _bad_token() from None
    if not token:
        raise _bad_token()
    return token


def _bad_token() -> ApiError:
    return ApiError(400, "BadRequest", "next_page_token: not a token of this list; pass back the one a page gave",
                    field="next_page_token")


def _summary(info) -> ConversationSummary:
    attrs = decode_typed_search_attributes(info.search_attributes)
    status = attrs.get(sa.CONVERSATION_STATUS)
    running = info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    if not running and status != "closed":  # ended without closing: failed at start, terminated
        status = WorkflowExecutionStatus.Name(info.status).removeprefix("WORKFLOW_EXECUTION_STATUS_").lower()
    workflow_id = info.execution.workflow_id
    return ConversationSummary(
        conversation_id=workflow_id.removeprefix(_PREFIX), account=attrs.get(sa.OWNER_ACCOUNT),
        skill=attrs.get(sa.OWNER_SKILL), handler_account=attrs.get(sa.HANDLER_ACCOUNT),
        handler_skill=attrs.get(sa.HANDLER_SKILL), assignee=attrs.get(sa.ASSIGNED_AGENT),
        channel=attrs.get(sa.CHANNEL), customer=attrs.get(sa.CUSTOMER_ID), status=status,
        rollover_mode=attrs.get(sa.ROLLOVER_MODE),
        started_at=info.start_time.ToDatetime().replace(tzinfo=timezone.utc) if info.HasField("start_time") else None,
        closed_at=info.close_time.ToDatetime().replace(tzinfo=timezone.utc) if info.HasField("close_time") else None)


async def _brand_names(accounts: set[str], gw: Gw) -> dict[str, str]:
    """R5.4: a handler's manager sees the owner's brand name."""
    names = {}
    async with gw.store.engine.connect() as conn:
        for account_id in accounts:
            account = await directory.account(conn, account_id)
            if account is not None:
                names[account_id] = account.brand.name
    return names


@router.put("/{account_id}/customers/{customer}/hero", name="set_hero")
async def set_hero(account_id: AccountId, customer: CustomerId, body: HeroBody, party: Caller, gw: Gw) -> HeroView:
    """Make an agent (optionally with their inbox) or an inbox the customer's hero (SPEC R7); the
    customer's open conversations learn at once, and a replaced hero takes them (R7.4)."""
    await managed(gw, party, account_id)
    hero = await heroes.set_hero(gw.store, gw.client, account_id, customer, agent=body.agent, inbox=body.inbox)
    return HeroView(account=account_id, customer=customer, agent=hero.agent, inbox=hero.inbox)


@router.delete("/{account_id}/customers/{customer}/hero", name="clear_hero", status_code=204, response_class=Response)
async def clear_hero(account_id: AccountId, customer: CustomerId, party: Caller, gw: Gw) -> Response:
    """Remove the customer's hero; open conversations stay where they are (SPEC R7.3)."""
    await managed(gw, party, account_id)
    try:
        await heroes.clear_hero(gw.store, gw.client, account_id, customer)
    except Refusal as refusal:
        if refusal.kind == "NoHero":
            raise not_found(f"hero for customer {customer!r} of account {account_id!r}") from None
        raise
    return Response(status_code=204)
