"""The mixed instrument's counters: `wecare check` recomputes each one from its rows, and
the database refuses any state past their CHECKs (both databases)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.clock import today
from app.core.errors import CONSTRAINT_ERRORS, RepaymentExceedsInstalment
from app.db.guards import violated_constraint
from app.models import Allocation, Loan, LoanInstalment, Measure, Programme
from app.repositories import consistency
from app.schemas.application import AllocationCreate
from app.schemas.loan import RepaymentCreate
from app.services.allocations import grant_allocation
from app.services.loans import record_repayment
from tests.world import Budget, approved, mixed

OFFICER = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)


async def _repaid_loan(session: AsyncSession) -> tuple[Budget, Allocation, Loan]:
    """A mixed grant of 100,000.00 (loan 70,000.00) whose first annuity (instalment 5:
    4,253.26 principal + 262.50 interest) is paid."""
    world = await mixed(session, total=1_000_000)
    application = await approved(session, world, requested=100_000)
    allocation = await grant_allocation(
        session,
        data=AllocationCreate(application_id=application.id, amount=Decimal("100000.00")),
        principal=OFFICER,
    )
    await record_repayment(
        session,
        allocation_id=allocation.id,
        data=RepaymentCreate(instalment=5, amount=Decimal("4515.76"), paid_on=today()),
        principal=OFFICER,
    )
    loan = await session.scalar(select(Loan).where(Loan.allocation_id == allocation.id))
    assert loan is not None
    await session.refresh(loan)
    assert loan.repaid == Decimal("4253.26")
    return world, allocation, loan


@pytest.mark.counters_may_disagree
async def test_wecare_check_recomputes_every_fund_counter(session: AsyncSession) -> None:
    world, _allocation, loan = await _repaid_loan(session)
    connection = await session.connection()
    assert await consistency.differences(connection) == []
    for model, key in ((Measure, world.measure.id), (Programme, world.programme.id)):
        await session.execute(
            update(model)
            .where(model.id == key)
            .values(lent=Decimal("70000.01"), repaid=Decimal("4253.24"))
        )
    await session.execute(update(Loan).where(Loan.id == loan.id).values(repaid=Decimal("4253.25")))
    await session.execute(
        update(LoanInstalment)
        .where(LoanInstalment.loan_id == loan.id, LoanInstalment.number == 5)
        .values(paid=Decimal("4515.75"))
    )
    await session.execute(
        update(Measure).where(Measure.id == world.measure.id).values(allocated=Decimal("100000.00"))
    )
    found = {
        (d.table, d.column, d.stored, d.recomputed)
        for d in await consistency.differences(connection)
    }
    assert {
        ("measure", "lent_cents", 7000001, 7000000),
        # The fund's repaid sums the loans' (tampered too: each level against the next).
        ("measure", "repaid_cents", 425324, 425325),
        ("programme", "lent_cents", 7000001, 7000000),
        ("programme", "repaid_cents", 425324, 425325),
        ("loan", "repaid_cents", 425325, 425326),
        ("loan_instalment", "paid_cents", 451575, 451576),
        # allocated counts the loan net of its repaid principal: 100,000.00 - 4,253.25
        ("measure", "allocated_cents", 10000000, 9574675),
    } <= found


@pytest.mark.parametrize(
    ("table", "values", "constraint"),
    [
        ("measure", "repaid_cents = lent_cents + 1", "measure_repaid_within_lent_check"),
        ("programme", "repaid_cents = lent_cents + 1", "programme_repaid_within_lent_check"),
        ("loan", "repaid_cents = principal_cents + 1", "loan_repaid_within_principal_check"),
        (
            "loan_instalment",
            "paid_cents = principal_cents + interest_cents + 1",
            "loan_instalment_paid_within_due_check",
        ),
    ],
)
async def test_the_database_refuses_more_repaid_than_lent(
    session: AsyncSession, table: str, values: str, constraint: str
) -> None:
    """One cent past each guard, in raw SQL: refused by the CHECK the error layer maps."""
    await _repaid_loan(session)
    with pytest.raises(IntegrityError) as refused:
        async with session.begin_nested():
            await session.execute(text(f'UPDATE "{table}" SET {values}'))
    assert violated_constraint(refused.value) == constraint
    assert CONSTRAINT_ERRORS[constraint] is RepaymentExceedsInstalment


async def test_a_grant_measure_holds_no_loan(session: AsyncSession) -> None:
    world = await mixed(session, total=1_000)
    with pytest.raises(IntegrityError) as refused:
        async with session.begin_nested():
            await session.execute(
                update(Measure)
                .where(Measure.id == world.measure.id)
                .values(instrument="grant", lent=Decimal("0.01"))
            )
    assert violated_constraint(refused.value) == "measure_loans_only_mixed_check"
