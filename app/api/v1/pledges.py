"""Co-funding pledges: a partner foundation's own records, under its organisation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep, parse_datetime
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.domain import PledgeStatus
from app.repositories import pledges as repo
from app.repositories import visibility
from app.schemas.page import Page
from app.schemas.pledge import (
    PledgeCreate,
    PledgeRead,
    PledgeUpdate,
    PledgeWithdraw,
    pledge_read,
)
from app.services import organisations as organisations_service
from app.services import pledges as service

router = APIRouter(prefix="/organisations/{organisation_id}/pledges", tags=["pledges"])

OrganisationId = Annotated[uuid.UUID, Path(description="The pledging foundation's id.")]
PledgeId = Annotated[uuid.UUID, Path(description="The pledge's id.")]
Reader = Annotated[Principal, require(Scope.PLEDGES_READ)]
Writer = Annotated[Principal, require(Scope.PLEDGES_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)


@router.get(
    "", summary="List a foundation's pledges", responses=problem_responses(401, 403, 404, 422)
)
async def list_pledges(
    organisation_id: OrganisationId,
    session: SessionDep,
    page: PageDep,
    principal: Reader,
    call_id: Annotated[uuid.UUID | None, Query(description="To this call.")] = None,
    status: Annotated[PledgeStatus | None, Query()] = None,
) -> Page[PledgeRead]:
    """A foundation's pledges, oldest first: to its own client and to the region."""
    organisation = await organisations_service.get_organisation(session, organisation_id, principal)
    rows = await repo.page_pledges(
        session,
        organisation_id=organisation.id,
        visible=visibility.pledges(principal),
        call_id=call_id,
        status=status,
        after=page.after(parse_datetime, uuid.UUID),
        limit=page.limit,
    )
    return page.page(rows, key=lambda p: (p.created_at, p.id), item=pledge_read)


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
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    organisation = await organisations_service.get_organisation(session, organisation_id, principal)
    pledge = await service.create_pledge(session, organisation, data=body, principal=principal)
    read = pledge_read(pledge)
    return await idempotency.respond(
        principal,
        read,
        headers={"Location": f"/api/v1/organisations/{organisation.id}/pledges/{read.id}"},
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
    read = pledge_read(await service.get_pledge(session, organisation_id, pledge_id, principal))
    with_etag(response, read)
    return read


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
    pledge = await service.get_pledge(session, organisation_id, pledge_id, principal)
    require_if_match(request, pledge_read(pledge))
    await service.update_pledge(session, pledge, data=body, principal=principal)
    read = pledge_read(pledge)
    with_etag(response, read)
    return read


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
    pledge = await service.get_pledge(session, organisation_id, pledge_id, principal)
    require_if_match(request, pledge_read(pledge))
    await service.withdraw_pledge(session, pledge, data=body, principal=principal)
    read = pledge_read(pledge)
    with_etag(response, read)
    return read
