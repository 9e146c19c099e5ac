"""Partnerships (ATS): formed by a lead organisation with its partners."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import change, read_with_etag, remove
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.organisation import (
    MemberInvite,
    MembershipDecision,
    MembershipRead,
    PartnershipCreate,
    PartnershipQuery,
    PartnershipRead,
    PartnershipUpdate,
)
from app.schemas.page import Page
from app.schemas.problem import Problem
from app.services import organisations as service

router = APIRouter(prefix="/partnerships", tags=["partnerships"])

PartnershipId = Annotated[uuid.UUID, Path(description="The partnership's id.")]
Reader = Annotated[Principal, require(Scope.PARTNERSHIPS_READ)]
Writer = Annotated[Principal, require(Scope.PARTNERSHIPS_WRITE)]
Consenter = Annotated[Principal, require(Scope.PARTNERSHIPS_CONSENT)]
MemberId = Annotated[uuid.UUID, Path(description="The member (or invited) organisation's id.")]
# Optional: the organisation's own users need not say why; the region must (reason).
Decision = Annotated[MembershipDecision | None, Body()]
DECISION_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
partnership_query = QueryModel(PartnershipQuery)


@router.get(
    "",
    summary="List partnerships",
    responses=problem_responses(401, 403, 422),
    openapi_extra=partnership_query.openapi(),
)
async def list_partnerships(
    session: SessionDep,
    principal: Reader,
    query: Annotated[PartnershipQuery, Depends(partnership_query)],
) -> Page[PartnershipRead]:
    """List the partnerships the caller may see, oldest first."""
    return await service.list_partnerships(session, principal, query)


@router.get(
    "/{partnership_id}",
    summary="Read a partnership",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_partnership(
    partnership_id: PartnershipId, session: SessionDep, principal: Reader, response: Response
) -> PartnershipRead:
    """Return a partnership and its members (only to its members and the region)."""
    return await read_with_etag(
        response, service.get_partnership(session, principal, partnership_id)
    )


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
    return await idempotency.create(
        principal,
        make=lambda: service.create_partnership(session, data=body, principal=principal),
        read=partial(service.read_partnership, session),
        location=lambda read: f"/api/v1/partnerships/{read.id}",
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
    return await change(
        request,
        response,
        load=service.load_partnership(session, partnership_id, principal),
        read=partial(service.read_partnership, session),
        apply=partial(service.update_partnership, session, data=body, principal=principal),
    )


@router.post(
    "/{partnership_id}/members",
    status_code=201,
    summary="Invite an organisation",
    response_model=MembershipRead,
    # The invitation bumps the partnership's version: a concurrent change of the partnership
    # wins (its version column), though no If-Match is asked for here.
    responses={
        **problem_responses(401, 403, 404, 409, 422),
        412: {"model": Problem, "description": "The partnership changed meanwhile; retry."},
    },
)
async def invite_member(
    partnership_id: PartnershipId,
    body: MemberInvite,
    session: SessionDep,
    principal: Writer,
    idempotency: IdempotencyDep,
) -> Response:
    """Invite an organisation by its tax code (the lead's users): it is a member only once
    one of its users accepts; one of the caller's own organisations joins at once."""
    return await idempotency.create(
        principal,
        make=lambda: service.invite_member(session, partnership_id, data=body, principal=principal),
        read=partial(service.read_membership, session),
        location=lambda read: (
            f"/api/v1/partnerships/{read.partnership_id}/members/{read.organisation_id}"
        ),
    )


@router.get(
    "/{partnership_id}/members/{organisation_id}",
    summary="Read a membership or invitation",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_membership(
    partnership_id: PartnershipId,
    organisation_id: MemberId,
    session: SessionDep,
    principal: Reader,
    response: Response,
) -> MembershipRead:
    """Return a membership: the invited organisation sees the partnership's name and who
    invited it, nothing more, until it accepts."""
    return await read_with_etag(
        response, service.get_membership(session, principal, partnership_id, organisation_id)
    )


@router.post(
    "/{partnership_id}/members/{organisation_id}/accept",
    summary="Accept an invitation",
    responses=DECISION_ERRORS,
)
async def accept_membership(
    partnership_id: PartnershipId,
    organisation_id: MemberId,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Consenter,
    body: Decision = None,
) -> MembershipRead:
    """Accept a pending invitation (If-Match required): by the organisation's users, or by
    the region with a reason (422 reason_required without)."""
    return await change(
        request,
        response,
        load=service.load_membership(session, partnership_id, organisation_id, principal),
        read=partial(service.read_membership, session),
        apply=partial(service.accept_membership, session, data=body, principal=principal),
    )


@router.post(
    "/{partnership_id}/members/{organisation_id}/decline",
    status_code=204,
    summary="Decline an invitation",
    responses=DECISION_ERRORS,
)
async def decline_membership(
    partnership_id: PartnershipId,
    organisation_id: MemberId,
    request: Request,
    session: SessionDep,
    principal: Consenter,
    body: Decision = None,
) -> Response:
    """Decline a pending invitation (If-Match required): it is removed, on the record. By
    the organisation's users, or by the region with a reason."""
    return await remove(
        request,
        load=service.load_membership(session, partnership_id, organisation_id, principal),
        read=partial(service.read_membership, session),
        apply=partial(service.decline_membership, session, data=body, principal=principal),
    )
