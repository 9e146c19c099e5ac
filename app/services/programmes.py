"""Programmes and measures: creation and changes within the budget caps (rules 1 and 2)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.domain import Instrument
from app.core.errors import (
    BudgetBelowAllocated,
    Conflict,
    DomainError,
    MeasureCallsBudgetExceeded,
    NotFound,
    NotMixedInstrument,
    ProgrammeMeasuresBudgetExceeded,
)
from app.core.i18n import msg
from app.core.money import ZERO
from app.db.guards import violated_constraint
from app.models.programme import Measure, Programme
from app.repositories import budgets
from app.repositories import programmes as repo
from app.schemas.common import ReadJson, read_json
from app.schemas.page import Page
from app.schemas.programme import (
    MeasureCreate,
    MeasureQuery,
    MeasureRead,
    MeasureUpdate,
    ProgrammeCreate,
    ProgrammeQuery,
    ProgrammeRead,
    ProgrammeUpdate,
    measure_read,
    programme_item,
)
from app.schemas.reference_data import MeasureSpec
from app.services import audit
from app.services.lookup import load
from app.services.paging import SortKey
from app.services.reference_data import LoadReport, RowWriter, write_lines, write_measure

PROGRAMME_ORDER = SortKey[Programme](Programme.code, Programme.id)
MEASURE_ORDER = SortKey[Measure](Measure.code, Measure.id)


async def list_programmes(
    session: AsyncSession, principal: Principal, query: ProgrammeQuery
) -> Page[ProgrammeRead]:
    """Programmes by code, with their budget figures. Public."""
    rows = partial(repo.page_programmes, session, q=query.q)
    return await PROGRAMME_ORDER.page_of(query, rows, ProgrammeRead.model_validate)


async def load_programme(session: AsyncSession, programme_id: uuid.UUID) -> Programme:
    return await load(session, Programme, programme_id, msg("programme"))


async def read_programme(session: AsyncSession, programme: Programme) -> ProgrammeRead:
    return ProgrammeRead.model_validate(programme)


async def get_programme(
    session: AsyncSession, principal: Principal, programme_id: uuid.UUID
) -> ReadJson:
    """A programme by id, public. Already serialised: one statement built once, its raw row
    formatted without a model (the same bytes as ProgrammeRead)."""
    row = await repo.programme_row(session, programme_id)
    if row is None:
        raise NotFound(msg("No programme {programme_id}.", programme_id=programme_id))
    return read_json(programme_item(row))


async def list_measures(
    session: AsyncSession, principal: Principal, query: MeasureQuery
) -> Page[MeasureRead]:
    """Measures by code with budgets, caps, eligibility and lines. Public."""
    rows = await MEASURE_ORDER.fetch(
        query,
        partial(
            repo.page_measures, session, programme_id=query.programme_id, fund=query.fund, q=query.q
        ),
    )
    details = await repo.measure_details(session, [m.id for m in rows[: query.limit]])
    return MEASURE_ORDER.page(rows, query.limit, lambda m: measure_read(m, *details[m.id]))


async def load_measure(session: AsyncSession, measure_id: uuid.UUID) -> Measure:
    return await load(session, Measure, measure_id, msg("measure"))


async def read_measure(session: AsyncSession, measure: Measure) -> MeasureRead:
    """A measure with its lines, phases and themes (three queries)."""
    details = await repo.measure_details(session, [measure.id])
    return measure_read(measure, *details[measure.id])


async def get_measure(
    session: AsyncSession, principal: Principal, measure_id: uuid.UUID
) -> MeasureRead:
    return await read_measure(session, await load_measure(session, measure_id))


async def create_programme(session: AsyncSession, *, data: ProgrammeCreate) -> Programme:
    if await repo.get_programme_by_code(session, data.code) is not None:
        raise Conflict(msg("A programme with code {data_code} exists.", data_code=data.code))
    programme = Programme(
        id=uuid.uuid4(),
        **data.model_dump(),
        currency="EUR",
        principles=[],
    )
    session.add(programme)
    await session.flush()
    await audit.record(
        session,
        action="programme.create",
        entity_type="programme",
        entity_id=programme.id,
        after=audit.snapshot(programme),
    )
    return programme


# The counter CHECKs that hold a cap above what grants have used. A lowered budget that
# passed the service's check can still meet one of them: a grant committed between the read
# and the write (its UPDATE held the row, ours waited and then saw its allocation).
_BELOW_USED = frozenset(
    {
        "programme_allocated_within_total_check",
        "measure_allocated_within_budget_check",
        "measure_funded_within_max_check",
        "call_allocated_within_budget_check",
        "call_reserved_within_budget_check",
    }
)


@asynccontextmanager
async def lowering_caps(
    session: AsyncSession, refusal: Callable[[], Awaitable[DomainError]] | None
) -> AsyncIterator[None]:
    """Around the change and flush of a cap: if a grant in flight used what it lowers, refuse
    as the service does (``budget_below_allocated``, with the figures read after that grant)
    rather than with the CHECK's own rule. The changes go into a savepoint, so that the
    transaction is still usable to read the figures; no ``refusal``, no savepoint."""
    if refusal is None:
        yield
        return
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as error:
        if violated_constraint(error) not in _BELOW_USED:
            raise
        raise await refusal() from error


def _programme_below(programme: Programme, requested: object) -> BudgetBelowAllocated:
    floor = max(programme.allocated, programme.measures_budget)
    return BudgetBelowAllocated(
        msg(
            "The total cannot go below {floor}: that much is already given to "
            "measures or allocated.",
            floor=floor,
        ),
        allocated=programme.allocated,
        measures_budget=programme.measures_budget,
        requested=requested,
    )


async def update_programme(
    session: AsyncSession, programme: Programme, *, data: ProgrammeUpdate
) -> Programme:
    before = audit.snapshot(programme)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"total_budget"})
    if data.total_budget is not None:
        if data.total_budget < max(programme.allocated, programme.measures_budget):
            raise _programme_below(programme, data.total_budget)
        changes["total_budget"] = data.total_budget

    async def refusal() -> DomainError:
        await session.refresh(programme)
        return _programme_below(programme, data.total_budget)

    async with lowering_caps(session, None if data.total_budget is None else refusal):
        for key, value in changes.items():
            setattr(programme, key, value)
        await session.flush()  # the version column turns a concurrent change into a 412
    await audit.record(
        session,
        action="programme.update",
        entity_type="programme",
        entity_id=programme.id,
        before=before,
        after=audit.snapshot(programme),
    )
    return programme


def _budget_refused(programme: Programme, requested: Decimal) -> ProgrammeMeasuresBudgetExceeded:
    return ProgrammeMeasuresBudgetExceeded(
        msg(
            "The measures' budgets would exceed the total of programme {programme_code}.",
            programme_code=programme.code,
        ),
        cap=programme.total_budget,
        allocated=programme.measures_budget,
        requested=requested,
        available=programme.total_budget - programme.measures_budget,
    )


async def create_measure(session: AsyncSession, *, data: MeasureCreate) -> Measure:
    """Create a measure with its lines, phases and themes, reserving its budget (rule 1)."""
    programme = await load_programme(session, data.programme_id)
    if any(m.code == data.code for m in await repo.list_measures(session, programme.id)):
        raise Conflict(
            msg(
                "Programme {programme_code} already has a measure {data_code}.",
                programme_code=programme.code,
                data_code=data.code,
            )
        )
    spec = MeasureSpec.model_validate(data.model_dump(exclude={"programme_id"}))
    if not await budgets.add_to_measures_budget(session, programme.id, spec.budget):
        await session.refresh(programme)
        raise _budget_refused(programme, spec.budget)
    loader = RowWriter(session, LoadReport(programme.code))
    ordinal = len(await repo.list_measures(session, programme.id)) + 1
    measure = await write_measure(loader, programme, None, ordinal, spec, calls_budget=ZERO)
    lines = await write_lines(loader, measure, spec.lines)
    await audit.record(
        session,
        action="measure.create",
        entity_type="measure",
        entity_id=measure.id,
        after={**audit.snapshot(measure), "lines": [audit.snapshot(line) for line in lines]},
    )
    return measure


def _measure_below(measure: Measure, requested: object) -> BudgetBelowAllocated:
    return BudgetBelowAllocated(
        msg(
            "Measure {measure_code} has {allocated} allocated.",
            measure_code=measure.code,
            allocated=measure.allocated,
        ),
        allocated=measure.allocated,
        requested=requested,
    )


def _measure_full(measure: Measure, requested: int) -> BudgetBelowAllocated:
    return BudgetBelowAllocated(
        msg(
            "Measure {measure_code} already funds {funded_projects} projects.",
            measure_code=measure.code,
            funded_projects=measure.funded_projects,
        ),
        funded_projects=measure.funded_projects,
        requested=requested,
    )


async def update_measure(
    session: AsyncSession, measure: Measure, *, data: MeasureUpdate
) -> Measure:
    """Change a measure; a new budget stays within the programme and above what is used."""
    before = audit.snapshot(measure)

    async def refusal() -> DomainError:
        await session.refresh(measure)
        if data.budget is not None and data.budget < measure.allocated:
            return _measure_below(measure, data.budget)
        assert data.max_funded_projects is not None
        return _measure_full(measure, data.max_funded_projects)

    lowers = data.budget is not None or data.max_funded_projects is not None
    async with lowering_caps(session, refusal if lowers else None):
        if data.budget is not None:
            new = data.budget
            if new < measure.allocated:
                raise _measure_below(measure, data.budget)
            if new < measure.calls_budget:
                raise MeasureCallsBudgetExceeded(
                    msg(
                        "The calls of measure {measure_code} already share {calls_budget}.",
                        measure_code=measure.code,
                        calls_budget=measure.calls_budget,
                    ),
                    cap=data.budget,
                    requested=measure.calls_budget,
                )
            delta = new - measure.budget
            programme_id = measure.programme_id
            if delta and not await budgets.add_to_measures_budget(session, programme_id, delta):
                programme = await load_programme(session, measure.programme_id)
                await session.refresh(programme)
                raise _budget_refused(programme, programme.measures_budget + delta)
            measure.budget = new
        if data.max_funded_projects is not None:
            if data.max_funded_projects < measure.funded_projects:
                raise _measure_full(measure, data.max_funded_projects)
            measure.max_funded_projects = data.max_funded_projects
        if data.mixed_terms is not None:
            if measure.instrument != Instrument.MIXED:
                raise NotMixedInstrument(
                    msg(
                        "Measure {measure_code} is a {instrument} measure: it has no loan terms.",
                        measure_code=measure.code,
                        instrument=measure.instrument,
                    ),
                    instrument=measure.instrument,
                )
            measure.loan_terms = data.mixed_terms.model_dump(mode="json")
        if data.cofinancing is not None:
            measure.eu_share_bp = data.cofinancing.eu_share_bp
            measure.national_share_bp = data.cofinancing.national_share_bp
            measure.regional_share_bp = data.cofinancing.regional_share_bp
        for field in ("title", "objective", "beneficiaries", "notes"):
            text = getattr(data, field)
            if text is not None:
                setattr(measure, f"{field}_it", text.it)
                setattr(measure, f"{field}_en", text.en)
        await session.flush()
    await session.refresh(measure)
    await audit.record(
        session,
        action="measure.update",
        entity_type="measure",
        entity_id=measure.id,
        before=before,
        after=audit.snapshot(measure),
    )
    await session.refresh(measure)  # answered as stored, whatever the audit record touched
    return measure
