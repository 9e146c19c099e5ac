"""The budget counters, changed by one conditional UPDATE each.

Concurrent writers queue on the counter row; the WHERE clause is evaluated against the
committed value, so a cap can never be overshot. Always in the order programme -> measure
-> call, so that two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import ColumnElement, CursorResult, Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.money import ZERO
from app.db.types import Money
from app.models.call import Call
from app.models.programme import Measure, Programme


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def add_to_measures_budget(
    session: AsyncSession, programme_id: uuid.UUID, amount: Decimal
) -> bool:
    """Programme: the measures' budgets grow (or shrink) by ``amount`` within the total."""
    new = Programme.measures_budget + amount  # amount is bound as Money: cents in the SQL
    result = await session.execute(
        update(Programme)
        .where(Programme.id == programme_id, new <= Programme.total_budget, new >= ZERO)
        .values({Programme.measures_budget: new})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_calls_budget(
    session: AsyncSession, measure_id: uuid.UUID, amount: Decimal
) -> bool:
    """Measure: the calls' budget shares grow (or shrink) by ``amount`` within its budget."""
    new = Measure.calls_budget + amount
    result = await session.execute(
        update(Measure)
        .where(Measure.id == measure_id, new <= Measure.budget, new >= ZERO)
        .values({Measure.calls_budget: new})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


# Each counter row's cap column.
_CAP = {"programme": "total_budget_cents", "measure": "budget_cents", "call": "budget_cents"}


def _reserve(table: Table, *extra: ColumnElement[bool]) -> Update:
    """``allocated += :amount, funded_projects += 1`` on the row ``:key``, only while the cap
    (and any ``extra`` condition) still holds. Built once: a grant runs three of these, and
    building and keying them per request cost more than executing them. ``:amount`` is a
    Money bind: the Decimal goes in as cents, so the SQL compares cents with cents."""
    grown = table.c.allocated_cents + bindparam("amount", type_=Money())
    return (
        update(table)
        .where(table.c.id == bindparam("key"), grown <= table.c[_CAP[table.name]], *extra)
        .values(allocated_cents=grown, funded_projects=table.c.funded_projects + 1)
    )


def _table(model: type[Programme | Measure | Call]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_MEASURE = _table(Measure)
_RESERVE_IN_PROGRAMME = _reserve(_table(Programme))
_RESERVE_IN_MEASURE = _reserve(
    _MEASURE,
    _MEASURE.c.max_funded_projects.is_(None)
    | (_MEASURE.c.funded_projects + 1 <= _MEASURE.c.max_funded_projects),
)
_CALL = _table(Call)
# A first-come call's reservations count against its budget with the allocations.
_RESERVE_IN_CALL = _reserve(
    _CALL,
    _CALL.c.allocated_cents + _CALL.c.reserved_cents + bindparam("amount", type_=Money())
    <= _CALL.c.budget_cents,
)


async def reserve_in_programme(
    session: AsyncSession, programme_id: uuid.UUID, amount: Decimal
) -> bool:
    result = await session.execute(_RESERVE_IN_PROGRAMME, {"key": programme_id, "amount": amount})
    return _changed(result)


async def reserve_in_measure(session: AsyncSession, measure_id: uuid.UUID, amount: Decimal) -> bool:
    result = await session.execute(_RESERVE_IN_MEASURE, {"key": measure_id, "amount": amount})
    return _changed(result)


async def reserve_in_call(session: AsyncSession, call_id: uuid.UUID, amount: Decimal) -> bool:
    result = await session.execute(_RESERVE_IN_CALL, {"key": call_id, "amount": amount})
    return _changed(result)


async def release(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    amount: Decimal,
    projects: int = 1,
) -> None:
    """A revoked allocation frees its amount and its project slot, in the same order (a
    partial revocation frees part of the amount, and no slot: ``projects=0``)."""
    for model, key in ((Programme, programme_id), (Measure, measure_id), (Call, call_id)):
        await session.execute(
            update(model)
            .where(model.id == key)
            .values(
                {
                    model.allocated: model.allocated - amount,
                    model.funded_projects: model.funded_projects - projects,
                }
            )
            .execution_options(synchronize_session=False)
        )
