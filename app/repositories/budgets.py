"""The budget counters, changed by one conditional UPDATE each.

Concurrent writers queue on the counter row; the WHERE clause is evaluated against the
committed value, so a cap can never be overshot. Always in the order programme -> measure
-> call, so that two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import uuid

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.call import Call
from app.models.programme import Measure, Programme


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def add_to_measures_budget(
    session: AsyncSession, programme_id: uuid.UUID, cents: int
) -> bool:
    """Programme: the measures' budgets grow (or shrink) by ``cents`` within the total."""
    new = Programme.measures_budget_cents + cents
    result = await session.execute(
        update(Programme)
        .where(Programme.id == programme_id, new <= Programme.total_budget_cents, new >= 0)
        .values(measures_budget_cents=new)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_calls_budget(session: AsyncSession, measure_id: uuid.UUID, cents: int) -> bool:
    """Measure: the calls' budget shares grow (or shrink) by ``cents`` within its budget."""
    new = Measure.calls_budget_cents + cents
    result = await session.execute(
        update(Measure)
        .where(Measure.id == measure_id, new <= Measure.budget_cents, new >= 0)
        .values(calls_budget_cents=new)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def reserve_in_programme(session: AsyncSession, programme_id: uuid.UUID, cents: int) -> bool:
    new = Programme.allocated_cents + cents
    result = await session.execute(
        update(Programme)
        .where(Programme.id == programme_id, new <= Programme.total_budget_cents)
        .values(allocated_cents=new, funded_projects=Programme.funded_projects + 1)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def reserve_in_measure(session: AsyncSession, measure_id: uuid.UUID, cents: int) -> bool:
    new = Measure.allocated_cents + cents
    result = await session.execute(
        update(Measure)
        .where(
            Measure.id == measure_id,
            new <= Measure.budget_cents,
            Measure.max_funded_projects.is_(None)
            | (Measure.funded_projects + 1 <= Measure.max_funded_projects),
        )
        .values(allocated_cents=new, funded_projects=Measure.funded_projects + 1)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def reserve_in_call(session: AsyncSession, call_id: uuid.UUID, cents: int) -> bool:
    new = Call.allocated_cents + cents
    result = await session.execute(
        update(Call)
        .where(Call.id == call_id, new <= Call.budget_cents)
        .values(allocated_cents=new, funded_projects=Call.funded_projects + 1)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def release(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    cents: int,
) -> None:
    """A revoked allocation frees its amount and its project slot, in the same order."""
    for model, key in ((Programme, programme_id), (Measure, measure_id), (Call, call_id)):
        await session.execute(
            update(model)
            .where(model.id == key)
            .values(
                allocated_cents=model.allocated_cents - cents,
                funded_projects=model.funded_projects - 1,
            )
            .execution_options(synchronize_session=False)
        )
