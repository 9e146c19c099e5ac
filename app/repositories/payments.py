"""After the grant (issue 16): the queries of acceptance, lapse, claims, checks and payments.

Every funding counter moves by one conditional UPDATE: the allocation's first (its row is
the lock every payment and check of the grant queues on), then programme -> measure -> call,
the order a revocation takes, so that two transactions never wait on each other in a
cycle. The CHECKs of app.models.mixins.FUNDING_CHECKS are the backstop.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Select, and_, exists, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import (
    AllocationStatus,
    LineOutcome,
    MemberRole,
    PaymentKind,
)
from app.db.types import Money
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.call import Call
from app.models.organisation import PartnershipMember
from app.models.payment import (
    ClaimLine,
    ExpenditureClaim,
    Payment,
    PaymentTerms,
    Recovery,
    RecoveryReceipt,
)
from app.models.programme import Measure, Programme
from app.repositories.paging import Order, keyset


def _money(amount: Decimal) -> ColumnElement[Decimal]:
    """A bound amount compared with a sum: typed as Money (cents), which a bare Decimal on
    the right of ``column + x <= ...`` would not be."""
    return literal(amount, Money())


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


def select_allocation(allocation_id: uuid.UUID, visible: ColumnElement[bool]) -> Select[Allocation]:
    return select(Allocation).where(Allocation.id == allocation_id, visible)


async def terms_of(session: AsyncSession, measure_id: uuid.UUID) -> PaymentTerms | None:
    return await session.scalar(select(PaymentTerms).where(PaymentTerms.measure_id == measure_id))


async def beneficiary_organisations(
    session: AsyncSession, application_id: uuid.UUID
) -> list[uuid.UUID]:
    """The organisation that receives the grant: the applicant, or a partnership's lead."""
    application = await session.get(Application, application_id)
    assert application is not None
    if application.applicant_organisation_id is not None:
        return [application.applicant_organisation_id]
    if application.partnership_id is None:
        return []
    lead = await session.scalars(
        select(PartnershipMember.organisation_id).where(
            PartnershipMember.partnership_id == application.partnership_id,
            PartnershipMember.role == MemberRole.LEAD,
        )
    )
    return list(lead)


# Acceptance and lapse: each is one conditional UPDATE of the same row, so that a late
# acceptance and the lapse of the same grant can never both happen.

_OPEN_FOR_ACCEPTANCE = and_(
    ACTIVE_ALLOCATION, Allocation.accepted_at.is_(None), Allocation.paid == Decimal("0.00")
)


async def accept(
    session: AsyncSession,
    allocation_id: uuid.UUID,
    *,
    on: date,
    at: datetime,
    by: str,
    guarantee_reference: str | None,
) -> bool:
    result = await session.execute(
        update(Allocation)
        .where(Allocation.id == allocation_id, _OPEN_FOR_ACCEPTANCE)
        .values(
            accepted_on=on,
            accepted_at=at,
            accepted_by=by,
            guarantee_reference=guarantee_reference,
            version=Allocation.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def lapse(
    session: AsyncSession, allocation_id: uuid.UUID, *, at: datetime, by: str, reason: str
) -> bool:
    result = await session.execute(
        update(Allocation)
        .where(Allocation.id == allocation_id, _OPEN_FOR_ACCEPTANCE)
        .values(
            status=AllocationStatus.REVOKED,
            revoked_at=at,
            revoked_by=by,
            revocation_reason=reason,
            version=Allocation.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def lapse_candidates(
    session: AsyncSession, *, measure_id: uuid.UUID, granted_before: datetime, limit: int
) -> Sequence[uuid.UUID]:
    """Active grants of the measure not accepted, granted before ``granted_before``."""
    rows = await session.scalars(
        select(Allocation.id)
        .where(
            Allocation.measure_id == measure_id,
            _OPEN_FOR_ACCEPTANCE,
            Allocation.granted_at < granted_before,
        )
        .order_by(Allocation.granted_at, Allocation.id)
        .limit(limit)
    )
    return rows.all()


async def terms_with_deadline(session: AsyncSession) -> Sequence[PaymentTerms]:
    rows = await session.scalars(
        select(PaymentTerms).where(PaymentTerms.acceptance_days.is_not(None))
    )
    return rows.all()


# The funding counters.

_OPEN_FOR_PAYMENT = and_(
    ACTIVE_ALLOCATION, Allocation.accepted_at.is_not(None), Allocation.completed_at.is_(None)
)


async def pay_on_allocation(
    session: AsyncSession,
    allocation_id: uuid.UUID,
    *,
    kind: PaymentKind,
    amount: Decimal,
    ceiling: Decimal,
    advance_cap: Decimal | None,
    completed_at: datetime | None,
) -> bool:
    """``paid += amount`` (and ``advanced`` for an advance) while every limit holds:
    nothing beyond the grant nor ``ceiling`` (the grant less what is retained until the
    balance); an advance within ``advance_cap``; an interim payment within the verified
    expenditure plus the advances; a balance within the verified expenditure (it closes
    the project)."""
    paid = Allocation.paid + amount
    conditions: list[ColumnElement[bool]] = [
        Allocation.id == allocation_id,
        _OPEN_FOR_PAYMENT,
        paid <= Allocation.amount,
        paid <= _money(ceiling),
    ]
    values: dict[object, object] = {Allocation.paid: paid}
    if kind is PaymentKind.ADVANCE:
        assert advance_cap is not None
        conditions.append(Allocation.advanced + amount <= _money(advance_cap))
        values[Allocation.advanced] = Allocation.advanced + amount
    elif kind is PaymentKind.INTERIM:
        conditions.append(paid <= Allocation.verified + Allocation.advanced)
    else:
        conditions.append(paid <= Allocation.verified)
        values[Allocation.completed_at] = completed_at
    result = await session.execute(
        update(Allocation)
        .where(*conditions)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_claimed(session: AsyncSession, allocation_id: uuid.UUID, amount: Decimal) -> bool:
    result = await session.execute(
        update(Allocation)
        .where(Allocation.id == allocation_id, _OPEN_FOR_PAYMENT)
        .values({Allocation.claimed: Allocation.claimed + amount})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_verified(session: AsyncSession, allocation_id: uuid.UUID, amount: Decimal) -> bool:
    verified = Allocation.verified + amount
    result = await session.execute(
        update(Allocation)
        .where(Allocation.id == allocation_id, ACTIVE_ALLOCATION, verified <= Allocation.claimed)
        .values({Allocation.verified: verified})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_totals(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    claimed: Decimal = Decimal("0.00"),
    verified: Decimal = Decimal("0.00"),
    advanced: Decimal = Decimal("0.00"),
    paid: Decimal = Decimal("0.00"),
) -> bool:
    """The same amounts on the programme, measure and call, in that order, each within what
    is granted there (the allocation's own UPDATE has already checked its own limits)."""
    for model, key in ((Programme, programme_id), (Measure, measure_id), (Call, call_id)):
        result = await session.execute(
            update(model)
            .where(
                model.id == key,
                model.paid - model.due + paid <= model.allocated,
                model.verified + verified <= model.claimed + claimed,
            )
            .values(
                {
                    model.claimed: model.claimed + claimed,
                    model.verified: model.verified + verified,
                    model.advanced: model.advanced + advanced,
                    model.paid: model.paid + paid,
                }
            )
            .execution_options(synchronize_session=False)
        )
        if not _changed(result):
            return False
    return True


# Claims and checks.


async def get_claim(
    session: AsyncSession, claim_id: uuid.UUID, visible: ColumnElement[bool]
) -> ExpenditureClaim | None:
    return await session.scalar(
        select(ExpenditureClaim)
        .join(Allocation, Allocation.id == ExpenditureClaim.allocation_id)
        .where(ExpenditureClaim.id == claim_id, visible)
    )


async def claim_lines(session: AsyncSession, claim_id: uuid.UUID) -> Sequence[ClaimLine]:
    rows = await session.scalars(
        select(ClaimLine).where(ClaimLine.claim_id == claim_id).order_by(ClaimLine.number)
    )
    return rows.all()


async def get_line(session: AsyncSession, claim_id: uuid.UUID, number: int) -> ClaimLine | None:
    return await session.scalar(
        select(ClaimLine).where(ClaimLine.claim_id == claim_id, ClaimLine.number == number)
    )


async def submit_claim(
    session: AsyncSession, claim_id: uuid.UUID, *, at: datetime, by: str
) -> bool:
    result = await session.execute(
        update(ExpenditureClaim)
        .where(ExpenditureClaim.id == claim_id, ExpenditureClaim.status == "draft")
        .values(
            status="submitted",
            submitted_at=at,
            submitted_by=by,
            version=ExpenditureClaim.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def check_line(
    session: AsyncSession,
    line_id: uuid.UUID,
    *,
    outcome: LineOutcome,
    cut: Decimal | None,
    verified: Decimal,
    reason: str | None,
    at: datetime,
    by: str,
) -> bool:
    """A pending line gets its outcome, once: two checks of one line never both count."""
    result = await session.execute(
        update(ClaimLine)
        .where(ClaimLine.id == line_id, ClaimLine.outcome == LineOutcome.PENDING.value)
        .values(
            {
                ClaimLine.outcome: outcome,
                ClaimLine.cut: cut,
                ClaimLine.verified: verified,
                ClaimLine.reason: reason,
                ClaimLine.checked_at: at,
                ClaimLine.checked_by: by,
            }
        )
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_claim_verified(
    session: AsyncSession, claim_id: uuid.UUID, amount: Decimal
) -> bool:
    verified = ExpenditureClaim.verified + amount
    result = await session.execute(
        update(ExpenditureClaim)
        .where(
            ExpenditureClaim.id == claim_id,
            verified <= ExpenditureClaim.amount,
            ExpenditureClaim.checked_lines + 1 <= ExpenditureClaim.line_count,
        )
        .values(
            {
                ExpenditureClaim.verified: verified,
                ExpenditureClaim.checked_lines: ExpenditureClaim.checked_lines + 1,
                ExpenditureClaim.version: ExpenditureClaim.version + 1,
            }
        )
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


# Segregation of duties: asked under the allocation's row lock (after its UPDATE).

_RELY_ON_CHECKS = (PaymentKind.INTERIM.value, PaymentKind.BALANCE.value)


async def checked_a_line(session: AsyncSession, allocation_id: uuid.UUID, actor: str) -> bool:
    found = await session.scalar(
        select(
            exists().where(ClaimLine.allocation_id == allocation_id, ClaimLine.checked_by == actor)
        )
    )
    return bool(found)


async def authorised_a_payment_on_checks(
    session: AsyncSession, allocation_id: uuid.UUID, actor: str
) -> bool:
    found = await session.scalar(
        select(
            exists().where(
                Payment.allocation_id == allocation_id,
                Payment.authorised_by == actor,
                Payment.kind.in_(_RELY_ON_CHECKS),
            )
        )
    )
    return bool(found)


async def get_payment(
    session: AsyncSession, payment_id: uuid.UUID, visible: ColumnElement[bool]
) -> Payment | None:
    return await session.scalar(
        select(Payment)
        .join(Allocation, Allocation.id == Payment.allocation_id)
        .where(Payment.id == payment_id, visible)
    )


# Revocation after payment: recoveries (migration 0023).


async def add_to_due(
    session: AsyncSession,
    *,
    allocation_id: uuid.UUID,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    amount: Decimal,
) -> None:
    """``due += amount`` on the allocation, then programme -> measure -> call (the
    revocation's order). The CHECKs keep it within what was paid."""
    rows = ((Allocation, allocation_id), (Programme, programme_id), (Measure, measure_id))
    for model, key in (*rows, (Call, call_id)):
        await session.execute(
            update(model)
            .where(model.id == key)
            .values({model.due: model.due + amount})
            .execution_options(synchronize_session=False)
        )


async def recover_on(session: AsyncSession, recovery_id: uuid.UUID, amount: Decimal) -> bool:
    """``recovered += amount`` on the recovery while it stays within what is due: the
    recovery's row is the lock every receipt of it queues on."""
    recovered = Recovery.recovered + amount
    result = await session.execute(
        update(Recovery)
        .where(Recovery.id == recovery_id, recovered <= Recovery.due)
        .values({Recovery.recovered: recovered, Recovery.version: Recovery.version + 1})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_recovered(
    session: AsyncSession,
    *,
    allocation_id: uuid.UUID,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    amount: Decimal,
) -> bool:
    """``recovered += amount`` on the allocation, programme, measure and call, each within
    its ``due``; above the allocation, ``allocated -= amount`` as well: what came back
    returns to the caps (the rule in app.services.recoveries)."""
    result = await session.execute(
        update(Allocation)
        .where(Allocation.id == allocation_id, Allocation.recovered + amount <= Allocation.due)
        .values({Allocation.recovered: Allocation.recovered + amount})
        .execution_options(synchronize_session=False)
    )
    if not _changed(result):
        return False
    for model, key in ((Programme, programme_id), (Measure, measure_id), (Call, call_id)):
        result = await session.execute(
            update(model)
            .where(
                model.id == key,
                model.recovered + amount <= model.due,
                model.allocated - amount >= _money(Decimal("0.00")),
            )
            .values(
                {
                    model.recovered: model.recovered + amount,
                    model.allocated: model.allocated - amount,
                }
            )
            .execution_options(synchronize_session=False)
        )
        if not _changed(result):
            return False
    return True


async def recoveries_of(session: AsyncSession, allocation_id: uuid.UUID) -> Sequence[Recovery]:
    rows = await session.scalars(
        select(Recovery)
        .where(Recovery.allocation_id == allocation_id)
        .order_by(Recovery.created_at, Recovery.id)
    )
    return rows.all()


async def get_recovery(
    session: AsyncSession, recovery_id: uuid.UUID, visible: ColumnElement[bool]
) -> Recovery | None:
    return await session.scalar(
        select(Recovery)
        .join(Allocation, Allocation.id == Recovery.allocation_id)
        .where(Recovery.id == recovery_id, visible)
    )


# The lists of a grant's funding records (each under a parent the caller may see).


async def page_claims(
    session: AsyncSession,
    *,
    allocation_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[ExpenditureClaim]:
    query = select(ExpenditureClaim).where(ExpenditureClaim.allocation_id == allocation_id)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def lines_of_claims(
    session: AsyncSession, claim_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ClaimLine]]:
    """The lines of ``claim_ids``, each claim's by number: one statement for a page."""
    found: dict[uuid.UUID, list[ClaimLine]] = {claim_id: [] for claim_id in claim_ids}
    if claim_ids:
        rows = await session.scalars(
            select(ClaimLine)
            .where(ClaimLine.claim_id.in_(claim_ids))
            .order_by(ClaimLine.claim_id, ClaimLine.number)
        )
        for line in rows:
            found[line.claim_id].append(line)
    return found


async def page_payments(
    session: AsyncSession,
    *,
    allocation_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Payment]:
    query = select(Payment).where(Payment.allocation_id == allocation_id)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def page_receipts(
    session: AsyncSession,
    *,
    recovery_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[RecoveryReceipt]:
    query = select(RecoveryReceipt).where(RecoveryReceipt.recovery_id == recovery_id)
    return list(await session.scalars(keyset(query, order, after, limit)))
