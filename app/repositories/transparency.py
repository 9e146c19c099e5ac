"""Queries behind the public transparency register and the programme budget report.

The register is read with one statement per page (or per export batch): the allocation
joined to its application, beneficiary, programme, measure and call, columns only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.domain import (
    ApplicationStage,
    MemberRole,
    SelectionMethod,
)
from app.core.money import ZERO
from app.db.types import cents
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import LIVE_STATUSES, Application
from app.models.call import Call
from app.models.loan import Loan
from app.models.organisation import Organisation, Partnership, PartnershipMember
from app.models.programme import Measure, Programme
from app.repositories.paging import Order, keyset
from app.repositories.programmes import search


@dataclass(frozen=True)
class GrantFilters:
    """What the public may filter the register by; bounds are inclusive (``awarded_before``
    is exclusive: the instant after the last day asked for)."""

    programme_id: uuid.UUID | None = None
    measure_id: uuid.UUID | None = None
    call_id: uuid.UUID | None = None
    awarded_from: datetime | None = None
    awarded_before: datetime | None = None
    q: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None


@dataclass(frozen=True)
class GrantRow:
    """One active allocation with everything the register publishes about it."""

    allocation_id: uuid.UUID
    granted_at: datetime
    amount: Decimal
    paid: Decimal  # issue 16: what has been paid of it
    project_title: str
    project_description: str
    # The applicant organisation, or the lead of the applying partnership.
    organisation_id: uuid.UUID | None
    legal_name: str | None
    tax_code: str | None
    partnership_name: str | None
    programme_id: uuid.UUID
    programme_code: str
    programme_name: str
    programme_legal_basis: str
    responsible_office: str
    measure_id: uuid.UUID
    measure_code: str
    measure_title: str
    call_id: uuid.UUID
    call_code: str
    call_title: str
    selection_method: SelectionMethod
    cup: str | None = None


_applicant = aliased(Organisation, name="applicant")
_lead = aliased(Organisation, name="lead")
_lead_member = aliased(PartnershipMember, name="lead_member")


def _grants(filters: GrantFilters) -> Select[*tuple[Any, ...]]:
    query: Select[*tuple[Any, ...]] = (
        select(
            Allocation.id.label("allocation_id"),
            Allocation.granted_at,
            Allocation.amount,
            Allocation.paid,
            Application.title.label("project_title"),
            Application.description.label("project_description"),
            _applicant.id.label("applicant_id"),
            _applicant.legal_name.label("applicant_name"),
            _applicant.tax_code.label("applicant_tax_code"),
            _lead.id.label("lead_id"),
            _lead.legal_name.label("lead_name"),
            _lead.tax_code.label("lead_tax_code"),
            Partnership.name.label("partnership_name"),
            Programme.id.label("programme_id"),
            Programme.code.label("programme_code"),
            Programme.name_it.label("programme_name"),
            Programme.legal_basis.label("programme_legal_basis"),
            Programme.responsible_office,
            Measure.id.label("measure_id"),
            Measure.code.label("measure_code"),
            Measure.title_it.label("measure_title"),
            Call.id.label("call_id"),
            Call.code.label("call_code"),
            Call.title_it.label("call_title"),
            Call.selection_method,
            Allocation.cup,
        )
        .select_from(Allocation)
        .join(Application, Application.id == Allocation.application_id)
        .join(Programme, Programme.id == Allocation.programme_id)
        .join(Measure, Measure.id == Allocation.measure_id)
        .join(Call, Call.id == Allocation.call_id)
        .outerjoin(_applicant, _applicant.id == Application.applicant_organisation_id)
        .outerjoin(Partnership, Partnership.id == Application.partnership_id)
        .outerjoin(
            _lead_member,
            and_(
                _lead_member.partnership_id == Application.partnership_id,
                _lead_member.role == MemberRole.LEAD,
            ),
        )
        .outerjoin(_lead, _lead.id == _lead_member.organisation_id)
        # Revoked allocations are never published.
        .where(ACTIVE_ALLOCATION)
    )
    for column, value in (
        (Allocation.programme_id, filters.programme_id),
        (Allocation.measure_id, filters.measure_id),
        (Allocation.call_id, filters.call_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.awarded_from is not None:
        query = query.where(Allocation.granted_at >= filters.awarded_from)
    if filters.awarded_before is not None:
        query = query.where(Allocation.granted_at < filters.awarded_before)
    if filters.min_amount is not None:
        query = query.where(Allocation.amount >= filters.min_amount)
    if filters.max_amount is not None:
        query = query.where(Allocation.amount <= filters.max_amount)
    if filters.q:
        query = query.where(
            or_(
                search(_applicant.legal_name, filters.q),
                search(_lead.legal_name, filters.q),
                search(Partnership.name, filters.q),
            )
        )
    return query


def _grant_row(row: Any) -> GrantRow:
    lead = row.applicant_id is None
    return GrantRow(
        allocation_id=row.allocation_id,
        granted_at=row.granted_at,
        amount=row.amount,
        paid=row.paid,
        project_title=row.project_title,
        project_description=row.project_description,
        organisation_id=row.lead_id if lead else row.applicant_id,
        legal_name=row.lead_name if lead else row.applicant_name,
        tax_code=row.lead_tax_code if lead else row.applicant_tax_code,
        partnership_name=row.partnership_name,
        programme_id=row.programme_id,
        programme_code=row.programme_code,
        programme_name=row.programme_name,
        programme_legal_basis=row.programme_legal_basis,
        responsible_office=row.responsible_office,
        measure_id=row.measure_id,
        measure_code=row.measure_code,
        measure_title=row.measure_title,
        call_id=row.call_id,
        call_code=row.call_code,
        call_title=row.call_title,
        selection_method=row.selection_method,
        cup=row.cup,
    )


async def page_grants(
    session: AsyncSession,
    *,
    filters: GrantFilters,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[GrantRow]:
    """``limit + 1`` published grants after ``after`` in ``order``: one statement."""
    result = await session.execute(keyset(_grants(filters), order, after, limit))
    return [_grant_row(row) for row in result]


async def get_grant(session: AsyncSession, allocation_id: uuid.UUID) -> GrantRow | None:
    """The published grant of an active allocation; None when unknown or revoked."""
    filtered = _grants(GrantFilters()).where(Allocation.id == allocation_id)
    row = (await session.execute(filtered)).one_or_none()
    return None if row is None else _grant_row(row)


# The budget report.


async def live_applications_by_district(
    session: AsyncSession, measure_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Live applications per (measure, district); an executive project and its preliminary
    count as one."""
    if not measure_ids:
        return {}
    rows = await session.execute(
        select(Application.measure_id, Application.district_id, func.count(Application.id))
        .where(
            Application.measure_id.in_(measure_ids),
            Application.district_id.is_not(None),
            Application.status.in_(LIVE_STATUSES),
            Application.stage != ApplicationStage.EXECUTIVE,
        )
        .group_by(Application.measure_id, Application.district_id)
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for measure_id, district_id, count in rows:
        if district_id is not None:
            found[(measure_id, district_id)] = int(count)
    return found


async def active_allocations_by_district(
    session: AsyncSession, measure_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[Decimal, int]]:
    """(allocated, funded projects) per (measure, district), active allocations only."""
    if not measure_ids:
        return {}
    rows = await session.execute(
        select(
            Allocation.measure_id,
            Allocation.district_id,
            func.coalesce(func.sum(Allocation.amount), ZERO),
            func.count(Allocation.id),
        )
        .where(
            Allocation.measure_id.in_(measure_ids),
            Allocation.district_id.is_not(None),
            ACTIVE_ALLOCATION,
        )
        .group_by(Allocation.measure_id, Allocation.district_id)
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], tuple[Decimal, int]] = {}
    for measure_id, district_id, amount, count in rows:
        if district_id is not None:
            found[(measure_id, district_id)] = (amount, int(count))
    return found


# After the grant (issue 16): granted, accepted, claimed, verified, advanced and paid;
# recovered and outstanding (due back from revocations after payment, not yet recovered).
FUNDING_FIGURES = (
    "granted",
    "accepted",
    "claimed",
    "verified",
    "advanced",
    "paid",
    "recovered",
    "outstanding",
)


# The mixed instrument's fund figures the rows add after FUNDING_FIGURES.
FUND_FIGURES = ("lent", "repaid")


async def funding_by_call_and_district(
    session: AsyncSession, programme_id: uuid.UUID
) -> dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None], tuple[Decimal, ...]]:
    """FUNDING_FIGURES then FUND_FIGURES per (measure, call, district) of the programme's
    allocations: granted and accepted count active grants; claimed, verified, advanced and
    paid every grant (as the counters do: a lapsed grant was never paid); lent and repaid
    the loans of active grants (as a measure's ``lent`` and ``repaid`` do). One statement;
    sums in cents."""
    active = ACTIVE_ALLOCATION
    accepted = and_(active, Allocation.accepted_at.is_not(None))
    amount = cents(Allocation.amount)
    rows = await session.execute(
        select(
            Allocation.measure_id,
            Allocation.call_id,
            Allocation.district_id,
            func.sum(case((active, amount), else_=0)),
            func.sum(case((accepted, amount), else_=0)),
            *(func.sum(cents(getattr(Allocation, f))) for f in FUNDING_FIGURES[2:7]),
            func.sum(cents(Allocation.due) - cents(Allocation.recovered)),
            *(
                func.sum(case((active, func.coalesce(cents(getattr(Loan, f)), 0)), else_=0))
                for f in ("principal", "repaid")
            ),
        )
        .outerjoin(Loan, Loan.allocation_id == Allocation.id)
        .where(Allocation.programme_id == programme_id)
        .group_by(Allocation.measure_id, Allocation.call_id, Allocation.district_id)
    )
    return {
        (row[0], row[1], row[2]): tuple(Decimal(int(v or 0)).scaleb(-2) for v in row[3:])
        for row in rows
    }
