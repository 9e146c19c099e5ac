"""Queries of indicators, targets, project dates and monitoring reports (issue 20)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import ReportStatus
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.indicator import (
    Indicator,
    IndicatorTargets,
    MonitoringReport,
    MonitoringTerms,
    ProjectSchedule,
)
from app.models.programme import Measure
from app.repositories.paging import Order, keyset


async def list_indicators(session: AsyncSession, measure_id: uuid.UUID) -> Sequence[Indicator]:
    rows = await session.scalars(
        select(Indicator).where(Indicator.measure_id == measure_id).order_by(Indicator.ordinal)
    )
    return rows.all()


async def indicators_of_programme(
    session: AsyncSession, programme_id: uuid.UUID
) -> Sequence[Indicator]:
    """A programme's indicators, by measure and ordinal."""
    rows = await session.scalars(
        select(Indicator)
        .join(Measure, Measure.id == Indicator.measure_id)
        .where(Measure.programme_id == programme_id)
        .order_by(Measure.ordinal, Indicator.ordinal)
    )
    return rows.all()


async def get_monitoring_terms(
    session: AsyncSession, measure_id: uuid.UUID
) -> MonitoringTerms | None:
    return await session.scalar(
        select(MonitoringTerms).where(MonitoringTerms.measure_id == measure_id)
    )


async def get_targets(session: AsyncSession, application_id: uuid.UUID) -> IndicatorTargets | None:
    return await session.scalar(
        select(IndicatorTargets).where(IndicatorTargets.application_id == application_id)
    )


async def get_schedule(session: AsyncSession, allocation_id: uuid.UUID) -> ProjectSchedule | None:
    return await session.scalar(
        select(ProjectSchedule).where(ProjectSchedule.allocation_id == allocation_id)
    )


async def last_revision(session: AsyncSession, allocation_id: uuid.UUID, period: int) -> int:
    """The latest revision of a period's report (0: none filed)."""
    found = await session.scalar(
        select(func.max(MonitoringReport.revision)).where(
            MonitoringReport.allocation_id == allocation_id, MonitoringReport.period == period
        )
    )
    return int(found or 0)


async def get_report(
    session: AsyncSession, report_id: uuid.UUID, visible: ColumnElement[bool]
) -> MonitoringReport | None:
    return await session.scalar(
        select(MonitoringReport)
        .join(Allocation, Allocation.id == MonitoringReport.allocation_id)
        .where(MonitoringReport.id == report_id, visible)
    )


async def page_reports(
    session: AsyncSession,
    *,
    allocation_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[MonitoringReport]:
    query = select(MonitoringReport).where(MonitoringReport.allocation_id == allocation_id)
    return list(await session.scalars(keyset(query, order, after, limit)))


def _accepted_final() -> ColumnElement[bool]:
    return exists().where(
        MonitoringReport.allocation_id == ProjectSchedule.allocation_id,
        MonitoringReport.final.is_(True),
        MonitoringReport.status == ReportStatus.ACCEPTED,
    )


SCHEDULE_COLUMNS = (
    ProjectSchedule.allocation_id,
    ProjectSchedule.starts_on,
    ProjectSchedule.planned_end_on,
    ProjectSchedule.actual_end_on,
    ProjectSchedule.created_at,
    ProjectSchedule.id,
)


async def page_schedules(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID | None,
    overdue_on: date | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Row[Any]]:
    """Funded projects' dates (SCHEDULE_COLUMNS) and whether an accepted final report
    exists. ``overdue_on``: only active projects past their planned end on that day
    without one."""
    query = select(*SCHEDULE_COLUMNS, _accepted_final().label("final_accepted")).join(
        Allocation, Allocation.id == ProjectSchedule.allocation_id
    )
    if programme_id is not None:
        query = query.where(Allocation.programme_id == programme_id)
    if overdue_on is not None:
        query = query.where(
            ACTIVE_ALLOCATION, ProjectSchedule.planned_end_on < overdue_on, ~_accepted_final()
        )
    return list(await session.execute(keyset(query, order, after, limit)))  # type: ignore[arg-type]


async def final_accepted(session: AsyncSession, allocation_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(MonitoringReport.id)
        .where(
            MonitoringReport.allocation_id == allocation_id,
            MonitoringReport.final.is_(True),
            MonitoringReport.status == ReportStatus.ACCEPTED,
        )
        .limit(1)
    )
    return found is not None


async def accepted_reports(
    session: AsyncSession, programme_id: uuid.UUID, measure_id: uuid.UUID | None = None
) -> Sequence[Row[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID | None, int, int, dict[str, Any]]]:
    """Every accepted report revision of the programme's active grants: (allocation,
    measure, call, district, period, revision, figures)."""
    query = (
        select(
            Allocation.id,
            Allocation.measure_id,
            Allocation.call_id,
            Allocation.district_id,
            MonitoringReport.period,
            MonitoringReport.revision,
            MonitoringReport.figures,
        )
        .join(Allocation, Allocation.id == MonitoringReport.allocation_id)
        .where(
            Allocation.programme_id == programme_id,
            ACTIVE_ALLOCATION,
            MonitoringReport.status == ReportStatus.ACCEPTED,
        )
    )
    if measure_id is not None:
        query = query.where(Allocation.measure_id == measure_id)
    return (await session.execute(query)).all()


async def funded_targets(
    session: AsyncSession, programme_id: uuid.UUID
) -> Sequence[Row[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID | None, dict[str, Any]]]:
    """The targets of the programme's active grants: (allocation, measure, call, district,
    figures)."""
    query = (
        select(
            Allocation.id,
            Allocation.measure_id,
            Allocation.call_id,
            Allocation.district_id,
            IndicatorTargets.figures,
        )
        .join(
            IndicatorTargets,
            and_(IndicatorTargets.application_id == Allocation.application_id),
        )
        .where(Allocation.programme_id == programme_id, ACTIVE_ALLOCATION)
    )
    return (await session.execute(query)).all()
