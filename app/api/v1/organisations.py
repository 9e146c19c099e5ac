"""Applicant organisations: each sees and changes only its own; the region sees all."""

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
from app.core.domain import LegalNature, PiemonteProvince
from app.repositories import applicants as repo
from app.repositories import visibility
from app.schemas.organisation import (
    MembershipRead,
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    membership_read,
    organisation_read,
)
from app.schemas.page import Page
from app.services import organisations as service

router = APIRouter(prefix="/organisations", tags=["organisations"])

OrganisationId = Annotated[uuid.UUID, Path(description="The organisation's id.")]
Reader = Annotated[Principal, require(Scope.ORGANISATIONS_READ)]
Writer = Annotated[Principal, require(Scope.ORGANISATIONS_WRITE)]


@router.get("", summary="List organisations", responses=problem_responses(401, 403, 422))
async def list_organisations(
    session: SessionDep,
    page: PageDep,
    principal: Reader,
    legal_nature: Annotated[LegalNature | None, Query()] = None,
    province: Annotated[PiemonteProvince | None, Query()] = None,
    tax_code: Annotated[str | None, Query(max_length=20, description="Exact tax code.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the legal name.")] = None,
) -> Page[OrganisationRead]:
    """List the organisations the caller may see, by legal name."""
    rows = await repo.page_organisations(
        session,
        visible=visibility.organisations(principal),
        legal_nature=legal_nature,
        province=province,
        tax_code=tax_code,
        q=q,
        after=page.after(str, uuid.UUID),
        limit=page.limit,
    )
    return page.page(rows, key=lambda o: (o.legal_name, o.id), item=organisation_read)


@router.get(
    "/{organisation_id}",
    summary="Read an organisation",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_organisation(
    organisation_id: OrganisationId, session: SessionDep, principal: Reader, response: Response
) -> OrganisationRead:
    """Return one of the caller's organisations (another party's is 404)."""
    read = organisation_read(await service.get_organisation(session, organisation_id, principal))
    with_etag(response, read)
    return read


@router.post(
    "",
    status_code=201,
    summary="Register an organisation",
    response_model=OrganisationRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_organisation(
    body: OrganisationCreate, session: SessionDep, principal: Writer, idempotency: IdempotencyDep
) -> Response:
    """Register an organisation (tax code and VAT number checked); its registrant acts for it."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    organisation = await service.create_organisation(session, data=body, principal=principal)
    read = organisation_read(organisation)
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/organisations/{read.id}"}
    )


@router.patch(
    "/{organisation_id}",
    summary="Change an organisation",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_organisation(
    organisation_id: OrganisationId,
    body: OrganisationUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
) -> OrganisationRead:
    """Change one of the caller's organisations (If-Match required; the tax code is fixed)."""
    organisation = await service.get_organisation(session, organisation_id, principal)
    require_if_match(request, organisation_read(organisation))
    await service.update_organisation(session, organisation, data=body, principal=principal)
    read = organisation_read(organisation)
    with_etag(response, read)
    return read


@router.get(
    "/{organisation_id}/invitations",
    summary="List an organisation's invitations",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_invitations(
    organisation_id: OrganisationId,
    session: SessionDep,
    page: PageDep,
    principal: Annotated[Principal, require(Scope.PARTNERSHIPS_READ)],
) -> Page[MembershipRead]:
    """The partnerships that invited one of the caller's organisations and wait for its
    answer, oldest first (accept or decline each under /partnerships)."""
    organisation = await service.get_organisation(session, organisation_id, principal)
    rows = await service.list_invitations(
        session, organisation, after=page.after(parse_datetime, uuid.UUID), limit=page.limit
    )
    return page.page(
        rows,
        key=lambda row: (row[0].created_at, row[0].id),
        item=lambda row: membership_read(*row),
    )
