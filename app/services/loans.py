"""The FESR mixed instrument: the split of a mixed grant, its loan and amortisation
schedule, repayments, and the revolving fund.

The split: the loan part is ``amount x loan_share_bp / 10000`` rounded half up to the cent;
the grant part is ``amount - loan``, so the two always sum to the amount. The schedule:
app.core.amortisation (its rounding rule), starting on the grant's date (Europe/Rome).

A repayment pays one instalment, interest first and then principal, never beyond what the
instalment asks (a conditional UPDATE, and ``loan_instalment_paid_within_due_check``). It is
late when paid after the instalment's due date; an instalment is late while its due date has
passed without full payment.

How the fund revolves, and how it composes with the caps. A mixed allocation counts in
``allocated`` (programme, measure and call) at its whole amount when granted, as every
grant; each euro of PRINCIPAL repaid then comes off ``allocated`` at the three levels (and
adds to ``repaid``), in the same conditional UPDATE. The caps are unchanged: ``allocated <=
budget`` at each level (the same UPDATEs and CHECKs as every grant). So each cap holds what
is out and not returned: grant parts, which are never repaid, plus the principal still
outstanding; what is repaid is available again for new grants where it was lent: in its
call, its measure and its programme, never beyond their budgets and never more than was
lent (``repaid <= lent``: CHECKs, and the loan's own ``repaid <= principal``). Interest is
not returned to the budget (it is income of the fund, outside the programme's figures).
``allocated`` of a mixed measure is therefore its grants less the principal repaid; ``lent``
and ``repaid`` give the gross figures, and ``wecare check`` recomputes all of them.

A loan with repayments is not revoked (``loan_repaid_in_part``): that is a recovery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.amortisation import BASIS_POINTS, LoanTerms, schedule
from app.core.auth import Principal
from app.core.domain import AllocationStatus, Instrument
from app.core.errors import (
    IllegalTransition,
    LoanRepaidInPart,
    MixedTermsNotSet,
    NotFound,
    RepaymentDateOutOfRange,
    RepaymentExceedsInstalment,
)
from app.core.i18n import msg
from app.core.money import CENT, ZERO
from app.models.allocation import Allocation
from app.models.loan import Loan, LoanInstalment, LoanRepayment
from app.models.programme import Measure
from app.repositories import applications as allocation_repo
from app.repositories import loans as repo
from app.repositories import visibility
from app.schemas.loan import (
    InstalmentRead,
    LoanRead,
    RepaymentCreate,
    RepaymentQuery,
    RepaymentRead,
)
from app.schemas.page import Page
from app.schemas.reference_data import MixedTerms
from app.services import audit
from app.services.paging import SortKey

REPAYMENT_ORDER = SortKey[LoanRepayment](LoanRepayment.recorded_at, LoanRepayment.id)


def split(amount: Decimal, loan_share_bp: int) -> tuple[Decimal, Decimal]:
    """(loan, grant): the loan part rounded half up to the cent, the grant part the rest."""
    loan = (amount * loan_share_bp / BASIS_POINTS).quantize(CENT, rounding=ROUND_HALF_UP)
    return loan, amount - loan


def mixed_terms(measure: Measure) -> MixedTerms | None:
    if measure.instrument != Instrument.MIXED:
        return None
    return MixedTerms.model_validate(measure.loan_terms or {})


@dataclass(frozen=True)
class LoanPlan:
    loan: Decimal
    grant: Decimal
    terms: LoanTerms


def plan_loan(measure: Measure, amount: Decimal) -> LoanPlan | None:
    """A grant of ``amount`` on ``measure``: its split and terms if the measure is mixed
    (None: a grant measure), or raise while a term is not set."""
    terms = mixed_terms(measure)
    if terms is None:
        return None
    loan_terms = terms.loan_terms()
    if loan_terms is None or terms.loan_share_bp is None:
        raise MixedTermsNotSet(
            msg(
                "Measure {measure_code} is a mixed instrument whose terms are not all "
                "set; the region sets them (PATCH /api/v1/measures/{{id}}) before a "
                "grant is made.",
                measure_code=measure.code,
            ),
            missing=terms.missing(),
        )
    loan, grant = split(amount, terms.loan_share_bp)
    return LoanPlan(loan, grant, loan_terms)


async def open_loan(session: AsyncSession, allocation: Allocation, plan: LoanPlan) -> None:
    """The loan of a mixed allocation just granted: its row, its schedule and ``lent``."""
    if plan.loan == ZERO:  # an amount so small that its loan share rounds to nothing
        return
    terms = plan.terms
    starts_on = clock.day_of(allocation.granted_at)
    loan = Loan(
        id=uuid.uuid4(),
        allocation_id=allocation.id,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        principal=plan.loan,
        grant_part=plan.grant,
        repaid=ZERO,
        annual_rate_bp=terms.annual_rate_bp,
        term_months=terms.term_months,
        grace_months=terms.grace_months,
        grace_payment=terms.grace_payment,
        repayments_per_year=terms.repayments_per_year,
        amortisation=terms.amortisation,
        starts_on=starts_on,
    )
    session.add(loan)
    await session.flush()
    session.add_all(
        LoanInstalment(
            id=uuid.uuid4(),
            loan_id=loan.id,
            number=row.number,
            due_on=row.due_on,
            principal=row.principal,
            interest=row.interest,
            paid=ZERO,
        )
        for row in schedule(plan.loan, terms, starts_on)
    )
    await session.flush()
    moved = await repo.add_lent(
        session,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        amount=plan.loan,
    )
    assert moved, "lent only grows here"


async def before_revocation(session: AsyncSession, allocation: Allocation) -> None:
    """A mixed allocation is revoked only while nothing is repaid; its loan leaves ``lent``.
    The loan row is locked first: a repayment in flight on it is waited for."""
    loan = await repo.loan_of(session, allocation.id, lock=True)
    if loan is None:
        return
    if await repo.has_repayments(session, loan.id):  # interest only, too
        raise LoanRepaidInPart(
            msg("The allocation's loan has received repayments: it is recovered, not revoked."),
            repaid=loan.repaid,
            principal=loan.principal,
        )
    moved = await repo.add_lent(
        session,
        programme_id=loan.programme_id,
        measure_id=loan.measure_id,
        amount=-loan.principal,
    )
    assert moved, "a loan with nothing repaid leaves lent >= repaid"


def _status(row: LoanInstalment, on: date) -> str:
    if row.paid == row.amount:
        return "paid"
    if row.due_on < on:
        return "late"
    return "partly_paid" if row.paid > ZERO else "due"


async def _loan(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID
) -> tuple[Allocation, Loan]:
    allocation = await allocation_repo.get_allocation(
        session, allocation_id, visibility.allocations(principal)
    )
    if allocation is None:
        raise NotFound(msg("No allocation {allocation_id}.", allocation_id=allocation_id))
    loan = await repo.loan_of(session, allocation.id)
    if loan is None:
        raise NotFound(
            msg(
                "Allocation {allocation_id} has no loan (its measure is not mixed).",
                allocation_id=allocation_id,
            )
        )
    return allocation, loan


async def get_loan(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID
) -> LoanRead:
    """The loan of a mixed allocation with its schedule, each instalment's payment status."""
    allocation, loan = await _loan(session, principal, allocation_id)
    on = clock.today()
    instalments = [
        InstalmentRead(
            number=row.number,
            due_on=row.due_on,
            principal=row.principal,
            interest=row.interest,
            amount=row.amount,
            paid=row.paid,
            status=_status(row, on),  # type: ignore[arg-type]
        )
        for row in await repo.instalments_of(session, loan.id)
    ]
    return LoanRead(
        allocation_id=allocation.id,
        amount=allocation.amount,
        principal=loan.principal,
        grant_part=loan.grant_part,
        repaid=loan.repaid,
        outstanding=loan.outstanding,
        annual_rate_bp=loan.annual_rate_bp,
        term_months=loan.term_months,
        grace_months=loan.grace_months,
        grace_payment=loan.grace_payment,
        repayments_per_year=loan.repayments_per_year,
        amortisation=loan.amortisation,
        starts_on=loan.starts_on,
        late_instalments=sum(1 for i in instalments if i.status == "late"),
        instalments=instalments,
    )


async def read_repayment(session: AsyncSession, repayment: LoanRepayment) -> RepaymentRead:
    return RepaymentRead.model_validate(repayment)


def _over(row: LoanInstalment, amount: Decimal) -> RepaymentExceedsInstalment:
    return RepaymentExceedsInstalment(
        msg(
            "Instalment {number} has {outstanding} left to pay.",
            number=row.number,
            outstanding=row.amount - row.paid,
        ),
        instalment=row.number,
        due=row.amount,
        paid=row.paid,
        remaining=row.amount - row.paid,
        requested=amount,
    )


async def record_repayment(
    session: AsyncSession, *, allocation_id: uuid.UUID, data: RepaymentCreate, principal: Principal
) -> LoanRepayment:
    """Record a repayment of one instalment: interest first, then principal; the principal
    returns to the fund (the module's docstring), every counter by a conditional UPDATE."""
    allocation, _ = await _loan(session, principal, allocation_id)
    loan = await repo.loan_of(session, allocation.id, lock=True)
    assert loan is not None
    await session.refresh(allocation)  # as committed now that the loan is ours
    if allocation.status != AllocationStatus.ACTIVE:
        raise IllegalTransition(
            msg("Repayments are recorded on an active allocation's loan."),
            current_status=allocation.status,
            attempted="repay",
        )
    row = await repo.instalment(session, loan.id, data.instalment)
    if row is None:
        raise NotFound(msg("The loan has no instalment {instalment}.", instalment=data.instalment))
    if not loan.starts_on <= data.paid_on <= clock.today():
        raise RepaymentDateOutOfRange(
            msg("paid_on must fall between the loan's start and today."),
            starts_on=loan.starts_on,
            today=clock.today(),
            paid_on=data.paid_on,
        )
    paid = await repo.pay_instalment(session, row.id, data.amount)
    if paid is None:
        await session.refresh(row)
        raise _over(row, data.amount)
    # Interest first: principal is what the instalment's payments hold beyond its interest.
    before = paid - data.amount
    to_principal = max(paid - row.interest, ZERO) - max(before - row.interest, ZERO)
    if to_principal > ZERO:
        if not await repo.repay_principal(session, loan.id, to_principal):
            raise _over(row, data.amount)
        if not await repo.return_to_fund(
            session,
            programme_id=allocation.programme_id,
            measure_id=allocation.measure_id,
            call_id=allocation.call_id,
            amount=to_principal,
        ):
            raise _over(row, data.amount)
    repayment = LoanRepayment(
        id=uuid.uuid4(),
        loan_id=loan.id,
        instalment_id=row.id,
        instalment_number=row.number,
        amount=data.amount,
        principal=to_principal,
        interest=data.amount - to_principal,
        paid_on=data.paid_on,
        late=data.paid_on > row.due_on,
        reference=data.reference,
        recorded_at=datetime.now(UTC),
        recorded_by=principal.actor,
    )
    session.add(repayment)
    await session.flush()
    await audit.record(
        session,
        action="loan.repay",
        entity_type="loan_repayment",
        entity_id=repayment.id,
        after=audit.snapshot(repayment),
    )
    return repayment


async def list_repayments(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID, query: RepaymentQuery
) -> Page[RepaymentRead]:
    """A mixed allocation's loan repayments, oldest first: to the region and to the
    beneficiary's users, who read its payments and recoveries (404 to anyone else, as a
    missing allocation; 404 too where the allocation has no loan)."""
    allocation = await allocation_repo.get_allocation(
        session, allocation_id, visibility.funding_records(principal)
    )
    if allocation is None:
        raise NotFound(msg("No allocation {allocation_id}.", allocation_id=allocation_id))
    loan = await repo.loan_of(session, allocation.id)
    if loan is None:
        raise NotFound(
            msg(
                "Allocation {allocation_id} has no loan (its measure is not mixed).",
                allocation_id=allocation_id,
            )
        )
    rows = partial(repo.page_repayments, session, loan_id=loan.id)
    return await REPAYMENT_ORDER.page_of(query, rows, RepaymentRead.model_validate)
