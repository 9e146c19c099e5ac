"""Loans of mixed allocations: their rows, and the fund's counters moved by one conditional
UPDATE each (programme -> measure -> call, as every counter), never past their CHECKs."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.money import ZERO
from app.models.call import Call
from app.models.loan import Loan, LoanInstalment, LoanRepayment
from app.models.programme import Measure, Programme
from app.repositories.paging import Order, keyset


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def loan_of(
    session: AsyncSession, allocation_id: uuid.UUID, *, lock: bool = False
) -> Loan | None:
    """The allocation's loan; ``lock``: FOR UPDATE (repayments and a revocation of the same
    loan queue here), and read afresh."""
    query = select(Loan).where(Loan.allocation_id == allocation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def has_repayments(session: AsyncSession, loan_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(LoanRepayment.id).where(LoanRepayment.loan_id == loan_id).limit(1)
    )
    return found is not None


async def instalments_of(session: AsyncSession, loan_id: uuid.UUID) -> list[LoanInstalment]:
    rows = await session.scalars(
        select(LoanInstalment)
        .where(LoanInstalment.loan_id == loan_id)
        .order_by(LoanInstalment.number)
    )
    return list(rows)


async def instalment(
    session: AsyncSession, loan_id: uuid.UUID, number: int
) -> LoanInstalment | None:
    return await session.scalar(
        select(LoanInstalment).where(
            LoanInstalment.loan_id == loan_id, LoanInstalment.number == number
        )
    )


async def pay_instalment(
    session: AsyncSession, instalment_id: uuid.UUID, amount: Decimal
) -> Decimal | None:
    """``paid += amount`` while it stays within the instalment; the new ``paid``, or None."""
    new = LoanInstalment.paid + amount  # bound as Money: cents in the SQL
    result = await session.execute(
        update(LoanInstalment)
        .where(
            LoanInstalment.id == instalment_id,
            new <= LoanInstalment.principal + LoanInstalment.interest,
        )
        .values({LoanInstalment.paid: new})
        .returning(LoanInstalment.paid)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def repay_principal(session: AsyncSession, loan_id: uuid.UUID, amount: Decimal) -> bool:
    """The loan's ``repaid += amount`` while it stays within the principal."""
    new = Loan.repaid + amount
    result = await session.execute(
        update(Loan)
        .where(Loan.id == loan_id, new <= Loan.principal)
        .values({Loan.repaid: new})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def return_to_fund(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    amount: Decimal,
) -> bool:
    """Principal repaid flows back: ``repaid += amount`` within what is lent, and
    ``allocated -= amount`` (the fund revolves: app.services.loans), programme -> measure ->
    call. False if a counter refused (the caller raises and the transaction undoes it)."""
    for model, key in ((Programme, programme_id), (Measure, measure_id)):
        repaid = model.repaid + amount
        result = await session.execute(
            update(model)
            .where(model.id == key, repaid <= model.lent, model.allocated - amount >= ZERO)
            .values({model.repaid: repaid, model.allocated: model.allocated - amount})
            .execution_options(synchronize_session=False)
        )
        if not _changed(result):
            return False
    result = await session.execute(
        update(Call)
        .where(Call.id == call_id, Call.allocated - amount >= ZERO)
        .values({Call.allocated: Call.allocated - amount})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_lent(
    session: AsyncSession, *, programme_id: uuid.UUID, measure_id: uuid.UUID, amount: Decimal
) -> bool:
    """``lent += amount`` (a grant's loan part; negative: a revoked one's), never below
    what is repaid."""
    for model, key in ((Programme, programme_id), (Measure, measure_id)):
        lent = model.lent + amount
        result = await session.execute(
            update(model)
            .where(model.id == key, lent >= model.repaid)
            .values({model.lent: lent})
            .execution_options(synchronize_session=False)
        )
        if not _changed(result):
            return False
    return True


async def page_repayments(
    session: AsyncSession,
    *,
    loan_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[LoanRepayment]:
    query = select(LoanRepayment).where(LoanRepayment.loan_id == loan_id)
    return list(await session.scalars(keyset(query, order, after, limit)))
