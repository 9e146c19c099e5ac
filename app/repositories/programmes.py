"""Queries on the programme and call aggregates."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.programme import Measure, MeasureLine, MeasurePhase, Programme, ThematicArea


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
