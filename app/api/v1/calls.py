"""Calls for proposals: public once published; managed by the region."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import OPTIONAL_AUTH, OptionalPrincipal, SessionDep, require
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.call import CallCreate, CallQuery, CallRead, CallUpdate
from app.schemas.page import Page
from app.services import calls as service

router = APIRouter(prefix="/calls", tags=["calls"])

CallId = Annotated[uuid.UUID, Path(description="The call's id.")]
Write = Annotated[Principal, require(Scope.CALLS_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
call_query = QueryModel(CallQuery)


@router.get(
    "",
    summary="List calls",
    responses=problem_responses(401, 422),
    openapi_extra=call_query.openapi(**OPTIONAL_AUTH),
)
async def list_calls(
    session: SessionDep,
    principal: OptionalPrincipal,
    query: Annotated[CallQuery, Depends(call_query)],
) -> Page[CallRead]:
    """List calls by code; drafts only for the region. Public."""
    return await service.list_calls(session, principal, query)


@router.get(
    "/{call_id}",
    summary="Read a call",
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_call(
    call_id: CallId, session: SessionDep, principal: OptionalPrincipal, response: Response
) -> CallRead:
    """Return a call with its windows, the phase open now and its budget figures. Public."""
    return await read_with_etag(response, service.get_call(session, principal, call_id))


@router.post(
    "",
    status_code=201,
    summary="Create a call",
    response_model=CallRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_call(
    body: CallCreate, session: SessionDep, principal: Write, idempotency: IdempotencyDep
) -> Response:
    """Create a draft call; its budget share must fit in the measure's budget."""
    return await idempotency.create(
        principal,
        make=lambda: service.create_call(session, data=body),
        read=partial(service.read_call, session),
        location=lambda read: f"/api/v1/calls/{read.id}",
    )


@router.patch("/{call_id}", summary="Change a call", responses=CHANGE_ERRORS)
async def update_call(
    call_id: CallId,
    body: CallUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Write,
) -> CallRead:
    """Change a call (If-Match required): title, windows, or its budget share within the
    measure; a closed call's budget only with a reason, which the audit trail records."""
    apply = partial(service.update_call, session, data=body)
    return await _change(apply, call_id, request, response, session, principal)


async def _change(
    apply: Callable[[Any], Awaitable[object]],
    call_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Principal,
) -> CallRead:
    return await change(
        request,
        response,
        load=service.load_call(session, call_id, principal),
        read=partial(service.read_call, session),
        apply=apply,
    )


@router.post("/{call_id}/publish", summary="Publish a call", responses=CHANGE_ERRORS)
async def publish_call(
    call_id: CallId, request: Request, response: Response, session: SessionDep, principal: Write
) -> CallRead:
    """Publish a draft call (If-Match required): public, and open in its windows."""
    apply = partial(service.move_call, session, action="publish")
    return await _change(apply, call_id, request, response, session, principal)


@router.post("/{call_id}/close", summary="Close a call", responses=CHANGE_ERRORS)
async def close_call(
    call_id: CallId, request: Request, response: Response, session: SessionDep, principal: Write
) -> CallRead:
    """Close a published call (If-Match required): no more submissions."""
    apply = partial(service.move_call, session, action="close")
    return await _change(apply, call_id, request, response, session, principal)
