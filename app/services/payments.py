"""After the grant (issue 16): acceptance and lapse, expenditure claims, first-level checks
and payments.

The rules, in the order a grant meets them:
- The beneficiary accepts the grant (atto di adesione) by the deadline its measure's terms
  set (days after the grant); not accepted by then, it lapses (``lapse_overdue``, run by
  ``wecare lapse``) and its money returns to the call, measure and programme as a
  revocation's does. Acceptance and lapse are one conditional UPDATE of the same row each,
  so a late acceptance and the lapse never both happen.
- The project's period runs from the day of the grant to the day its balance is paid
  (until then, to today): a claim's period and its lines' dates lie within it.
- Nothing is paid, claimed or checked before acceptance.
- An advance: at most the measure's share of the grant, and after a guarantee where the
  call asks for one. An interim payment: paid stays within the verified expenditure plus
  the advances, and the retention (the measure's share of the grant) stays unpaid. The
  balance: paid in all stays within the verified expenditure; it closes the project.
  Nothing paid ever exceeds the grant.
- Segregation of duties: an officer who checked a line of the grant's claims authorises
  none of its payments on verified expenditure (interim, balance), and one who authorised
  such a payment checks none of its lines. Both are asked under the allocation's row lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import partial

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal
from app.core.domain import (
    AllocationStatus,
    ClaimStatus,
    DocumentOwner,
    LineOutcome,
    PaymentKind,
)
from app.core.errors import (
    AcceptanceDeadlinePassed,
    AdvanceShareExceeded,
    AlreadyAccepted,
    ClaimNotDraft,
    ClaimNotSubmitted,
    Conflict,
    CutNotBelowAmount,
    DateOutOfRange,
    Forbidden,
    FundingCompleted,
    GuaranteeRequired,
    IllegalTransition,
    LineAlreadyChecked,
    LoanRepaidInPart,
    NotAccepted,
    NotFound,
    OutsideProjectPeriod,
    PaidBeyondGrant,
    PaidBeyondVerified,
    PaymentTermsNotGiven,
    RetentionWithheld,
    SegregationOfDuties,
    UnknownCostCategory,
)
from app.core.i18n import msg
from app.models.allocation import Allocation
from app.models.call import Call
from app.models.payment import ClaimLine, ExpenditureClaim, Payment, PaymentTerms
from app.repositories import budgets, visibility
from app.repositories import payments as repo
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
)
from app.services import audit, document_rules, first_come, grant_act, loans
from app.services.paging import SortKey

CENT = Decimal("0.01")
LAPSE_BATCH = 500
CLAIM_ORDER = SortKey[ExpenditureClaim](ExpenditureClaim.created_at, ExpenditureClaim.id)
PAYMENT_ORDER = SortKey[Payment](Payment.created_at, Payment.id)


def _share(amount: Decimal, pct: int) -> Decimal:
    """``pct`` per cent of ``amount``, rounded down to the cent (never more than the share)."""
    return (amount * pct / 100).quantize(CENT, rounding=ROUND_DOWN)


# Reads.


async def _load(
    session: AsyncSession, allocation_id: uuid.UUID, visible: ColumnElement[bool]
) -> Allocation:
    allocation = await session.scalar(repo.select_allocation(allocation_id, visible))
    if allocation is None:
        raise NotFound(msg("No allocation {allocation_id}.", allocation_id=allocation_id))
    return allocation


async def load_allocation(
    session: AsyncSession, allocation_id: uuid.UUID, principal: Principal
) -> Allocation:
    """A grant as its readers see it (active ones are public)."""
    return await _load(session, allocation_id, visibility.allocations(principal))


async def load_funded(
    session: AsyncSession, allocation_id: uuid.UUID, principal: Principal
) -> Allocation:
    """A grant whose funding records (claims, payments, repayments) the caller may read."""
    return await _load(session, allocation_id, visibility.funding_records(principal))


async def _terms(session: AsyncSession, measure_id: uuid.UUID) -> PaymentTerms | None:
    return await repo.terms_of(session, measure_id)


def _deadline(allocation: Allocation, terms: PaymentTerms | None) -> datetime | None:
    if terms is None or terms.acceptance_days is None:
        return None
    return allocation.granted_at + timedelta(days=terms.acceptance_days)


def _advance_cap(allocation: Allocation, terms: PaymentTerms | None) -> Decimal | None:
    if terms is None or terms.advance_share_pct is None:
        return None
    return _share(allocation.amount, terms.advance_share_pct)


async def read_funding(session: AsyncSession, allocation: Allocation) -> FundingRead:
    terms = await _terms(session, allocation.measure_id)
    deadline = _deadline(allocation, terms)
    return FundingRead(
        allocation_id=allocation.id,
        status=allocation.status,
        amount=allocation.amount,
        acceptance_deadline=clock.day_of(deadline) if deadline else None,
        accepted_on=allocation.accepted_on,
        accepted_at=allocation.accepted_at,
        accepted_by=allocation.accepted_by,
        guarantee_reference=allocation.guarantee_reference,
        claimed=allocation.claimed,
        verified=allocation.verified,
        advanced=allocation.advanced,
        paid=allocation.paid,
        advance_cap=_advance_cap(allocation, terms),
        completed_at=allocation.completed_at,
        due=allocation.due,
        recovered=allocation.recovered,
        recoveries=[r.id for r in await repo.recoveries_of(session, allocation.id)],
    )


async def get_funding(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID
) -> FundingRead:
    return await read_funding(session, await load_allocation(session, allocation_id, principal))


async def _as_beneficiary(
    session: AsyncSession, allocation: Allocation, principal: Principal, action: str
) -> None:
    """``action`` completes "may ...": pass it marked (``msg("accept the grant")``)."""
    organisations = await repo.beneficiary_organisations(session, allocation.application_id)
    if not any(principal.acts_for(org) for org in organisations):
        raise Forbidden(
            msg("Only a user of the beneficiary organisation may {action}.", action=action)
        )


async def require_beneficiary(
    session: AsyncSession, principal: Principal, allocation: Allocation
) -> None:
    """403 unless the caller acts for the grant's beneficiary (documents of its claims)."""
    await _as_beneficiary(session, allocation, principal, msg("attach documents to its claims"))


def _must_be_active(allocation: Allocation, attempted: str) -> None:
    if allocation.status != AllocationStatus.ACTIVE:
        raise IllegalTransition(
            msg("The grant is not active."), current_status=allocation.status, attempted=attempted
        )


# Acceptance and lapse.


async def accept_grant(
    session: AsyncSession, allocation: Allocation, *, data: AcceptanceRequest, principal: Principal
) -> Allocation:
    """The beneficiary accepts the grant on ``data.accepted_on``, by the deadline."""
    await _as_beneficiary(session, allocation, principal, msg("accept the grant"))
    _must_be_active(allocation, "accept")
    if allocation.accepted_at is not None:
        raise AlreadyAccepted(
            msg("The grant is already accepted."), accepted_on=allocation.accepted_on
        )
    now = datetime.now(UTC)
    deadline = _deadline(allocation, await _terms(session, allocation.measure_id))
    if deadline is not None and now > deadline:
        raise AcceptanceDeadlinePassed(
            msg("The grant had to be accepted by {deadline}.", deadline=clock.day_of(deadline)),
            deadline=clock.day_of(deadline),
            granted_at=allocation.granted_at,
        )
    granted_on = clock.day_of(allocation.granted_at)
    if not granted_on <= data.accepted_on <= clock.day_of(now):
        raise DateOutOfRange(
            msg("The acceptance is dated between the grant and today."),
            accepted_on=data.accepted_on,
            granted_on=granted_on,
            today=clock.day_of(now),
        )
    before = audit.snapshot(allocation)
    accepted = await repo.accept(
        session,
        allocation.id,
        on=data.accepted_on,
        at=now,
        by=principal.actor,
        guarantee_reference=data.guarantee_reference,
    )
    await session.refresh(allocation)
    if not accepted:  # lapsed or accepted meanwhile: the row says which
        _must_be_active(allocation, "accept")
        raise AlreadyAccepted(
            msg("The grant is already accepted."), accepted_on=allocation.accepted_on
        )
    await audit.record(
        session,
        action="allocation.accept",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=audit.snapshot(allocation),
    )
    return allocation


async def lapse_overdue(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Every active grant not accepted by its deadline lapses: revoked with the reason, its
    amount and project slot returned to the call, measure and programme, one audit event
    each. Run again, it lapses nothing new; a grant accepted meanwhile is left alone (the
    conditional UPDATE decides). How many lapsed."""
    now = now or datetime.now(UTC)
    lapsed = 0
    for terms in await repo.terms_with_deadline(session):
        assert terms.acceptance_days is not None
        cutoff = now - timedelta(days=terms.acceptance_days)
        for allocation_id in await repo.lapse_candidates(
            session, measure_id=terms.measure_id, granted_before=cutoff, limit=LAPSE_BATCH
        ):
            if await _lapse_one(session, allocation_id, terms, now):
                lapsed += 1
    return lapsed


async def _lapse_one(
    session: AsyncSession, allocation_id: uuid.UUID, terms: PaymentTerms, now: datetime
) -> bool:
    """One grant's lapse in a savepoint: a mixed grant's loan leaves the fund's ``lent`` as
    on a revocation, and a loan with repayments already recorded is left for a recovery
    (nothing of this grant changes; the others still lapse)."""
    try:
        async with session.begin_nested():
            return await _lapse(session, allocation_id, terms, now)
    except LoanRepaidInPart:
        return False


async def _lapse(
    session: AsyncSession, allocation_id: uuid.UUID, terms: PaymentTerms, now: datetime
) -> bool:
    allocation = await session.get(Allocation, allocation_id)
    assert allocation is not None
    before = audit.snapshot(allocation)
    deadline = allocation.granted_at + timedelta(days=terms.acceptance_days or 0)
    reason = f"Lapsed: not accepted by {clock.day_of(deadline)} ({terms.acceptance_days} days)."
    if not await repo.lapse(session, allocation.id, at=now, by="system:lapse", reason=reason):
        await session.refresh(allocation)
        return False
    await session.refresh(allocation)
    await loans.before_revocation(session, allocation)  # mixed: the loan leaves ``lent``
    await budgets.release(
        session,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        amount=allocation.amount,
    )
    call = await session.get(Call, allocation.call_id)
    assert call is not None
    await session.refresh(call)
    await audit.record(
        session,
        action="allocation.lapse",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=audit.snapshot(allocation),
        reason=reason,
    )
    await first_come.after_revocation(session, call)
    return True


# Expenditure claims.


def _project_period(allocation: Allocation) -> tuple[date, date]:
    """From the day of the grant to the day the balance was paid, or today."""
    end = clock.day_of(allocation.completed_at) if allocation.completed_at else clock.today()
    return clock.day_of(allocation.granted_at), end


def _open_for_funding(allocation: Allocation, attempted: str) -> None:
    _must_be_active(allocation, attempted)
    if allocation.accepted_at is None:
        raise NotAccepted(msg("The beneficiary has not accepted the grant."), attempted=attempted)
    if allocation.completed_at is not None:
        raise FundingCompleted(
            msg("The balance is paid: the project is closed."), completed_at=allocation.completed_at
        )


async def file_claim(
    session: AsyncSession, allocation: Allocation, *, data: ClaimCreate, principal: Principal
) -> ExpenditureClaim:
    """A draft claim with its lines, by the beneficiary of an accepted grant."""
    await _as_beneficiary(session, allocation, principal, msg("file an expenditure claim"))
    _open_for_funding(allocation, "claim")
    terms = await _terms(session, allocation.measure_id)
    categories = list(terms.cost_categories) if terms else []
    if not categories:
        raise PaymentTermsNotGiven(
            msg("The measure's cost categories are not set: no claim can be filed yet."),
            term="cost_categories",
        )
    start, end = _project_period(allocation)
    if data.period_start < start or data.period_end > end:
        raise OutsideProjectPeriod(
            msg("The claim's period lies outside the project's."),
            project_start=start,
            project_end=end,
            period_start=data.period_start,
            period_end=data.period_end,
        )
    for number, line in enumerate(data.lines, start=1):
        if line.cost_category not in categories:
            raise UnknownCostCategory(
                msg(
                    "Line {number}: {cost_category!r} is not a cost category of the measure.",
                    number=number,
                    cost_category=line.cost_category,
                ),
                line=number,
                cost_categories=categories,
            )
        if not data.period_start <= line.spent_on <= data.period_end:
            raise OutsideProjectPeriod(
                msg(
                    "Line {number}: {spent_on} is outside the claim's period.",
                    number=number,
                    spent_on=line.spent_on,
                ),
                line=number,
                period_start=data.period_start,
                period_end=data.period_end,
            )
    claim = ExpenditureClaim(
        id=uuid.uuid4(),
        allocation_id=allocation.id,
        period_start=data.period_start,
        period_end=data.period_end,
        status=ClaimStatus.DRAFT,
        amount=sum((line.amount for line in data.lines), Decimal("0.00")),
        verified=Decimal("0.00"),
        line_count=len(data.lines),
        checked_lines=0,
        filed_by=principal.actor,
    )
    session.add(claim)
    await session.flush()
    session.add_all(
        ClaimLine(
            id=uuid.uuid4(),
            claim_id=claim.id,
            allocation_id=allocation.id,
            number=number,
            cost_category=line.cost_category,
            amount=line.amount,
            document_reference=line.document_reference,
            spent_on=line.spent_on,
            outcome=LineOutcome.PENDING,
        )
        for number, line in enumerate(data.lines, start=1)
    )
    await session.flush()
    await audit.record(
        session,
        action="claim.create",
        entity_type="expenditure_claim",
        entity_id=claim.id,
        after=audit.snapshot(claim),
    )
    return claim


async def file_claim_on(
    session: AsyncSession, allocation_id: uuid.UUID, *, data: ClaimCreate, principal: Principal
) -> ExpenditureClaim:
    allocation = await load_allocation(session, allocation_id, principal)
    return await file_claim(session, allocation, data=data, principal=principal)


async def load_claim(
    session: AsyncSession, claim_id: uuid.UUID, principal: Principal
) -> ExpenditureClaim:
    claim = await repo.get_claim(session, claim_id, visibility.funding_records(principal))
    if claim is None:
        raise NotFound(msg("No claim {claim_id}.", claim_id=claim_id))
    return claim


async def read_claim(session: AsyncSession, claim: ExpenditureClaim) -> ClaimRead:
    return _claim_read(claim, await repo.claim_lines(session, claim.id))


def _claim_read(claim: ExpenditureClaim, lines: Sequence[ClaimLine]) -> ClaimRead:
    return ClaimRead(
        id=claim.id,
        allocation_id=claim.allocation_id,
        period_start=claim.period_start,
        period_end=claim.period_end,
        status=claim.status,
        amount=claim.amount,
        verified=claim.verified,
        line_count=claim.line_count,
        checked_lines=claim.checked_lines,
        filed_by=claim.filed_by,
        submitted_at=claim.submitted_at,
        submitted_by=claim.submitted_by,
        created_at=claim.created_at,
        lines=[ClaimLineRead.model_validate(line) for line in lines],
    )


async def get_claim(session: AsyncSession, principal: Principal, claim_id: uuid.UUID) -> ClaimRead:
    return await read_claim(session, await load_claim(session, claim_id, principal))


async def _allocation_of(session: AsyncSession, allocation_id: uuid.UUID) -> Allocation:
    allocation = await session.get(Allocation, allocation_id)
    assert allocation is not None
    return allocation


async def submit_claim(
    session: AsyncSession, claim: ExpenditureClaim, *, principal: Principal
) -> ExpenditureClaim:
    """Draft -> submitted: the claim is fixed, and counts as claimed on the grant."""
    allocation = await _allocation_of(session, claim.allocation_id)
    await _as_beneficiary(session, allocation, principal, msg("submit the claim"))
    if claim.status != ClaimStatus.DRAFT:
        raise ClaimNotDraft(msg("The claim is already submitted."), status=claim.status)
    _open_for_funding(allocation, "claim")
    missing = await document_rules.missing_required(
        session, DocumentOwner.CLAIM, claim.id, allocation.measure_id
    )
    if missing is not None:
        raise missing
    before = audit.snapshot(claim)
    if not await repo.submit_claim(session, claim.id, at=datetime.now(UTC), by=principal.actor):
        raise ClaimNotDraft(msg("The claim was submitted meanwhile."), status=ClaimStatus.SUBMITTED)
    if not await repo.add_to_claimed(session, allocation.id, claim.amount):
        await session.refresh(allocation)
        _open_for_funding(allocation, "claim")
        raise Conflict(msg("The grant changed meanwhile; retry."))
    if not await repo.add_to_totals(
        session,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        claimed=claim.amount,
    ):
        raise Conflict(msg("A counter of the call, measure or programme refused the claim."))
    await session.refresh(claim)
    await session.refresh(allocation)
    await audit.record(
        session,
        action="claim.submit",
        entity_type="expenditure_claim",
        entity_id=claim.id,
        before=before,
        after={
            **audit.snapshot(claim),
            "documents": await document_rules.submitted_documents(
                session, DocumentOwner.CLAIM, claim.id
            ),
        },
    )
    return claim


# First-level checks.


async def load_line(
    session: AsyncSession, claim_id: uuid.UUID, number: int, principal: Principal
) -> ClaimLine:
    claim = await load_claim(session, claim_id, principal)
    line = await repo.get_line(session, claim.id, number)
    if line is None:
        raise NotFound(
            msg("Claim {claim_id} has no line {number}.", claim_id=claim_id, number=number)
        )
    return line


async def read_line(session: AsyncSession, line: ClaimLine) -> ClaimLineRead:
    return ClaimLineRead.model_validate(line)


async def get_line(
    session: AsyncSession, principal: Principal, claim_id: uuid.UUID, number: int
) -> ClaimLineRead:
    return ClaimLineRead.model_validate(await load_line(session, claim_id, number, principal))


def _verified_of(line: ClaimLine, data: LineCheck) -> Decimal:
    """Derived, never typed: the amount, the amount less the cut, or nothing."""
    if data.outcome == "accepted":
        return line.amount
    if data.outcome == "refused":
        return Decimal("0.00")
    assert data.cut is not None
    if data.cut >= line.amount:
        raise CutNotBelowAmount(
            msg("A cut removes less than the line's amount (refuse the line to remove all of it)."),
            amount=line.amount,
            cut=data.cut,
        )
    return line.amount - data.cut


async def check_line(
    session: AsyncSession, line: ClaimLine, *, data: LineCheck, principal: Principal
) -> ClaimLine:
    """An officer's first-level check of one line of a submitted claim."""
    claim = await session.get(ExpenditureClaim, line.claim_id)
    assert claim is not None
    if claim.status != ClaimStatus.SUBMITTED:
        raise ClaimNotSubmitted(msg("Only a submitted claim is checked."), status=claim.status)
    if line.outcome != LineOutcome.PENDING:
        raise LineAlreadyChecked(msg("The line is already checked."), outcome=line.outcome)
    allocation = await _allocation_of(session, line.allocation_id)
    _must_be_active(allocation, "check")
    verified = _verified_of(line, data)
    before = audit.snapshot(line)
    if not await repo.check_line(
        session,
        line.id,
        outcome=LineOutcome(data.outcome),
        cut=data.cut,
        verified=verified,
        reason=data.reason,
        at=datetime.now(UTC),
        by=principal.actor,
    ):
        raise LineAlreadyChecked(msg("The line was checked meanwhile."))
    if not await repo.add_to_claim_verified(session, claim.id, verified):
        raise Conflict(msg("The claim changed meanwhile; retry."))
    # The allocation's row lock: payments of this grant wait here, so the question below
    # sees every payment committed before it.
    if not await repo.add_to_verified(session, allocation.id, verified):
        await session.refresh(allocation)
        _must_be_active(allocation, "check")
        raise Conflict(msg("The grant changed meanwhile; retry."))
    if await repo.authorised_a_payment_on_checks(session, allocation.id, principal.actor):
        raise SegregationOfDuties(
            msg(
                "You authorised a payment of this grant on verified expenditure: another "
                "officer checks its claims."
            ),
            allocation_id=allocation.id,
        )
    if not await repo.add_to_totals(
        session,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        verified=verified,
    ):
        raise Conflict(msg("A counter of the call, measure or programme refused the check."))
    await session.refresh(line)
    await session.refresh(claim)
    await session.refresh(allocation)
    await audit.record(
        session,
        action="claim_line.check",
        entity_type="claim_line",
        entity_id=line.id,
        before=before,
        after=audit.snapshot(line),
        reason=data.reason,
    )
    return line


# Payments.


def check_payable(
    allocation: Allocation, call: Call, terms: PaymentTerms | None, kind: PaymentKind
) -> None:
    """Whether a payment of ``kind`` may be made on the grant at all, before its amount is
    weighed: the one guard every payment passes (the place for any further precondition,
    such as the CUP)."""
    _open_for_funding(allocation, "pay")
    # L. 3/2003 art. 11: an act funding a project without its CUP is null.
    grant_act.require_cup(allocation)
    if kind is PaymentKind.ADVANCE:
        if terms is None or terms.advance_share_pct is None:
            raise PaymentTermsNotGiven(
                msg("The measure's advance share is not set: no advance is paid yet."),
                term="advance_share_pct",
            )
        if call.advance_guarantee_required is None:
            raise PaymentTermsNotGiven(
                msg("Whether the call requires a guarantee before the advance is not set."),
                term="advance_guarantee_required",
            )
        if call.advance_guarantee_required and allocation.guarantee_reference is None:
            raise GuaranteeRequired(
                msg(
                    "The call requires a guarantee, recorded with the acceptance, before the "
                    "advance."
                )
            )
    if kind is PaymentKind.INTERIM:
        if terms is None or not terms.interim_payments:
            raise PaymentTermsNotGiven(
                msg("The measure makes no interim payments (or they are not set)."),
                term="interim_payments",
                interim_payments=None if terms is None else terms.interim_payments,
            )
        if terms.retention_share_pct is None:
            raise PaymentTermsNotGiven(
                msg("The measure's retention is not set: no interim payment is made yet."),
                term="retention_share_pct",
            )


def _ceiling(allocation: Allocation, terms: PaymentTerms | None, kind: PaymentKind) -> Decimal:
    """What the payments may reach: the grant at the balance, else the grant less the
    retention (where it is set)."""
    if kind is PaymentKind.BALANCE or terms is None or terms.retention_share_pct is None:
        return allocation.amount
    return allocation.amount - _share(allocation.amount, terms.retention_share_pct)


def _payment_refusal(
    allocation: Allocation,
    kind: PaymentKind,
    amount: Decimal,
    ceiling: Decimal,
    advance_cap: Decimal | None,
) -> Exception:
    """Which limit refused, with the figures as they stand now."""
    _open_for_funding(allocation, "pay")
    paid = allocation.paid
    figures = {"grant": allocation.amount, "paid": paid, "requested": amount}
    if paid + amount > allocation.amount:
        return PaidBeyondGrant(
            msg("Paying {amount} would exceed the grant.", amount=amount),
            **figures,
            available=allocation.amount - paid,
        )
    if paid + amount > ceiling:
        return RetentionWithheld(
            msg("Paying {amount} would pay the retention before the balance.", amount=amount),
            **figures,
            retention=allocation.amount - ceiling,
            available=ceiling - paid,
        )
    if kind is PaymentKind.ADVANCE:
        assert advance_cap is not None
        return AdvanceShareExceeded(
            msg("An advance of {amount} would exceed the advance share.", amount=amount),
            **figures,
            cap=advance_cap,
            advanced=allocation.advanced,
            available=advance_cap - allocation.advanced,
        )
    limit = allocation.verified + (allocation.advanced if kind is PaymentKind.INTERIM else 0)
    return PaidBeyondVerified(
        msg(
            "Paying {amount} would exceed the verified expenditure plus the advances.",
            amount=amount,
        )
        if kind is PaymentKind.INTERIM
        else msg("Paying {amount} would exceed the verified expenditure.", amount=amount),
        **figures,
        verified=allocation.verified,
        advanced=allocation.advanced,
        available=limit - paid,
    )


async def make_payment(
    session: AsyncSession, allocation: Allocation, *, data: PaymentCreate, principal: Principal
) -> Payment:
    """Record a payment within every limit, or raise and write nothing."""
    call = await session.get(Call, allocation.call_id)
    assert call is not None
    terms = await _terms(session, allocation.measure_id)
    check_payable(allocation, call, terms, data.kind)
    if data.paid_on > clock.today() or data.paid_on < (allocation.accepted_on or data.paid_on):
        raise DateOutOfRange(
            msg("A payment is dated between the acceptance and today."),
            paid_on=data.paid_on,
            accepted_on=allocation.accepted_on,
            today=clock.today(),
        )
    ceiling = _ceiling(allocation, terms, data.kind)
    advance_cap = _advance_cap(allocation, terms)
    now = datetime.now(UTC)
    if not await repo.pay_on_allocation(
        session,
        allocation.id,
        kind=data.kind,
        amount=data.amount,
        ceiling=ceiling,
        advance_cap=advance_cap,
        completed_at=now,
    ):
        await session.refresh(allocation)
        raise _payment_refusal(allocation, data.kind, data.amount, ceiling, advance_cap)
    if data.kind is not PaymentKind.ADVANCE and await repo.checked_a_line(
        session, allocation.id, principal.actor
    ):
        raise SegregationOfDuties(
            msg(
                "You checked expenditure of this grant: another officer authorises its "
                "payments on verified expenditure."
            ),
            allocation_id=allocation.id,
        )
    if not await repo.add_to_totals(
        session,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        advanced=data.amount if data.kind is PaymentKind.ADVANCE else Decimal("0.00"),
        paid=data.amount,
    ):
        raise Conflict(msg("A counter of the call, measure or programme refused the payment."))
    payment = Payment(
        id=uuid.uuid4(),
        allocation_id=allocation.id,
        kind=data.kind,
        amount=data.amount,
        paid_on=data.paid_on,
        treasury_reference=data.treasury_reference,
        authorised_by=principal.actor,
        created_at=now,
    )
    session.add(payment)
    await session.flush()  # the treasury reference's unique index fires here
    await session.refresh(allocation)
    await audit.record(
        session,
        action="payment.create",
        entity_type="payment",
        entity_id=payment.id,
        after=audit.snapshot(payment),
    )
    return payment


async def pay_on(
    session: AsyncSession, allocation_id: uuid.UUID, *, data: PaymentCreate, principal: Principal
) -> Payment:
    allocation = await load_allocation(session, allocation_id, principal)
    return await make_payment(session, allocation, data=data, principal=principal)


async def read_payment(session: AsyncSession, payment: Payment) -> PaymentRead:
    return PaymentRead.model_validate(payment)


async def get_payment(
    session: AsyncSession, principal: Principal, payment_id: uuid.UUID
) -> PaymentRead:
    payment = await repo.get_payment(session, payment_id, visibility.funding_records(principal))
    if payment is None:
        raise NotFound(msg("No payment {payment_id}.", payment_id=payment_id))
    return PaymentRead.model_validate(payment)


# A grant's lists: to whoever may read its claims and payments one by one (the region and
# the beneficiary's users); the grant is 404 to anyone else, as a missing one.


async def list_claims(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID, query: ClaimQuery
) -> Page[ClaimRead]:
    """A grant's expenditure claims, oldest first, each with its lines (one statement for
    the page's lines)."""
    allocation = await load_funded(session, allocation_id, principal)
    rows = await CLAIM_ORDER.fetch(
        query, partial(repo.page_claims, session, allocation_id=allocation.id)
    )
    lines = await repo.lines_of_claims(session, [claim.id for claim in rows[: query.limit]])
    return CLAIM_ORDER.page(rows, query.limit, lambda claim: _claim_read(claim, lines[claim.id]))


async def list_payments(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID, query: PaymentQuery
) -> Page[PaymentRead]:
    """A grant's payments, oldest first."""
    allocation = await load_funded(session, allocation_id, principal)
    rows = partial(repo.page_payments, session, allocation_id=allocation.id)
    return await PAYMENT_ORDER.page_of(query, rows, PaymentRead.model_validate)
