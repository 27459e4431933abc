"""Every error of the gateway is JSON ``{"error": code, "message": ..., "field": ...}`` (CONTRACT).

400 unreadable request, 401 no valid token, 403 the caller may not, 404 nothing there (or nothing
the caller may know of, SPEC R5), 409 the conversation's state refuses it now, 422 the input is
invalid (outside SPEC R9.1's bounds included), 429 Temporal asks to slow down, 503 Temporal or
the worker did not answer. A refusal keeps its kind as the code (``NoOffer``, ``UnknownSkill``,
...), so a client can tell them apart without parsing messages.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from routing.errors import Refusal
from routing.limits import QUOTE_MAX, quote

log = logging.getLogger(__name__)


class Error(BaseModel):
    error: str
    message: str
    field: str | None = None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


# Refusal kinds (routing.errors.Refusal, the workflow's validators, the store) by HTTP status.
# Anything not listed is a state conflict: 409 (NoOffer, OfferExpired, ConversationClosed,
# NotWithHandler, NotYourOffer, SkillClosed, AgentUnavailable, AlreadyThere, NoHero, ...).
_INVALID = {"InvalidInput", "InvalidStatus", "UnknownAccount", "UnknownSkill", "UnknownAgent", "SkillDisabled",
            "TransferNotAllowed"}
_FORBIDDEN = {"NotAllowed", "AgentInactive"}


def status_of(kind: str) -> int:
    return 422 if kind in _INVALID else 403 if kind in _FORBIDDEN else 409


def refused(refusal: Refusal) -> ApiError:
    return ApiError(status_of(refusal.kind), refusal.kind, refusal.message, field=refusal.field)


def not_found(what: str) -> ApiError:
    return ApiError(404, "NotFound", f"no {what}")


def forbidden(message: str, *, field: str | None = None) -> ApiError:
    return ApiError(403, "Forbidden", message, field=field)


def unavailable(message: str) -> ApiError:
    return ApiError(503, "Unavailable", message)


# Temporal's answer by its gRPC status: what the caller can do about it. Anything else (CANCELLED,
# DEADLINE_EXCEEDED, UNAVAILABLE, INTERNAL, PERMISSION_DENIED, ...) is Temporal or the worker not
# answering, or the gateway's own setup: 503, and the caller may retry.
_RPC = {RPCStatusCode.ALREADY_EXISTS: (409, "AlreadyExists"),
        RPCStatusCode.FAILED_PRECONDITION: (409, "Conflict"),
        RPCStatusCode.INVALID_ARGUMENT: (422, "InvalidInput"),
        RPCStatusCode.RESOURCE_EXHAUSTED: (429, "TooManyRequests")}


def from_rpc(exc: RPCError, what: str) -> ApiError:
    """A failed Temporal call as the HTTP status that fits it (NOT_FOUND 404, ALREADY_EXISTS and
    FAILED_PRECONDITION 409, INVALID_ARGUMENT 422, RESOURCE_EXHAUSTED 429, the rest 503)."""
    if exc.status is RPCStatusCode.NOT_FOUND:
        return not_found(what)
    if exc.status in _RPC:
        status, code = _RPC[exc.status]
        return ApiError(status, code, f"{what}: Temporal: {exc.message}")
    if exc.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
        return unavailable(f"{what}: no answer in time (is a worker running on the task queue?)")
    return unavailable(f"{what}: Temporal: {exc.message}")


def from_update(exc: WorkflowUpdateFailedError) -> ApiError:
    """A command the workflow's validator (or the store, under the workflow) refused."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        kind = cause.type or "Refused"
        return ApiError(status_of(kind), kind, cause.message, field=details.get("field"))
    return ApiError(409, "Refused", str(getattr(cause, "message", cause)))


def response(error: ApiError) -> JSONResponse:
    """The error as the JSON response every route answers with."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    body = Error(error=error.code, message=error.message, field=error.field)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=error.status, headers=headers)


def _validation(exc: RequestValidationError) -> ApiError:
    """The first problem of a request, naming where it is (``body.agent``, ``query.page_size``) and
    quoting at most a short prefix of the bad value (SPEC R9.2)."""
    first = exc.errors()[0]
    field = ".".join(str(p) if len(str(p)) <= QUOTE_MAX else quote(p) for p in first.get("loc", ())) or "body"
    if first.get("type") == "json_invalid":
        return ApiError(400, "BadRequest", f"body: not valid JSON ({first.get('ctx', {}).get('error', 'syntax')})",
                        field="body")
    detail = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        message = f"{field}: missing"
    elif first.get("type") == "extra_forbidden":
        message = f"{field}: unknown field"
    else:
        value = first.get("input")
        shown = f" = {quote(value)}" if isinstance(value, (str, int, float, bool)) or value is None else ""
        message = f"{field}{shown}: {detail}"
    return ApiError(422, "InvalidInput", message, field=field)


_HTTP_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 415: "UnsupportedMediaType", 422: "InvalidInput", 429: "TooManyRequests"}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return response(exc)

    @app.exception_handler(Refusal)
    async def _refusal(_: Request, exc: Refusal) -> JSONResponse:
        return response(refused(exc))

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _update(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        return response(from_update(exc))

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_timeout(_: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        return response(unavailable("the command got no answer in time (is a worker running on the task queue?)"))

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, exc: RPCError) -> JSONResponse:
        log.warning("Temporal call failed: %s", exc)
        return response(from_rpc(exc, "this request"))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return response(_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "Error")
        return response(ApiError(exc.status_code, code, str(exc.detail)))
