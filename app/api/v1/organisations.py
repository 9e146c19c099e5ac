"""Applicant organisations: each sees and changes only its own; the region sees all."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import change, json_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.organisation import (
    InvitationQuery,
    MembershipRead,
    OrganisationCreate,
    OrganisationQuery,
    OrganisationRead,
    OrganisationUpdate,
)
from app.schemas.page import Page
from app.services import organisations as service

router = APIRouter(prefix="/organisations", tags=["organisations"])

OrganisationId = Annotated[uuid.UUID, Path(description="The organisation's id.")]
Reader = Annotated[Principal, require(Scope.ORGANISATIONS_READ)]
Writer = Annotated[Principal, require(Scope.ORGANISATIONS_WRITE)]
organisation_query = QueryModel(OrganisationQuery)
invitation_query = QueryModel(InvitationQuery)


@router.get(
    "",
    summary="List organisations",
    responses=problem_responses(401, 403, 422),
    openapi_extra=organisation_query.openapi(),
)
async def list_organisations(
    session: SessionDep,
    principal: Reader,
    query: Annotated[OrganisationQuery, Depends(organisation_query)],
) -> Page[OrganisationRead]:
    """List the organisations the caller may see, by legal name."""
    return await service.list_organisations(session, principal, query)


@router.get(
    "/{organisation_id}",
    summary="Read an organisation",
    response_model=OrganisationRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_organisation(
    organisation_id: OrganisationId, session: SessionDep, principal: Reader
) -> Response:
    """Return one of the caller's organisations (another party's is 404)."""
    return json_with_etag(await service.get_organisation(session, principal, organisation_id))


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
    return await idempotency.create(
        principal,
        make=lambda: service.create_organisation(session, data=body, principal=principal),
        read=partial(service.read_organisation, session),
        location=lambda read: f"/api/v1/organisations/{read.id}",
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
    return await change(
        request,
        response,
        load=service.load_organisation(session, organisation_id, principal),
        read=partial(service.read_organisation, session),
        apply=partial(service.update_organisation, session, data=body, principal=principal),
    )


@router.get(
    "/{organisation_id}/invitations",
    summary="List an organisation's invitations",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=invitation_query.openapi(),
)
async def list_invitations(
    organisation_id: OrganisationId,
    session: SessionDep,
    principal: Annotated[Principal, require(Scope.PARTNERSHIPS_READ)],
    query: Annotated[InvitationQuery, Depends(invitation_query)],
) -> Page[MembershipRead]:
    """The partnerships that invited one of the caller's organisations and wait for its
    answer, oldest first (accept or decline each under /partnerships)."""
    return await service.list_invitations(session, principal, organisation_id, query)
