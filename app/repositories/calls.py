"""Queries on the call aggregate: calls, their phase windows and participation limits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.programme import Measure
from app.repositories.paging import Order, keyset
from app.repositories.programmes import search


async def list_calls_of_programme(session: AsyncSession, programme_id: uuid.UUID) -> list[Call]:
    rows = await session.scalars(
        select(Call)
        .join(Measure, Measure.id == Call.measure_id)
        .where(Measure.programme_id == programme_id)
        .order_by(Call.code)
    )
    return list(rows)


async def get_call_by_code(session: AsyncSession, code: str) -> Call | None:
    return await session.scalar(select(Call).where(Call.code == code))


async def get_call_with_measure(session: AsyncSession, call_id: uuid.UUID) -> Call | None:
    """The call, its measure loaded with it in one statement (a later ``session.get`` of the
    measure is answered from the identity map): a dry run's reads, kept few."""
    query = select(Call, Measure).join(Measure, Measure.id == Call.measure_id)
    row = (await session.execute(query.where(Call.id == call_id))).first()
    return None if row is None else row[0]


async def list_call_phases(session: AsyncSession, call_id: uuid.UUID) -> list[CallPhase]:
    rows = await session.scalars(
        select(CallPhase).where(CallPhase.call_id == call_id).order_by(CallPhase.ordinal)
    )
    return list(rows)


async def list_participation_limits(
    session: AsyncSession, call_id: uuid.UUID
) -> list[CallParticipationLimit]:
    rows = await session.scalars(
        select(CallParticipationLimit).where(CallParticipationLimit.call_id == call_id)
    )
    return list(rows)


async def page_calls(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID | None,
    measure_id: uuid.UUID | None,
    statuses: list[str],
    fund: str | None,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Call]:
    query = select(Call).where(Call.status.in_(statuses))
    if measure_id is not None:
        query = query.where(Call.measure_id == measure_id)
    if programme_id is not None or fund is not None:
        query = query.join(Measure, Measure.id == Call.measure_id)
        if programme_id is not None:
            query = query.where(Measure.programme_id == programme_id)
        if fund is not None:
            query = query.where(Measure.fund == fund)
    if q:
        query = query.where(or_(search(Call.title_it, q), search(Call.title_en, q)))
    return list(await session.scalars(keyset(query, order, after, limit)))


CallDetails = tuple[list[CallPhase], list[CallParticipationLimit]]


async def call_details(
    session: AsyncSession, call_ids: list[uuid.UUID]
) -> dict[uuid.UUID, CallDetails]:
    """Phases and participation limits of several calls in two queries."""
    found: dict[uuid.UUID, CallDetails] = {c: ([], []) for c in call_ids}
    if not call_ids:
        return found
    for phase in await session.scalars(
        select(CallPhase).where(CallPhase.call_id.in_(call_ids)).order_by(CallPhase.ordinal)
    ):
        found[phase.call_id][0].append(phase)
    for limit in await session.scalars(
        select(CallParticipationLimit).where(CallParticipationLimit.call_id.in_(call_ids))
    ):
        found[limit.call_id][1].append(limit)
    return found


async def delete_call_phases(session: AsyncSession, call_id: uuid.UUID) -> None:
    await session.execute(delete(CallPhase).where(CallPhase.call_id == call_id))
