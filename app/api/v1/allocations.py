"""Allocations ("concessioni"): grants within every cap; active ones are public."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import OPTIONAL_AUTH, OptionalPrincipal, SessionDep, require
from app.api.dry_run import DryRunFlag, dry_run_response
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import language_of, problem_responses
from app.api.query import QueryModel
from app.api.thin import ThinReadSpec
from app.core.auth import ANONYMOUS, Principal, Scope
from app.schemas.application import (
    AllocationCreate,
    AllocationQuery,
    AllocationRead,
    CupRecord,
    ReductionRequest,
    RevocationRequest,
    RnaCorRecord,
)
from app.schemas.page import Page
from app.services import allocations as service
from app.services import grant_act, recoveries

allocation_query = QueryModel(AllocationQuery)

router = APIRouter(prefix="/allocations", tags=["allocations"])

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
Granter = Annotated[Principal, require(Scope.ALLOCATIONS_WRITE)]


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
    return await allocation_page(session, principal, query)


async def allocation_page(
    session: AsyncSession, principal: Principal, query: AllocationQuery
) -> Response:
    body = await service.list_allocations(session, principal, query)
    return Response(body, media_type="application/json")


async def public_allocation_page(session: AsyncSession, query: AllocationQuery) -> Response:
    return await allocation_page(session, ANONYMOUS, query)


# Anonymous pages skip FastAPI's per-request work (app.api.thin): the busiest public list.
THIN_READ = ThinReadSpec(list_allocations, public_allocation_page, query=allocation_query)


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
    return await read_with_etag(response, service.get_allocation(session, principal, allocation_id))


@router.post(
    "",
    status_code=201,
    summary="Grant an allocation",
    response_model=AllocationRead,
    responses={**dry_run_response(), **problem_responses(401, 403, 404, 409, 422)},
)
async def create_allocation(
    body: AllocationCreate,
    request: Request,
    session: SessionDep,
    principal: Granter,
    idempotency: IdempotencyDep,
    dry_run: DryRunFlag = False,
) -> Response:
    """Grant funding to an approved application within the call, measure and programme caps
    (409 with the rule and the figures otherwise). With dry_run=true: 200 with every rule
    the grant would meet and the caps' figures (budget, allocated, available, whether the
    amount fits), granting nothing; an Idempotency-Key is neither replayed nor stored."""
    if dry_run:
        report = await service.dry_run_grant(session, data=body, principal=principal)
        localised = report.in_language(language_of(request.scope))
        return Response(localised.model_dump_json(), media_type="application/json")
    return await idempotency.create(
        principal,
        make=lambda: service.grant_allocation(session, data=body, principal=principal),
        read=partial(service.read_allocation, session),
        location=lambda read: f"/api/v1/allocations/{read.id}",
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
    """Revoke an active allocation with a reason (If-Match required); its project slot is
    freed, and its amount as far as it was never paid: what was paid becomes a recovery
    (GET /allocations/{id}/funding lists them), returned to the caps as it is recovered."""
    return await change(
        request,
        response,
        load=service.load_allocation(session, allocation_id, principal),
        read=partial(service.read_allocation, session),
        apply=lambda allocation: service.revoke_allocation(
            session, allocation, reason=body.reason, principal=principal
        ),
    )


@router.post(
    "/{allocation_id}/reduce",
    summary="Reduce an allocation (partial revocation)",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def reduce_allocation(
    allocation_id: AllocationId,
    body: ReductionRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Granter,
) -> AllocationRead:
    """Revoke part of an active allocation (If-Match required): its amount goes down to
    ``amount`` (more than 0, less than it is; 422 reduction_within_grant). The part never
    paid returns to the call, measure and programme at once; what was paid beyond the new
    amount becomes a recovery (GET /allocations/{id}/funding lists them), and returns to
    them as it is recovered."""
    return await change(
        request,
        response,
        load=service.load_allocation(session, allocation_id, principal),
        read=partial(service.read_allocation, session),
        apply=lambda allocation: recoveries.reduce_allocation(
            session, allocation, amount=body.amount, reason=body.reason, principal=principal
        ),
    )


@router.post(
    "/{allocation_id}/cup",
    summary="Record an allocation's CUP",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def record_cup(
    allocation_id: AllocationId,
    body: CupRecord,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Granter,
) -> AllocationRead:
    """Record or correct the project's CUP on an active allocation (If-Match required):
    published with the grant; 409 cup_taken when another active allocation carries it."""
    return await change(
        request,
        response,
        load=service.load_allocation(session, allocation_id, principal),
        read=partial(service.read_allocation, session),
        apply=partial(grant_act.record_cup, session, data=body, principal=principal),
    )


@router.post(
    "/{allocation_id}/rna-cor",
    summary="Record an allocation's RNA concession code",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def record_rna_cor(
    allocation_id: AllocationId,
    body: RnaCorRecord,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Granter,
) -> AllocationRead:
    """Record or correct the COR code the national state-aid register gave the concession
    (If-Match required); 409 rna_cor_taken when another allocation carries it."""
    return await change(
        request,
        response,
        load=service.load_allocation(session, allocation_id, principal),
        read=partial(service.read_allocation, session),
        apply=partial(grant_act.record_rna_cor, session, data=body, principal=principal),
    )
