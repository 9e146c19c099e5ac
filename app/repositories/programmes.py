"""Queries on the programme and call aggregates."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.organisation import District
from app.models.programme import Measure, MeasureLine, MeasurePhase, Programme, ThematicArea
from app.repositories.paging import Order, keyset


async def get_programme_by_code(session: AsyncSession, code: str) -> Programme | None:
    return await session.scalar(select(Programme).where(Programme.code == code))


async def list_measures(session: AsyncSession, programme_id: uuid.UUID) -> list[Measure]:
    rows = await session.scalars(
        select(Measure).where(Measure.programme_id == programme_id).order_by(Measure.ordinal)
    )
    return list(rows)


async def list_lines(session: AsyncSession, measure_id: uuid.UUID) -> list[MeasureLine]:
    rows = await session.scalars(
        select(MeasureLine).where(MeasureLine.measure_id == measure_id).order_by(MeasureLine.number)
    )
    return list(rows)


async def list_measure_phases(session: AsyncSession, measure_id: uuid.UUID) -> list[MeasurePhase]:
    rows = await session.scalars(
        select(MeasurePhase)
        .where(MeasurePhase.measure_id == measure_id)
        .order_by(MeasurePhase.ordinal)
    )
    return list(rows)


async def list_thematic_areas(session: AsyncSession, measure_id: uuid.UUID) -> list[ThematicArea]:
    rows = await session.scalars(
        select(ThematicArea)
        .where(ThematicArea.measure_id == measure_id)
        .order_by(ThematicArea.ordinal)
    )
    return list(rows)


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


def search(column: QueryableAttribute[str], q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match, with LIKE's wildcards escaped."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


async def page_programmes(
    session: AsyncSession,
    *,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Programme]:
    query = select(Programme)
    if q:
        query = query.where(or_(search(Programme.name_it, q), search(Programme.name_en, q)))
    return list(await session.scalars(keyset(query, order, after, limit)))


async def page_measures(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID | None,
    fund: str | None,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Measure]:
    query = select(Measure)
    if programme_id is not None:
        query = query.where(Measure.programme_id == programme_id)
    if fund is not None:
        query = query.where(Measure.fund == fund)
    if q:
        query = query.where(or_(search(Measure.title_it, q), search(Measure.title_en, q)))
    return list(await session.scalars(keyset(query, order, after, limit)))


MeasureDetails = tuple[list[MeasureLine], list[MeasurePhase], list[ThematicArea]]


async def measure_details(
    session: AsyncSession, measure_ids: list[uuid.UUID]
) -> dict[uuid.UUID, MeasureDetails]:
    """Lines, phases and themes of several measures in three queries, whatever their number."""
    found: dict[uuid.UUID, MeasureDetails] = {m: ([], [], []) for m in measure_ids}
    if not measure_ids:
        return found
    for line in await session.scalars(
        select(MeasureLine)
        .where(MeasureLine.measure_id.in_(measure_ids))
        .order_by(MeasureLine.number)
    ):
        found[line.measure_id][0].append(line)
    for phase in await session.scalars(
        select(MeasurePhase)
        .where(MeasurePhase.measure_id.in_(measure_ids))
        .order_by(MeasurePhase.ordinal)
    ):
        found[phase.measure_id][1].append(phase)
    for area in await session.scalars(
        select(ThematicArea)
        .where(ThematicArea.measure_id.in_(measure_ids))
        .order_by(ThematicArea.ordinal)
    ):
        found[area.measure_id][2].append(area)
    return found


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


async def page_districts(
    session: AsyncSession,
    *,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[District]:
    query = select(District)
    if q:
        query = query.where(search(District.name, q))
    return list(await session.scalars(keyset(query, order, after, limit)))


async def get_line(session: AsyncSession, measure_id: uuid.UUID, number: int) -> MeasureLine | None:
    return await session.scalar(
        select(MeasureLine).where(
            MeasureLine.measure_id == measure_id, MeasureLine.number == number
        )
    )


async def get_thematic_area(
    session: AsyncSession, measure_id: uuid.UUID, code: str
) -> ThematicArea | None:
    return await session.scalar(
        select(ThematicArea).where(ThematicArea.measure_id == measure_id, ThematicArea.code == code)
    )


async def delete_call_phases(session: AsyncSession, call_id: uuid.UUID) -> None:
    await session.execute(delete(CallPhase).where(CallPhase.call_id == call_id))


async def district_code_taken(session: AsyncSession, code: str) -> bool:
    return await session.scalar(select(District.id).where(District.code == code)) is not None
