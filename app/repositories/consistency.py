"""Recompute every counter from the rows it summarises.

In the database's own units: money as the integer cents the columns store (``cents``), and
a difference names the column, as `wecare check` reports it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute

from app.core.domain import SelectionMethod
from app.db.types import cents
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.call import Call
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
    return (
        select(key, func.coalesce(func.sum(cents(Allocation.amount)), 0), func.count(Allocation.id))
        .where(ACTIVE_ALLOCATION)
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
