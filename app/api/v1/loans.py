"""The loan part of a mixed allocation (FESR's mixed instrument): schedule and repayments."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.api.deps import OPTIONAL_AUTH, OptionalPrincipal, SessionDep, require
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.loan import LoanRead, RepaymentCreate, RepaymentQuery, RepaymentRead
from app.schemas.page import Page
from app.services import loans as service

router = APIRouter(prefix="/allocations", tags=["loans"])

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
Officer = Annotated[Principal, require(Scope.ALLOCATIONS_WRITE)]
Reader = Annotated[Principal, require(Scope.APPLICATIONS_READ)]
repayment_query = QueryModel(RepaymentQuery)


@router.get(
    "/{allocation_id}/loan",
    summary="Read an allocation's loan",
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_loan(
    allocation_id: AllocationId, session: SessionDep, principal: OptionalPrincipal
) -> LoanRead:
    """Return a mixed allocation's loan and grant parts and the loan's amortisation schedule,
    each instalment paid, due, partly paid or late (public while the allocation is active)."""
    return await service.get_loan(session, principal, allocation_id)


@router.get(
    "/{allocation_id}/loan/repayments",
    summary="List a loan's repayments",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=repayment_query.openapi(),
)
async def list_repayments(
    allocation_id: AllocationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[RepaymentQuery, Depends(repayment_query)],
) -> Page[RepaymentRead]:
    """A mixed allocation's loan repayments, oldest first, each with its interest and
    principal parts and whether it was late: to the region and the beneficiary, who read
    its payments (404 to anyone else, and where the allocation has no loan)."""
    return await service.list_repayments(session, principal, allocation_id, query)


@router.post(
    "/{allocation_id}/loan/repayments",
    status_code=201,
    summary="Record a loan repayment",
    response_model=RepaymentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def record_repayment(
    allocation_id: AllocationId,
    body: RepaymentCreate,
    session: SessionDep,
    principal: Officer,
    idempotency: IdempotencyDep,
) -> Response:
    """Record a repayment of one instalment (interest first, then principal; never beyond
    what the instalment asks: 409 with the figures). The principal repaid returns to the
    measure's revolving fund. Late when paid after the due date."""
    return await idempotency.create(
        principal,
        make=lambda: service.record_repayment(
            session, allocation_id=allocation_id, data=body, principal=principal
        ),
        read=partial(service.read_repayment, session),
        location=lambda read: f"/api/v1/allocations/{allocation_id}/loan",
    )
