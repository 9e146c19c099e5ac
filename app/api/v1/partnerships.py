"""Partnerships (ATS): formed by a lead organisation with its partners."""

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
from app.repositories import applicants as repo
from app.repositories import visibility
from app.schemas.organisation import (
    PartnershipCreate,
    PartnershipRead,
    PartnershipUpdate,
    partnership_read,
)
from app.schemas.page import Page
from app.services import organisations as service

router = APIRouter(prefix="/partnerships", tags=["partnerships"])

PartnershipId = Annotated[uuid.UUID, Path(description="The partnership's id.")]
Reader = Annotated[Principal, require(Scope.PARTNERSHIPS_READ)]
Writer = Annotated[Principal, require(Scope.PARTNERSHIPS_WRITE)]


@router.get("", summary="List partnerships", responses=problem_responses(401, 403, 422))
async def list_partnerships(
    session: SessionDep,
    page: PageDep,
    principal: Reader,
    organisation_id: Annotated[uuid.UUID | None, Query(description="With this member.")] = None,
    district_id: Annotated[uuid.UUID | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the name.")] = None,
) -> Page[PartnershipRead]:
    """List the partnerships the caller may see, oldest first."""
    rows = await repo.page_partnerships(
        session,
        visible=visibility.partnerships(principal),
        organisation_id=organisation_id,
        district_id=district_id,
        q=q,
        after=page.after(parse_datetime, uuid.UUID),
        limit=page.limit,
    )
    members = await repo.members_of(session, [p.id for p in rows[: page.limit]])
    return page.page(
        rows,
        key=lambda p: (p.created_at, p.id),
        item=lambda p: partnership_read(p, members[p.id]),
    )


@router.get(
    "/{partnership_id}",
    summary="Read a partnership",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_partnership(
    partnership_id: PartnershipId, session: SessionDep, principal: Reader, response: Response
) -> PartnershipRead:
    """Return a partnership and its members (only to its members and the region)."""
    read = partnership_read(*await service.get_partnership(session, partnership_id, principal))
    with_etag(response, read)
    return read


@router.post(
    "",
    status_code=201,
    summary="Form a partnership",
    response_model=PartnershipRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_partnership(
    body: PartnershipCreate, session: SessionDep, principal: Writer, idempotency: IdempotencyDep
) -> Response:
    """Form a partnership led by one of the caller's organisations."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    read = partnership_read(
        *await service.create_partnership(session, data=body, principal=principal)
    )
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/partnerships/{read.id}"}
    )


@router.patch(
    "/{partnership_id}",
    summary="Change a partnership",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_partnership(
    partnership_id: PartnershipId,
    body: PartnershipUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
) -> PartnershipRead:
    """Change a partnership (If-Match required); members are frozen once it has submitted."""
    partnership, members = await service.get_partnership(session, partnership_id, principal)
    require_if_match(request, partnership_read(partnership, members))
    members = await service.update_partnership(
        session, partnership, members, data=body, principal=principal
    )
    read = partnership_read(partnership, members)
    with_etag(response, read)
    return read
