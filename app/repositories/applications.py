"""Queries on applications and allocations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.core.auth import Principal
from app.core.domain import AllocationStatus, ApplicationStage, MemberStatus
from app.db.driver import PreparedRead
from app.db.types import cents
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import LIVE_STATUSES, Application
from app.models.call import Call
from app.models.organisation import Organisation, PartnershipMember
from app.models.programme import Measure, Programme
from app.repositories import visibility
from app.repositories.paging import Order, keyset, keyset_bound, keyset_values
from app.repositories.programmes import search


def accepted_member_of(organisation_id: Any) -> Select[uuid.UUID]:
    """The partnerships the organisation has accepted to join: an invitation makes it no
    applicant (it takes no participation, freezes nothing and benefits from nothing)."""
    return select(PartnershipMember.partnership_id).where(
        PartnershipMember.organisation_id == organisation_id,
        PartnershipMember.status == MemberStatus.ACCEPTED,
    )


# An application as ApplicationRead shows it, in its fields' order, money as the stored
# cents: app.schemas.application.application_item formats the raw row.
APPLICATION_READ_COLUMNS = (
    Application.id,
    Application.call_id,
    Application.measure_id,
    Application.line_id,
    Application.applicant_organisation_id,
    Application.partnership_id,
    Application.title,
    Application.description,
    cents(Application.total_cost).label("total_cost_cents"),
    cents(Application.requested).label("requested_cents"),
    Application.thematic_area_id,
    Application.district_id,
    Application.stage,
    Application.preliminary_id,
    Application.status,
    Application.submitted_at,
    Application.decided_at,
    cents(Application.reserved).label("reserved_cents"),
    Application.waiting_position,
    Application.created_at,
    Application.updated_at,
)


def _application_by_id(visible: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return select(*APPLICATION_READ_COLUMNS).where(
        Application.id == bindparam("application_id"), visible
    )


# One statement per view shared by every caller of a kind (app.repositories.visibility),
# built once and run on the driver on PostgreSQL (app.db.driver).
_SHARED_APPLICATION_BY_ID = {
    view: PreparedRead(_application_by_id(visible))
    for view, visible in visibility.SHARED_APPLICATION_VIEWS.items()
}


async def application_row(
    session: AsyncSession, application_id: uuid.UUID, principal: Principal
) -> Sequence[Any] | None:
    """One application the principal may see, as APPLICATION_READ_COLUMNS (a raw row), or
    None. The views shared by a kind of caller run a statement built once; an applicant's
    own (it names its organisations) is built per request."""
    values: dict[str, Any] = {"application_id": application_id}
    view = visibility.shared_application_view(principal)
    if view is not None:
        if view == "reviewer":
            values["reviewer_id"] = principal.id
        rows = await _SHARED_APPLICATION_BY_ID[view].fetch(session, values)
        return rows[0] if rows else None
    query = _application_by_id(visibility.applications(principal))
    return (await session.execute(query, values)).first()


async def get_application(
    session: AsyncSession, application_id: uuid.UUID, visible: ColumnElement[bool]
) -> Application | None:
    return await session.scalar(
        select(Application).where(Application.id == application_id, visible)
    )


async def get_submission_subject(
    session: AsyncSession, application_id: uuid.UUID, visible: ColumnElement[bool]
) -> tuple[Application, Call, Measure, Organisation | None] | None:
    """The application, its call, its measure and (a single applicant's) its organisation in
    one statement: a submission's dry run reads these with no further round trip. The caller
    holds them: the identity map keeps objects weakly."""
    query = (
        select(Application, Call, Measure, Organisation)
        .join(Call, Call.id == Application.call_id)
        .join(Measure, Measure.id == Application.measure_id)
        .outerjoin(Organisation, Organisation.id == Application.applicant_organisation_id)
        .where(Application.id == application_id, visible)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


class GrantSubject(NamedTuple):
    application: Application
    measure: Measure
    programme: Programme
    call: Call
    active_allocation: uuid.UUID | None  # the application's
    district_allocation: uuid.UUID | None  # the application's district's, in this measure


async def get_grant_subject(
    session: AsyncSession, application_id: uuid.UUID, visible: ColumnElement[bool]
) -> GrantSubject | None:
    """The application, its measure, programme and call, its active allocation's id and its
    district's active allocation in the measure (if any), in one statement: a grant reads
    these and nothing else before its writes, its dry run nothing else for its caps. (The
    district is recorded on allocations only where the measure funds one project per
    district.) The caller holds the objects (the identity map keeps them weakly)."""
    active = (
        select(Allocation.id)
        .where(Allocation.application_id == Application.id, ACTIVE_ALLOCATION)
        .scalar_subquery()
    )
    in_district = (
        select(Allocation.id)
        .where(
            Allocation.measure_id == Application.measure_id,
            Allocation.district_id == Application.district_id,
            ACTIVE_ALLOCATION,
        )
        .scalar_subquery()
    )
    query = (
        select(Application, Measure, Programme, Call, active, in_district)
        .join(Measure, Measure.id == Application.measure_id)
        .join(Programme, Programme.id == Measure.programme_id)
        .join(Call, Call.id == Application.call_id)
        .where(Application.id == application_id, visible)
    )
    row = (await session.execute(query)).first()
    return None if row is None else GrantSubject(*row)


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


async def live_application_of_organisation(
    session: AsyncSession, organisation_id: uuid.UUID
) -> uuid.UUID | None:
    """A live application the organisation applies with, alone or as an accepted member of
    a partnership."""
    as_member = accepted_member_of(organisation_id)
    return await session.scalar(
        select(Application.id)
        .where(
            Application.status.in_(LIVE_STATUSES),
            or_(
                Application.applicant_organisation_id == organisation_id,
                Application.partnership_id.in_(as_member),
            ),
        )
        .limit(1)
    )


async def live_participations(
    session: AsyncSession, call_id: uuid.UUID, organisation_id: uuid.UUID, excluding: uuid.UUID
) -> int:
    """Projects of the call the organisation takes part in, alone or as an accepted member
    (an executive project and its preliminary count as one)."""
    as_member = accepted_member_of(organisation_id)
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
    programme_id: uuid.UUID | None,
    measure_id: uuid.UUID | None,
    call_id: uuid.UUID | None,
    fund: str | None,
    status: str | None,
    stage: str | None,
    district_id: uuid.UUID | None,
    organisation_id: uuid.UUID | None,
    min_requested: Decimal | None,
    max_requested: Decimal | None,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Application]:
    query = select(Application).where(visible)
    equal: list[tuple[QueryableAttribute[Any], object]] = [
        (Application.call_id, call_id),
        (Application.measure_id, measure_id),
        (Application.status, status),
        (Application.stage, stage),
        (Application.district_id, district_id),
    ]
    query = query.where(*(column == value for column, value in equal if value is not None))
    if programme_id is not None:
        query = query.where(
            Application.measure_id.in_(
                select(Measure.id).where(Measure.programme_id == programme_id)
            )
        )
    if fund is not None:
        query = query.where(
            Application.measure_id.in_(select(Measure.id).where(Measure.fund == fund))
        )
    if organisation_id is not None:
        query = query.where(
            or_(
                Application.applicant_organisation_id == organisation_id,
                Application.partnership_id.in_(accepted_member_of(organisation_id)),
            )
        )
    if min_requested is not None:
        query = query.where(Application.requested >= min_requested)
    if max_requested is not None:
        query = query.where(Application.requested <= max_requested)
    if q:
        query = query.where(search(Application.title, q))
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
            ACTIVE_ALLOCATION,
        )
    )


async def active_allocation_in_district(
    session: AsyncSession, measure_id: uuid.UUID, district_id: uuid.UUID
) -> uuid.UUID | None:
    return await session.scalar(
        select(Allocation.id).where(
            Allocation.measure_id == measure_id,
            Allocation.district_id == district_id,
            ACTIVE_ALLOCATION,
        )
    )


# The columns of a listed allocation, in the order of AllocationRead's fields. The amount is
# read as the cents it is stored as, on both paths (the driver applies no column types):
# app.schemas.application.allocation_item formats the raw rows.
ALLOCATION_LIST_COLUMNS = (
    Allocation.id,
    Allocation.application_id,
    Allocation.programme_id,
    Allocation.measure_id,
    Allocation.call_id,
    Allocation.district_id,
    cents(Allocation.amount).label("amount_cents"),
    Allocation.status,
    Allocation.granted_at,
    Allocation.granted_by,
    Allocation.revoked_at,
    Allocation.revoked_by,
    Allocation.revocation_reason,
    Allocation.cup,
    Allocation.rna_cor,
)
_ALLOCATION_FILTERS: dict[str, ColumnElement[bool]] = {
    "programme_id": Allocation.programme_id == bindparam("programme_id"),
    "measure_id": Allocation.measure_id == bindparam("measure_id"),
    "call_id": Allocation.call_id == bindparam("call_id"),
    "application_id": Allocation.application_id == bindparam("application_id"),
    "district_id": Allocation.district_id == bindparam("district_id"),
    "status": Allocation.status == bindparam("status"),
    # Money binds: the Decimal bounds go in as cents, on the driver too (its encoders).
    "min_amount": Allocation.amount >= bindparam("min_amount"),
    "max_amount": Allocation.amount <= bindparam("max_amount"),
    # The beneficiary: the applicant organisation, or a member of the applying partnership.
    "organisation_id": Allocation.application_id.in_(
        select(Application.id).where(
            or_(
                Application.applicant_organisation_id == bindparam("organisation_id"),
                Application.partnership_id.in_(accepted_member_of(bindparam("organisation_id"))),
            )
        )
    ),
    "fund": Allocation.measure_id.in_(select(Measure.id).where(Measure.fund == bindparam("fund"))),
}


def _allocation_filters(
    query: Select[*tuple[Any, ...]], names: frozenset[str]
) -> Select[*tuple[Any, ...]]:
    return query.where(*(_ALLOCATION_FILTERS[name] for name in sorted(names)))


@lru_cache(maxsize=2048)
def _shared_allocation_page(
    view: str, names: frozenset[str], order: Order, after: bool
) -> PreparedRead:
    query = select(*ALLOCATION_LIST_COLUMNS).where(visibility.SHARED_ALLOCATION_VIEWS[view])
    return PreparedRead(keyset_bound(_allocation_filters(query, names), order, after=after))


@lru_cache(maxsize=1024)
def _shared_allocation_count(view: str, names: frozenset[str]) -> PreparedRead:
    query = select(func.count()).select_from(Allocation)
    return PreparedRead(
        _allocation_filters(query.where(visibility.SHARED_ALLOCATION_VIEWS[view]), names)
    )


def _present(filters: dict[str, Any]) -> dict[str, Any]:
    unknown = filters.keys() - _ALLOCATION_FILTERS.keys()
    if unknown:
        raise ValueError(f"unknown allocation filters: {sorted(unknown)}")
    return {name: value for name, value in filters.items() if value is not None}


# The active allocations of one call, measure or programme are already counted: the cap
# counters' funded_projects move in the same transaction as every grant and revocation
# (rules 2-3; `wecare check` verifies them against the rows).
_COUNTED_BY: dict[str, PreparedRead] = {
    "call_id": PreparedRead(select(Call.funded_projects).where(Call.id == bindparam("call_id"))),
    "measure_id": PreparedRead(
        select(Measure.funded_projects).where(Measure.id == bindparam("measure_id"))
    ),
    "programme_id": PreparedRead(
        select(Programme.funded_projects).where(Programme.id == bindparam("programme_id"))
    ),
}


def _counted_by(view: str | None, values: dict[str, Any]) -> str | None:
    """The filter whose counter row holds the total: active allocations only (the public
    view, or status=active) of exactly one call, measure or programme."""
    rest = dict(values)
    active = rest.pop("status", None) == AllocationStatus.ACTIVE or (
        view == "public" and "status" not in values
    )
    if not active or len(rest) != 1:
        return None
    (name,) = rest
    return name if name in _COUNTED_BY else None


async def count_allocations(
    session: AsyncSession, *, principal: Principal, filters: dict[str, Any]
) -> int:
    """How many allocations the list would walk: from the cap counter where one holds the
    figure (a call's, measure's or programme's active allocations: one row read instead of
    counting up to a million), else by COUNT."""
    values = _present(filters)
    view = visibility.shared_allocation_view(principal)
    if (counter := _counted_by(view, values)) is not None:
        rows = await _COUNTED_BY[counter].fetch(session, {counter: values[counter]})
        return int(rows[0][0]) if rows else 0
    if view is not None:
        rows = await _shared_allocation_count(view, frozenset(values)).fetch(session, values)
        return int(rows[0][0])
    query = select(func.count()).select_from(Allocation).where(visibility.allocations(principal))
    return int(await session.scalar(_allocation_filters(query, frozenset(values)), values) or 0)


async def page_allocations(
    session: AsyncSession,
    *,
    principal: Principal,
    filters: dict[str, Any],
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> Sequence[Sequence[Any]]:
    """Plain tuples of ALLOCATION_LIST_COLUMNS, ``limit + 1`` at most (keyset on ``order``).
    The views shared by every caller of a kind run a statement built once per shape on the
    driver; an applicant's own view is built per request."""
    values = _present(filters)
    params = values | keyset_values(after, limit)
    view = visibility.shared_allocation_view(principal)
    if view is not None:
        prepared = _shared_allocation_page(view, frozenset(values), order, after is not None)
        return await prepared.fetch(session, params)
    query = select(*ALLOCATION_LIST_COLUMNS).where(visibility.allocations(principal))
    query = keyset_bound(
        _allocation_filters(query, frozenset(values)), order, after=after is not None
    )
    return list(await session.execute(query, params))


async def count_states_of_programme(
    session: AsyncSession, programme_code: str
) -> tuple[dict[str, int], dict[str, int]]:
    """A programme's applications per status and its allocations per status."""
    programme = select(Programme.id).where(Programme.code == programme_code).scalar_subquery()
    in_programme = select(Measure.id).where(Measure.programme_id == programme)
    apps = await session.execute(
        select(Application.status, func.count())
        .where(Application.measure_id.in_(in_programme))
        .group_by(Application.status)
    )
    grants = await session.execute(
        select(Allocation.status, func.count())
        .where(Allocation.programme_id == programme)
        .group_by(Allocation.status)
    )
    return (
        {str(status): n for status, n in apps.all()},
        {str(status): n for status, n in grants.all()},
    )
