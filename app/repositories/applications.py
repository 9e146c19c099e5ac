"""Queries on applications and allocations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import AllocationStatus, ApplicationStage
from app.models.allocation import Allocation
from app.models.application import LIVE_STATUSES, Application
from app.models.call import Call
from app.models.organisation import PartnershipMember
from app.models.programme import Measure
from app.repositories.paging import keyset
from app.repositories.programmes import search


async def get_application(
    session: AsyncSession, application_id: uuid.UUID, visible: ColumnElement[bool]
) -> Application | None:
    return await session.scalar(
        select(Application).where(Application.id == application_id, visible)
    )


async def lock_call(session: AsyncSession, call_id: uuid.UUID) -> Call | None:
    """Serialise submissions to one call (row lock on PostgreSQL; SQLite's writers queue)."""
    return await session.scalar(
        select(Call)
        .where(Call.id == call_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def live_in_district_slot(
    session: AsyncSession, measure_id: uuid.UUID, district_id: uuid.UUID
) -> uuid.UUID | None:
    return await session.scalar(
        select(Application.id).where(
            Application.measure_id == measure_id,
            Application.district_slot_id == district_id,
            Application.status.in_(LIVE_STATUSES),
        )
    )


async def live_participations(
    session: AsyncSession, call_id: uuid.UUID, organisation_id: uuid.UUID, excluding: uuid.UUID
) -> int:
    """Projects of the call the organisation takes part in (an executive project and its
    preliminary count as one)."""
    as_member = select(PartnershipMember.partnership_id).where(
        PartnershipMember.organisation_id == organisation_id
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Application)
        .where(
            Application.call_id == call_id,
            Application.id != excluding,
            Application.stage != ApplicationStage.EXECUTIVE,
            Application.status.in_(LIVE_STATUSES),
            or_(
                Application.applicant_organisation_id == organisation_id,
                Application.partnership_id.in_(as_member),
            ),
        )
    )
    return int(count or 0)


async def page_applications(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    filters: dict[str, Any],
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Application]:
    query = select(Application).where(visible)
    for name in ("call_id", "measure_id", "status", "stage", "district_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(Application, name) == filters[name])
    if filters.get("programme_id") is not None:
        query = query.where(
            Application.measure_id.in_(
                select(Measure.id).where(Measure.programme_id == filters["programme_id"])
            )
        )
    if filters.get("organisation_id") is not None:
        org = filters["organisation_id"]
        query = query.where(
            or_(
                Application.applicant_organisation_id == org,
                Application.partnership_id.in_(
                    select(PartnershipMember.partnership_id).where(
                        PartnershipMember.organisation_id == org
                    )
                ),
            )
        )
    if filters.get("min_requested_cents") is not None:
        query = query.where(Application.requested_cents >= filters["min_requested_cents"])
    if filters.get("max_requested_cents") is not None:
        query = query.where(Application.requested_cents <= filters["max_requested_cents"])
    if filters.get("q"):
        query = query.where(search(Application.title, filters["q"]))
    order = (Application.created_at, Application.id)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def get_allocation(
    session: AsyncSession, allocation_id: uuid.UUID, visible: ColumnElement[bool]
) -> Allocation | None:
    return await session.scalar(select(Allocation).where(Allocation.id == allocation_id, visible))


async def active_allocation_of(
    session: AsyncSession, application_id: uuid.UUID
) -> uuid.UUID | None:
    return await session.scalar(
        select(Allocation.id).where(
            Allocation.application_id == application_id,
            Allocation.status == AllocationStatus.ACTIVE,
        )
    )


async def active_allocation_in_district(
    session: AsyncSession, measure_id: uuid.UUID, district_id: uuid.UUID
) -> uuid.UUID | None:
    return await session.scalar(
        select(Allocation.id).where(
            Allocation.measure_id == measure_id,
            Allocation.district_id == district_id,
            Allocation.status == AllocationStatus.ACTIVE,
        )
    )


_ALLOCATION_EQUALS = ("programme_id", "measure_id", "call_id", "application_id", "status")


def _allocation_filters(query: Select[Any], filters: dict[str, Any]) -> Select[Any]:
    for name in (*_ALLOCATION_EQUALS, "district_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(Allocation, name) == filters[name])
    if filters.get("min_amount_cents") is not None:
        query = query.where(Allocation.amount_cents >= filters["min_amount_cents"])
    if filters.get("max_amount_cents") is not None:
        query = query.where(Allocation.amount_cents <= filters["max_amount_cents"])
    return query


async def count_allocations(
    session: AsyncSession, *, visible: ColumnElement[bool], filters: dict[str, Any]
) -> int:
    query = select(func.count()).select_from(Allocation).where(visible)
    return int(await session.scalar(_allocation_filters(query, filters)) or 0)


async def page_allocations(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    filters: dict[str, Any],
    after: tuple[Any, ...] | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """Plain rows of the allocation's columns (no ORM identity map on the hot list)."""
    query = _allocation_filters(select(*Allocation.__table__.c).where(visible), filters)
    order = (Allocation.granted_at, Allocation.id)
    rows: Sequence[Row[Any]] = (await session.execute(keyset(query, order, after, limit))).all()
    return rows
