"""Allocations ("concessioni"): grants within every cap; active ones are public."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import OPTIONAL_AUTH, OptionalPrincipal, SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageParams, parse_datetime
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.core.money import to_cents
from app.repositories import applications as repo
from app.schemas.application import (
    AllocationCreate,
    AllocationQuery,
    AllocationRead,
    RevocationRequest,
    allocation_item,
    allocation_read,
)
from app.schemas.page import Page
from app.services import allocations as service

allocation_query = QueryModel(AllocationQuery)

router = APIRouter(prefix="/allocations", tags=["allocations"])

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
Granter = Annotated[Principal, require(Scope.ALLOCATIONS_WRITE)]


def _sort_key(row: Sequence[Any]) -> tuple[object, object]:
    return row[8], row[0]  # granted_at, id: ALLOCATION_LIST_COLUMNS


def _cents(amount: Decimal | None) -> int | None:
    return None if amount is None else to_cents(amount)


@router.get(
    "",
    summary="List allocations",
    response_model=Page[AllocationRead],
    responses=problem_responses(401, 422),
    openapi_extra=allocation_query.openapi(**OPTIONAL_AUTH),
)
async def list_allocations(
    session: SessionDep,
    principal: OptionalPrincipal,
    query: Annotated[AllocationQuery, Depends(allocation_query)],
) -> Response:
    """List allocations by grant time. Active ones are public; revoked ones only for the
    region and the applicant concerned."""
    filters: dict[str, object] = {
        "programme_id": query.programme_id,
        "measure_id": query.measure_id,
        "call_id": query.call_id,
        "application_id": query.application_id,
        "district_id": query.district_id,
        "organisation_id": query.organisation_id,
        "fund": query.fund,
        "status": query.status,
        "min_amount_cents": _cents(query.min_amount),
        "max_amount_cents": _cents(query.max_amount),
    }
    page = PageParams(query.limit, query.cursor)
    rows = await repo.page_allocations(
        session,
        principal=principal,
        filters=filters,
        after=page.after(parse_datetime, uuid.UUID),
        limit=page.limit,
    )
    total = None
    if query.include_total:
        total = await repo.count_allocations(session, principal=principal, filters=filters)
    body = page.page_json(rows, key=_sort_key, item=allocation_item, total=total)
    return Response(body, media_type="application/json")


@router.get(
    "/{allocation_id}",
    summary="Read an allocation",
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_allocation(
    allocation_id: AllocationId,
    session: SessionDep,
    principal: OptionalPrincipal,
    response: Response,
) -> AllocationRead:
    """Return an allocation (public while active)."""
    read = allocation_read(await service.get_allocation(session, allocation_id, principal))
    with_etag(response, read)
    return read


@router.post(
    "",
    status_code=201,
    summary="Grant an allocation",
    response_model=AllocationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_allocation(
    body: AllocationCreate, session: SessionDep, principal: Granter, idempotency: IdempotencyDep
) -> Response:
    """Grant funding to an approved application within the call, measure and programme caps
    (409 with the rule and the figures otherwise)."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    read = allocation_read(await service.grant_allocation(session, data=body, principal=principal))
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/allocations/{read.id}"}
    )


@router.post(
    "/{allocation_id}/revoke",
    summary="Revoke an allocation",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def revoke_allocation(
    allocation_id: AllocationId,
    body: RevocationRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Granter,
) -> AllocationRead:
    """Revoke an active allocation with a reason (If-Match required); its amount and its
    project slot are freed."""
    allocation = await service.get_allocation(session, allocation_id, principal)
    require_if_match(request, allocation_read(allocation))
    await service.revoke_allocation(session, allocation, reason=body.reason, principal=principal)
    read = allocation_read(allocation)
    with_etag(response, read)
    return read
