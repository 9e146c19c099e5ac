"""Partnerships (ATS): formed by a lead organisation with its partners."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep, parse_datetime
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.repositories import applicants as repo
from app.repositories import visibility
from app.schemas.organisation import (
    MemberInvite,
    MembershipDecision,
    MembershipRead,
    PartnershipCreate,
    PartnershipRead,
    PartnershipUpdate,
    membership_read,
    partnership_read,
)
from app.schemas.page import Page
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


@router.post(
    "/{partnership_id}/members",
    status_code=201,
    summary="Invite an organisation",
    response_model=MembershipRead,
    responses=problem_responses(401, 403, 404, 409, 422),
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
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    partnership, members = await service.get_partnership(session, partnership_id, principal)
    lead, member = await service.invite_member(
        session, partnership, members, data=body, principal=principal
    )
    read = membership_read(partnership, lead, member)
    return await idempotency.respond(
        principal,
        read,
        headers={
            "Location": f"/api/v1/partnerships/{partnership.id}/members/{member.organisation_id}"
        },
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
    read = membership_read(
        *await service.get_membership(session, partnership_id, organisation_id, principal)
    )
    with_etag(response, read)
    return read


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
    partnership, lead, member = await service.get_membership(
        session, partnership_id, organisation_id, principal
    )
    require_if_match(request, membership_read(partnership, lead, member))
    await service.accept_membership(
        session, partnership, member, data=body or MembershipDecision(), principal=principal
    )
    read = membership_read(partnership, lead, member)
    with_etag(response, read)
    return read


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
    partnership, lead, member = await service.get_membership(
        session, partnership_id, organisation_id, principal
    )
    require_if_match(request, membership_read(partnership, lead, member))
    await service.decline_membership(
        session, partnership, member, data=body or MembershipDecision(), principal=principal
    )
    return Response(status_code=204)
