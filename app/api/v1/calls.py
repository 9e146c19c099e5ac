"""Calls for proposals: public once published; managed by the region."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.deps import OPTIONAL_AUTH, OptionalPrincipal, SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.domain import CallStatus, Fund
from app.models.call import Call
from app.repositories import programmes as repo
from app.schemas.call import CallCreate, CallRead, CallUpdate, call_read
from app.schemas.page import Page
from app.services import calls as service

router = APIRouter(prefix="/calls", tags=["calls"])

CallId = Annotated[uuid.UUID, Path(description="The call's id.")]
Write = Annotated[Principal, require(Scope.CALLS_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)


async def _read(session: SessionDep, call: Call) -> CallRead:
    phases, limits = (await repo.call_details(session, [call.id]))[call.id]
    return call_read(call, phases, limits, datetime.now(UTC))


@router.get(
    "", summary="List calls", responses=problem_responses(401, 422), openapi_extra=OPTIONAL_AUTH
)
async def list_calls(
    session: SessionDep,
    page: PageDep,
    principal: OptionalPrincipal,
    programme_id: Annotated[uuid.UUID | None, Query(description="Only this programme's.")] = None,
    measure_id: Annotated[uuid.UUID | None, Query(description="Only this measure's.")] = None,
    status: Annotated[CallStatus | None, Query(description="Only calls in this status.")] = None,
    fund: Annotated[Fund | None, Query(description="FSE or FESR.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title.")] = None,
) -> Page[CallRead]:
    """List calls by code; drafts only for the region. Public."""
    visible = service.visible_statuses(principal)
    statuses = [s for s in visible if status is None or s == status]
    rows = await repo.page_calls(
        session,
        programme_id=programme_id,
        measure_id=measure_id,
        statuses=statuses,
        fund=fund,
        q=q,
        after=page.after(str, uuid.UUID),
        limit=page.limit,
    )
    details = await repo.call_details(session, [c.id for c in rows[: page.limit]])
    now = datetime.now(UTC)
    return page.page(
        rows, key=lambda c: (c.code, c.id), item=lambda c: call_read(c, *details[c.id], now)
    )


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
    read = await _read(session, await service.get_call(session, call_id, principal))
    with_etag(response, read)
    return read


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
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    read = await _read(session, await service.create_call(session, data=body))
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/calls/{read.id}"}
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
    call = await service.get_call(session, call_id, principal)
    require_if_match(request, await _read(session, call))
    await service.update_call(session, call, data=body)
    read = await _read(session, call)
    with_etag(response, read)
    return read


async def _move(
    action: str,
    call_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Principal,
) -> CallRead:
    call = await service.get_call(session, call_id, principal)
    require_if_match(request, await _read(session, call))
    read = await _read(session, await service.move_call(session, call, action=action))
    with_etag(response, read)
    return read


@router.post("/{call_id}/publish", summary="Publish a call", responses=CHANGE_ERRORS)
async def publish_call(
    call_id: CallId, request: Request, response: Response, session: SessionDep, principal: Write
) -> CallRead:
    """Publish a draft call (If-Match required): public, and open in its windows."""
    return await _move("publish", call_id, request, response, session, principal)


@router.post("/{call_id}/close", summary="Close a call", responses=CHANGE_ERRORS)
async def close_call(
    call_id: CallId, request: Request, response: Response, session: SessionDep, principal: Write
) -> CallRead:
    """Close a published call (If-Match required): no more submissions."""
    return await _move("close", call_id, request, response, session, principal)
