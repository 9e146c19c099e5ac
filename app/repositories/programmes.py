"""Queries on the programme aggregate: programmes, measures, lines, phases, themes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.db.driver import PreparedRead
from app.db.types import cents
from app.models.document import DocumentKind, DocumentRetention
from app.models.payment import PaymentTerms
from app.models.programme import Measure, MeasureLine, MeasurePhase, Programme, ThematicArea
from app.repositories.paging import Order, keyset

# A programme as ProgrammeRead shows it, in its fields' order (``available`` is computed from
# the two before it), money as the stored cents: app.schemas.programme.programme_item
# formats the raw row. Built once, run on the driver on PostgreSQL (app.db.driver).
PROGRAMME_READ_COLUMNS = (
    Programme.id,
    Programme.code,
    Programme.name_it,
    Programme.name_en,
    Programme.description_it,
    Programme.description_en,
    Programme.currency,
    Programme.responsible_office,
    Programme.legal_basis,
    Programme.approved_on,
    cents(Programme.total_budget).label("total_budget_cents"),
    cents(Programme.measures_budget).label("measures_budget_cents"),
    cents(Programme.allocated).label("allocated_cents"),
    Programme.funded_projects,
    Programme.created_at,
    Programme.updated_at,
)
_PROGRAMME_BY_ID = PreparedRead(
    select(*PROGRAMME_READ_COLUMNS).where(Programme.id == bindparam("programme_id"))
)


async def programme_row(session: AsyncSession, programme_id: uuid.UUID) -> Sequence[Any] | None:
    """One programme as PROGRAMME_READ_COLUMNS (a raw row), or None."""
    rows = await _PROGRAMME_BY_ID.fetch(session, {"programme_id": programme_id})
    return rows[0] if rows else None


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


async def get_payment_terms(session: AsyncSession, measure_id: uuid.UUID) -> PaymentTerms | None:
    return await session.scalar(select(PaymentTerms).where(PaymentTerms.measure_id == measure_id))


async def list_document_kinds(session: AsyncSession, measure_id: uuid.UUID) -> list[DocumentKind]:
    rows = await session.scalars(
        select(DocumentKind)
        .where(DocumentKind.measure_id == measure_id)
        .order_by(DocumentKind.ordinal)
    )
    return list(rows)


async def get_document_retention(
    session: AsyncSession, programme_id: uuid.UUID
) -> DocumentRetention | None:
    return await session.scalar(
        select(DocumentRetention).where(DocumentRetention.programme_id == programme_id)
    )
