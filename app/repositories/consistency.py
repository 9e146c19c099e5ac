"""Recompute every counter from the rows it summarises.

In the database's own units: money as the integer cents the columns store (``cents``), and
a difference names the column, as `wecare check` reports it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute

from app.core.domain import SelectionMethod
from app.db.types import cents
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.call import Call
from app.models.loan import Loan, LoanInstalment, LoanRepayment
from app.models.payment import ClaimLine, ExpenditureClaim, Payment, Recovery, RecoveryReceipt
from app.models.programme import Measure, Programme
from app.repositories import first_come


@dataclass(frozen=True)
class Difference:
    table: str
    code: str
    column: str
    stored: int
    recomputed: int

    def __str__(self) -> str:
        return (
            f"{self.table} {self.code}: {self.column} is {self.stored}, "
            f"the rows say {self.recomputed}"
        )


def _active_sums(key: QueryableAttribute[uuid.UUID]) -> Select[uuid.UUID, int, int]:
    """Per ``key``: what active allocations hold (their amounts less the principal repaid on
    their loans: the mixed instrument's fund revolves, app.services.loans) and their count;
    and what every allocation still has due back from a revocation after payment (held
    until recovered, app.services.recoveries)."""
    held = cents(Allocation.amount) - func.coalesce(cents(Loan.repaid), 0)
    outstanding = cents(Allocation.due) - cents(Allocation.recovered)
    return (
        select(
            key,
            func.coalesce(func.sum(case((ACTIVE_ALLOCATION, held), else_=0) + outstanding), 0),
            func.coalesce(func.sum(case((ACTIVE_ALLOCATION, 1), else_=0)), 0),
        )
        .outerjoin(Loan, Loan.allocation_id == Allocation.id)
        .group_by(key)
    )


async def _sums(
    connection: AsyncConnection, key: QueryableAttribute[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    rows = await connection.execute(_active_sums(key))
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def _compare(
    table: str,
    rows: list[tuple[uuid.UUID, str, int, int]],
    sums: dict[uuid.UUID, tuple[int, int]],
) -> list[Difference]:
    found: list[Difference] = []
    for row_id, code, stored_amount, stored_count in rows:
        amount, count = sums.get(row_id, (0, 0))
        if stored_amount != amount:
            found.append(Difference(table, code, "allocated_cents", stored_amount, amount))
        if stored_count != count:
            found.append(Difference(table, code, "funded_projects", stored_count, count))
    return found


async def differences(connection: AsyncConnection) -> list[Difference]:
    """Every counter that disagrees with the allocations, measures and calls (empty = sound)."""
    programmes = (
        await connection.execute(
            select(
                Programme.id,
                Programme.code,
                cents(Programme.allocated),
                Programme.funded_projects,
                cents(Programme.measures_budget),
            )
        )
    ).all()
    measures = (
        await connection.execute(
            select(
                Measure.id,
                Measure.code,
                cents(Measure.allocated),
                Measure.funded_projects,
                cents(Measure.calls_budget),
                Measure.programme_id,
                cents(Measure.budget),
            )
        )
    ).all()
    calls = (
        await connection.execute(
            select(
                Call.id,
                Call.code,
                cents(Call.allocated),
                Call.funded_projects,
                Call.measure_id,
                cents(Call.budget),
            )
        )
    ).all()
    found = [
        *_compare(
            "programme",
            [(p[0], p[1], p[2], p[3]) for p in programmes],
            await _sums(connection, Allocation.programme_id),
        ),
        *_compare(
            "measure",
            [(m[0], m[1], m[2], m[3]) for m in measures],
            await _sums(connection, Allocation.measure_id),
        ),
        *_compare(
            "call",
            [(c[0], c[1], c[2], c[3]) for c in calls],
            await _sums(connection, Allocation.call_id),
        ),
    ]
    found.extend(await _queue_differences(connection))
    found.extend(await _fund_differences(connection))
    found.extend(await _funding_differences(connection))
    for p in programmes:
        budgeted = sum(m[6] for m in measures if m[5] == p[0])
        if p[4] != budgeted:
            found.append(Difference("programme", p[1], "measures_budget_cents", p[4], budgeted))
    for m in measures:
        shared = sum(c[5] for c in calls if c[4] == m[0])
        if m[4] != shared:
            found.append(Difference("measure", m[1], "calls_budget_cents", m[4], shared))
    return found


async def _queue_differences(connection: AsyncConnection) -> list[Difference]:
    """First-come calls: ``reserved_cents`` is the sum of the applications' reservations,
    ``waiting_count`` the number of applications waiting, and their positions run 1..n;
    ``closed_at`` is set exactly when the counters say the call is closed for submissions."""
    closed = case(
        (first_come.CLOSED & (Call.selection_method == SelectionMethod.FIRST_COME), 1), else_=0
    )
    calls = (
        await connection.execute(
            select(
                Call.id,
                Call.code,
                cents(Call.reserved),
                Call.waiting_count,
                case((Call.closed_at.is_not(None), 1), else_=0),
                closed,
            )
        )
    ).all()
    held = {
        row[0]: (int(row[1]), int(row[2]), int(row[3] or 0), int(row[4] or 0))
        for row in await connection.execute(
            select(
                Application.call_id,
                func.coalesce(func.sum(cents(Application.reserved)), 0),
                func.count(Application.waiting_position),
                func.max(Application.waiting_position),
                func.count(func.distinct(Application.waiting_position)),
            ).group_by(Application.call_id)
        )
    }
    found: list[Difference] = []
    for call_id, code, reserved, waiting, recorded, closed_now in calls:
        if recorded != closed_now:  # closed_at set (1) or not (0), against the counters
            found.append(Difference("call", code, "closed_at is set", recorded, closed_now))
        amount, count, last, distinct = held.get(call_id, (0, 0, 0, 0))
        if reserved != amount:
            found.append(Difference("call", code, "reserved_cents", reserved, amount))
        if waiting != count:
            found.append(Difference("call", code, "waiting_count", waiting, count))
        if last != count or distinct != count:
            found.append(Difference("call", code, "last waiting_position", last, count))
    return found


async def _fund_differences(connection: AsyncConnection) -> list[Difference]:
    """The mixed instrument: a loan's ``repaid_cents`` is the principal of its repayments,
    each instalment's ``paid_cents`` the amounts paid on it, principal + grant part the
    allocation's amount; a measure's and a programme's ``lent_cents`` the principal of the
    loans of active allocations and ``repaid_cents`` what is repaid on them."""
    found: list[Difference] = []
    repayments = {
        row[0]: int(row[1])
        for row in await connection.execute(
            select(LoanRepayment.loan_id, func.sum(cents(LoanRepayment.principal))).group_by(
                LoanRepayment.loan_id
            )
        )
    }
    loans = (
        await connection.execute(
            select(
                Loan.id,
                Allocation.id,
                cents(Loan.repaid),
                cents(Loan.principal) + cents(Loan.grant_part),
                cents(Allocation.amount),
            ).join(Allocation, Allocation.id == Loan.allocation_id)
        )
    ).all()
    for loan_id, allocation_id, repaid, parts, amount in loans:
        code = str(allocation_id)
        if repaid != repayments.get(loan_id, 0):
            found.append(
                Difference("loan", code, "repaid_cents", repaid, repayments.get(loan_id, 0))
            )
        if parts != amount:
            found.append(Difference("loan", code, "principal_cents + grant_cents", parts, amount))
    paid = {
        row[0]: int(row[1])
        for row in await connection.execute(
            select(LoanRepayment.instalment_id, func.sum(cents(LoanRepayment.amount))).group_by(
                LoanRepayment.instalment_id
            )
        )
    }
    # Only instalments with something paid, or with repayments, can disagree.
    stored: dict[uuid.UUID, tuple[uuid.UUID | None, int | None, int]] = {
        row[0]: (row[1], row[2], int(row[3]))
        for row in await connection.execute(
            select(
                LoanInstalment.id,
                LoanInstalment.loan_id,
                LoanInstalment.number,
                cents(LoanInstalment.paid),
            ).where(cents(LoanInstalment.paid) != 0)
        )
    }
    for instalment_id in stored.keys() | paid.keys():
        owner, number, held = stored.get(instalment_id, (None, None, 0))
        if held != paid.get(instalment_id, 0):
            code = f"{owner or instalment_id} #{number or '?'}"
            found.append(
                Difference("loan_instalment", code, "paid_cents", held, paid.get(instalment_id, 0))
            )
    for model, key in ((Programme, Loan.programme_id), (Measure, Loan.measure_id)):
        sums = {
            row[0]: (int(row[1]), int(row[2]))
            for row in await connection.execute(
                select(key, func.sum(cents(Loan.principal)), func.sum(cents(Loan.repaid)))
                .join(Allocation, Allocation.id == Loan.allocation_id)
                .where(ACTIVE_ALLOCATION)
                .group_by(key)
            )
        }
        table = model.__tablename__
        for row_id, code, lent, repaid in await connection.execute(
            select(model.id, model.code, cents(model.lent), cents(model.repaid))
        ):
            want_lent, want_repaid = sums.get(row_id, (0, 0))
            if lent != want_lent:
                found.append(Difference(table, code, "lent_cents", lent, want_lent))
            if repaid != want_repaid:
                found.append(Difference(table, code, "repaid_cents", repaid, want_repaid))
    return found


_FUNDING = (
    "claimed_cents",
    "verified_cents",
    "advanced_cents",
    "paid_cents",
    "due_cents",
    "recovered_cents",
)


async def _recovery_differences(connection: AsyncConnection) -> list[Difference]:
    """A recovery's ``recovered`` is its receipts'."""
    receipt, recovery = _table(RecoveryReceipt), _table(Recovery)
    received = await _by_key(
        connection,
        select(receipt.c.recovery_id, _sum(cents(receipt.c.amount_cents))).group_by(
            receipt.c.recovery_id
        ),
    )
    return [
        Difference("recovery", str(row[0]), "recovered_cents", int(row[1]), want)
        for row in await connection.execute(
            select(recovery.c.id, cents(recovery.c.recovered_cents))
        )
        if int(row[1]) != (want := received.get(row[0], (0,))[0])
    ]


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _raw(table: Table, name: str) -> ColumnElement[Any]:
    """A column as stored: money in integer cents (a Money column would read euros)."""
    column = table.c[name]
    return cents(column) if name.endswith("_cents") else column


def _sum(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


async def _by_key(connection: AsyncConnection, query: Select[Any]) -> dict[Any, tuple[int, ...]]:
    return {row[0]: tuple(int(v) for v in row[1:]) for row in await connection.execute(query)}


def _compare_columns(
    table: str, code: str, columns: Sequence[str], stored: Sequence[Any], rows: Sequence[int]
) -> list[Difference]:
    return [
        Difference(table, code, column, int(have), want)
        for column, have, want in zip(columns, stored, rows, strict=True)
        if int(have) != want
    ]


async def _funding_differences(connection: AsyncConnection) -> list[Difference]:
    """Issue 16. A claim's amount, verified amount and line counts are its lines'; an
    allocation's claimed is its submitted claims', verified its checked lines', advanced
    and paid its payments'; a call's, measure's and programme's are their allocations'."""
    line, claim, payment = _table(ClaimLine), _table(ExpenditureClaim), _table(Payment)
    allocation = _table(Allocation)
    found: list[Difference] = []
    of_lines = await _by_key(
        connection,
        select(
            line.c.claim_id,
            _sum(cents(line.c.amount_cents)),
            _sum(cents(line.c.verified_cents)),
            func.count(line.c.id),
            func.count(line.c.checked_by),
        ).group_by(line.c.claim_id),
    )
    claim_columns = ("amount_cents", "verified_cents", "line_count", "checked_lines")
    for row in await connection.execute(
        select(claim.c.id, *(_raw(claim, c) for c in claim_columns))
    ):
        found += _compare_columns(
            "expenditure_claim",
            str(row[0]),
            claim_columns,
            row[1:],
            of_lines.get(row[0], (0, 0, 0, 0)),
        )
    claimed = await _by_key(
        connection,
        select(claim.c.allocation_id, _sum(cents(claim.c.amount_cents)))
        .where(claim.c.status == "submitted")
        .group_by(claim.c.allocation_id),
    )
    checked = await _by_key(
        connection,
        select(line.c.allocation_id, _sum(cents(line.c.verified_cents))).group_by(
            line.c.allocation_id
        ),
    )
    paid = await _by_key(
        connection,
        select(
            payment.c.allocation_id,
            _sum(case((payment.c.kind == "advance", cents(payment.c.amount_cents)), else_=0)),
            _sum(cents(payment.c.amount_cents)),
        ).group_by(payment.c.allocation_id),
    )
    found += await _recovery_differences(connection)
    recovery = _table(Recovery)
    owed = await _by_key(
        connection,
        select(
            recovery.c.allocation_id,
            _sum(cents(recovery.c.due_cents)),
            _sum(cents(recovery.c.recovered_cents)),
        ).group_by(recovery.c.allocation_id),
    )
    allocations = (
        await connection.execute(
            select(
                allocation.c.id,
                allocation.c.programme_id,
                allocation.c.measure_id,
                allocation.c.call_id,
                *(cents(allocation.c[c]) for c in _FUNDING),
            )
        )
    ).all()
    for row in allocations:
        recomputed = (
            *claimed.get(row[0], (0,)),
            *checked.get(row[0], (0,)),
            *paid.get(row[0], (0, 0)),
            *owed.get(row[0], (0, 0)),
        )
        found += _compare_columns("allocation", str(row[0]), _FUNDING, row[4:], recomputed)
    for index, model in ((1, Programme), (2, Measure), (3, Call)):
        sums: dict[Any, list[int]] = {}
        for row in allocations:
            total = sums.setdefault(row[index], [0] * len(_FUNDING))
            for i, value in enumerate(row[4:]):
                total[i] += int(value)
        table = _table(model)
        for row in await connection.execute(
            select(table.c.id, table.c.code, *(cents(table.c[c]) for c in _FUNDING))
        ):
            found += _compare_columns(
                table.name, row[1], _FUNDING, row[2:], sums.get(row[0], [0] * len(_FUNDING))
            )
    return found
