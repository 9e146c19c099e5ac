"""After the grant (issue 16): acceptance, expenditure claims, first-level checks, payments."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import OPTIONAL_AUTH, OptionalPrincipal, SessionDep, require
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.page import Page
from app.schemas.payment import (
    AcceptanceRequest,
    ClaimCreate,
    ClaimLineRead,
    ClaimQuery,
    ClaimRead,
    FundingRead,
    LineCheck,
    PaymentCreate,
    PaymentQuery,
    PaymentRead,
    RecoveryRead,
    RecoveryReceiptCreate,
    RecoveryReceiptQuery,
    RecoveryReceiptRead,
)
from app.services import payments as service
from app.services import recoveries

router = APIRouter(tags=["payments"])

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
ClaimId = Annotated[uuid.UUID, Path(description="The expenditure claim's id.")]
LineNumber = Annotated[int, Path(ge=1, le=200, description="The line's number in its claim.")]
PaymentId = Annotated[uuid.UUID, Path(description="The payment's id.")]
RecoveryId = Annotated[uuid.UUID, Path(description="The recovery's id.")]
Beneficiary = Annotated[Principal, require(Scope.APPLICATIONS_WRITE)]
Reader = Annotated[Principal, require(Scope.APPLICATIONS_READ)]
Checker = Annotated[Principal, require(Scope.APPLICATIONS_DECIDE)]
Payer = Annotated[Principal, require(Scope.ALLOCATIONS_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
CREATE_ERRORS = problem_responses(401, 403, 404, 409, 422)
READ_ERRORS = problem_responses(401, 403, 404, 422)
claim_query = QueryModel(ClaimQuery)
payment_query = QueryModel(PaymentQuery)
receipt_query = QueryModel(RecoveryReceiptQuery)


@router.get(
    "/allocations/{allocation_id}/funding",
    summary="Read a grant's funding position",
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_funding(
    allocation_id: AllocationId,
    session: SessionDep,
    principal: OptionalPrincipal,
    response: Response,
) -> FundingRead:
    """Return where a grant stands: its acceptance (and deadline), claimed, verified,
    advanced and paid. Public while the grant is active, as the grant is."""
    return await read_with_etag(response, service.get_funding(session, principal, allocation_id))


@router.post(
    "/allocations/{allocation_id}/funding/accept",
    summary="Accept a grant",
    responses=CHANGE_ERRORS,
)
async def accept_grant(
    allocation_id: AllocationId,
    body: AcceptanceRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Beneficiary,
) -> FundingRead:
    """Accept the grant for the beneficiary organisation (atto di adesione), dated, by the
    deadline its measure sets (If-Match of the funding position). Until accepted, nothing
    is claimed or paid; not accepted in time, the grant lapses."""
    return await change(
        request,
        response,
        load=service.load_allocation(session, allocation_id, principal),
        read=partial(service.read_funding, session),
        apply=lambda allocation: service.accept_grant(
            session, allocation, data=body, principal=principal
        ),
    )


@router.post(
    "/allocations/{allocation_id}/claims",
    status_code=201,
    summary="File an expenditure claim",
    response_model=ClaimRead,
    responses=CREATE_ERRORS,
)
async def file_claim(
    allocation_id: AllocationId,
    body: ClaimCreate,
    session: SessionDep,
    principal: Beneficiary,
    idempotency: IdempotencyDep,
) -> Response:
    """File a draft claim of expenditure for a period, its lines each with a cost category
    of the measure, an amount, the supporting document and a date within the claim's period
    and the project's (from the grant to the balance)."""
    return await idempotency.create(
        principal,
        make=lambda: service.file_claim_on(session, allocation_id, data=body, principal=principal),
        read=partial(service.read_claim, session),
        location=lambda read: f"/api/v1/claims/{read.id}",
    )


@router.get(
    "/allocations/{allocation_id}/claims",
    summary="List a grant's expenditure claims",
    responses=READ_ERRORS,
    openapi_extra=claim_query.openapi(),
)
async def list_claims(
    allocation_id: AllocationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[ClaimQuery, Depends(claim_query)],
) -> Page[ClaimRead]:
    """A grant's claims, oldest first, each with its lines and their checks: to the region
    and the beneficiary (404 to anyone else)."""
    return await service.list_claims(session, principal, allocation_id, query)


@router.get("/claims/{claim_id}", summary="Read an expenditure claim", responses=READ_ERRORS)
async def get_claim(
    claim_id: ClaimId, session: SessionDep, principal: Reader, response: Response
) -> ClaimRead:
    """Return a claim with its lines and their checks: to the region and the beneficiary."""
    return await read_with_etag(response, service.get_claim(session, principal, claim_id))


@router.post("/claims/{claim_id}/submit", summary="Submit a claim", responses=CHANGE_ERRORS)
async def submit_claim(
    claim_id: ClaimId,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Beneficiary,
) -> ClaimRead:
    """Submit a draft claim (If-Match required): it never changes again, and its amount
    counts as claimed on the grant."""
    return await change(
        request,
        response,
        load=service.load_claim(session, claim_id, principal),
        read=partial(service.read_claim, session),
        apply=lambda claim: service.submit_claim(session, claim, principal=principal),
    )


@router.get(
    "/claims/{claim_id}/lines/{line_number}",
    summary="Read a line of a claim",
    responses=READ_ERRORS,
)
async def get_claim_line(
    claim_id: ClaimId,
    line_number: LineNumber,
    session: SessionDep,
    principal: Reader,
    response: Response,
) -> ClaimLineRead:
    """Return one line of a claim and its check."""
    return await read_with_etag(
        response, service.get_line(session, principal, claim_id, line_number)
    )


@router.post(
    "/claims/{claim_id}/lines/{line_number}/check",
    summary="Check a line of a claim",
    responses=CHANGE_ERRORS,
)
async def check_claim_line(
    claim_id: ClaimId,
    line_number: LineNumber,
    body: LineCheck,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Checker,
) -> ClaimLineRead:
    """First-level check of one line of a submitted claim (If-Match required): accepted,
    cut by an amount with a reason, or refused with a reason; the verified amount follows.
    An officer who authorised a payment of the grant on verified expenditure is refused
    (403 segregation_of_duties)."""
    return await change(
        request,
        response,
        load=service.load_line(session, claim_id, line_number, principal),
        read=partial(service.read_line, session),
        apply=lambda line: service.check_line(session, line, data=body, principal=principal),
    )


@router.post(
    "/allocations/{allocation_id}/payments",
    status_code=201,
    summary="Record a payment",
    response_model=PaymentRead,
    responses=CREATE_ERRORS,
)
async def make_payment(
    allocation_id: AllocationId,
    body: PaymentCreate,
    session: SessionDep,
    principal: Payer,
    idempotency: IdempotencyDep,
) -> Response:
    """Record a payment of an accepted grant: an advance within the measure's share (after
    the guarantee where the call asks for one), an interim payment within the verified
    expenditure plus the advances (the retention withheld), or the balance within the
    verified expenditure, which closes the project; never beyond the grant (409 with the
    rule and the figures). An officer who checked a line of the grant's claims is refused
    an interim or balance payment (403 segregation_of_duties)."""
    return await idempotency.create(
        principal,
        make=lambda: service.pay_on(session, allocation_id, data=body, principal=principal),
        read=partial(service.read_payment, session),
        location=lambda read: f"/api/v1/payments/{read.id}",
    )


@router.get(
    "/allocations/{allocation_id}/payments",
    summary="List a grant's payments",
    responses=READ_ERRORS,
    openapi_extra=payment_query.openapi(),
)
async def list_payments(
    allocation_id: AllocationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[PaymentQuery, Depends(payment_query)],
) -> Page[PaymentRead]:
    """A grant's payments, oldest first: to the region and the beneficiary (404 to anyone
    else)."""
    return await service.list_payments(session, principal, allocation_id, query)


@router.get("/payments/{payment_id}", summary="Read a payment", responses=READ_ERRORS)
async def get_payment(
    payment_id: PaymentId, session: SessionDep, principal: Reader, response: Response
) -> PaymentRead:
    """Return a payment: to the region and the beneficiary."""
    return await read_with_etag(response, service.get_payment(session, principal, payment_id))


@router.get("/recoveries/{recovery_id}", summary="Read a recovery", responses=READ_ERRORS)
async def get_recovery(
    recovery_id: RecoveryId, session: SessionDep, principal: Reader, response: Response
) -> RecoveryRead:
    """Return what a revocation after payment asks back, by when, and what came back: to
    the region and the beneficiary."""
    return await read_with_etag(response, recoveries.get_recovery(session, principal, recovery_id))


@router.get(
    "/recoveries/{recovery_id}/receipts",
    summary="List the amounts recovered",
    responses=READ_ERRORS,
    openapi_extra=receipt_query.openapi(),
)
async def list_receipts(
    recovery_id: RecoveryId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[RecoveryReceiptQuery, Depends(receipt_query)],
) -> Page[RecoveryReceiptRead]:
    """The amounts recovered on a recovery, oldest first: to the region and the beneficiary
    (404 to anyone else)."""
    return await recoveries.list_receipts(session, principal, recovery_id, query)


@router.post(
    "/recoveries/{recovery_id}/receipts",
    status_code=201,
    summary="Record an amount recovered",
    response_model=RecoveryRead,
    responses=CREATE_ERRORS,
)
async def record_recovered(
    recovery_id: RecoveryId,
    body: RecoveryReceiptCreate,
    session: SessionDep,
    principal: Payer,
    idempotency: IdempotencyDep,
) -> Response:
    """Record an amount the beneficiary paid back on a recovery, never beyond what is still
    due (409 recovered_within_due with the figures); it returns to the call's, measure's
    and programme's available budget. Answers the recovery as it now stands."""
    return await idempotency.create(
        principal,
        make=lambda: recoveries.record_recovered(
            session, recovery_id, data=body, principal=principal
        ),
        read=partial(recoveries.read_recovery_async, session),
        location=lambda read: f"/api/v1/recoveries/{read.id}",
    )
