"""Co-funding pledges: a partner foundation's own records, under its organisation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.page import Page
from app.schemas.pledge import PledgeCreate, PledgeQuery, PledgeRead, PledgeUpdate, PledgeWithdraw
from app.services import pledges as service

router = APIRouter(prefix="/organisations/{organisation_id}/pledges", tags=["pledges"])

OrganisationId = Annotated[uuid.UUID, Path(description="The pledging foundation's id.")]
PledgeId = Annotated[uuid.UUID, Path(description="The pledge's id.")]
Reader = Annotated[Principal, require(Scope.PLEDGES_READ)]
Writer = Annotated[Principal, require(Scope.PLEDGES_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
pledge_query = QueryModel(PledgeQuery)


@router.get(
    "",
    summary="List a foundation's pledges",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=pledge_query.openapi(),
)
async def list_pledges(
    organisation_id: OrganisationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[PledgeQuery, Depends(pledge_query)],
) -> Page[PledgeRead]:
    """A foundation's pledges, oldest first: to its own client and to the region."""
    return await service.list_pledges(session, principal, organisation_id, query)


@router.post(
    "",
    status_code=201,
    summary="Pledge co-funding",
    response_model=PledgeRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_pledge(
    organisation_id: OrganisationId,
    body: PledgeCreate,
    session: SessionDep,
    principal: Writer,
    idempotency: IdempotencyDep,
) -> Response:
    """Record the foundation's co-funding of a published call that is not closed (409
    call_not_open_for_pledges otherwise). Foundation money is not EU money: no cap of the
    programme counts it."""
    return await idempotency.create(
        principal,
        make=lambda: service.pledge_for(session, organisation_id, data=body, principal=principal),
        read=partial(service.read_pledge, session),
        location=lambda read: f"/api/v1/organisations/{read.organisation_id}/pledges/{read.id}",
    )


@router.get(
    "/{pledge_id}", summary="Read a pledge", responses=problem_responses(401, 403, 404, 422)
)
async def get_pledge(
    organisation_id: OrganisationId,
    pledge_id: PledgeId,
    session: SessionDep,
    principal: Reader,
    response: Response,
) -> PledgeRead:
    """Return a pledge (another foundation's is 404)."""
    return await read_with_etag(
        response, service.get_pledge(session, principal, organisation_id, pledge_id)
    )


async def _change(
    apply: Callable[[Any], Awaitable[object]],
    organisation_id: uuid.UUID,
    pledge_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Principal,
) -> PledgeRead:
    return await change(
        request,
        response,
        load=service.load_pledge(session, organisation_id, pledge_id, principal),
        read=partial(service.read_pledge, session),
        apply=apply,
    )


@router.patch("/{pledge_id}", summary="Change a pledge", responses=CHANGE_ERRORS)
async def update_pledge(
    organisation_id: OrganisationId,
    pledge_id: PledgeId,
    body: PledgeUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
) -> PledgeRead:
    """Change the amount or the note of an active pledge (If-Match required)."""
    apply = partial(service.update_pledge, session, data=body, principal=principal)
    return await _change(apply, organisation_id, pledge_id, request, response, session, principal)


@router.post("/{pledge_id}/withdraw", summary="Withdraw a pledge", responses=CHANGE_ERRORS)
async def withdraw_pledge(
    organisation_id: OrganisationId,
    pledge_id: PledgeId,
    body: PledgeWithdraw,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
) -> PledgeRead:
    """Withdraw an active pledge with a reason (If-Match required); it stays on the record."""
    apply = partial(service.withdraw_pledge, session, data=body, principal=principal)
    return await _change(apply, organisation_id, pledge_id, request, response, session, principal)
