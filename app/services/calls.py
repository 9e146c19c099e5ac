"""Calls for proposals: their budget share within the measure (rule 2) and their lifecycle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal, Scope
from app.core.domain import CallStatus, SelectionMethod
from app.core.errors import (
    BudgetBelowAllocated,
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidInput,
    MeasureCallsBudgetExceeded,
    NotFirstCome,
    NotFound,
    ReasonRequired,
)
from app.core.i18n import msg
from app.db.base import utcnow
from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.programme import Measure
from app.repositories import budgets
from app.repositories import calls as repo
from app.repositories import programmes as programme_repo
from app.schemas.call import CallCreate, CallQuery, CallRead, CallUpdate, call_read
from app.schemas.page import Page
from app.schemas.reference_data import CallPhaseSpec
from app.services import audit, first_come, scoring
from app.services.paging import SortKey
from app.services.programmes import lowering_caps

PUBLIC_STATUSES = [CallStatus.PUBLISHED.value, CallStatus.CLOSED.value]


def visible_statuses(principal: Principal) -> list[str]:
    """Drafts are the region's business until published."""
    if principal.has(Scope.CALLS_WRITE):
        return [s.value for s in CallStatus]
    return PUBLIC_STATUSES


CALL_ORDER = SortKey[Call](Call.code, Call.id)


async def list_calls(
    session: AsyncSession, principal: Principal, query: CallQuery
) -> Page[CallRead]:
    """Calls by code, drafts only for the region. Public."""
    visible = visible_statuses(principal)
    rows = await CALL_ORDER.fetch(
        query,
        partial(
            repo.page_calls,
            session,
            programme_id=query.programme_id,
            measure_id=query.measure_id,
            statuses=[s for s in visible if query.status is None or s == query.status],
            fund=query.fund,
            q=query.q,
        ),
    )
    ids = [c.id for c in rows[: query.limit]]
    details, grids = await repo.call_details(session, ids), await scoring.grids_read(session, ids)
    now = datetime.now(UTC)
    return CALL_ORDER.page(
        rows, query.limit, lambda c: call_read(c, *details[c.id], now, grids.get(c.id))
    )


async def load_call(session: AsyncSession, call_id: uuid.UUID, principal: Principal) -> Call:
    call = await session.get(Call, call_id)
    if call is None or call.status not in visible_statuses(principal):
        raise NotFound(msg("No call {call_id}.", call_id=call_id))
    return call


async def read_call(session: AsyncSession, call: Call) -> CallRead:
    """A call with its windows, the phase open now, its limits and its grid (four queries)."""
    phases, limits = (await repo.call_details(session, [call.id]))[call.id]
    grid = (await scoring.grids_read(session, [call.id])).get(call.id)
    return call_read(call, phases, limits, datetime.now(UTC), grid)


async def get_call(session: AsyncSession, principal: Principal, call_id: uuid.UUID) -> CallRead:
    return await read_call(session, await load_call(session, call_id, principal))


def _shares_refused(measure: Measure, requested: Decimal) -> MeasureCallsBudgetExceeded:
    return MeasureCallsBudgetExceeded(
        msg(
            "The calls of measure {measure_code} would share more than its budget.",
            measure_code=measure.code,
        ),
        cap=measure.budget,
        allocated=measure.calls_budget,
        requested=requested,
        available=measure.budget - measure.calls_budget,
    )


def _phases(call_id: uuid.UUID, specs: list[CallPhaseSpec]) -> list[CallPhase]:
    return [
        CallPhase(
            id=uuid.uuid4(),
            call_id=call_id,
            ordinal=ordinal,
            kind=spec.kind,
            opens_at=spec.opens_at,
            closes_at=spec.closes_at,
        )
        for ordinal, spec in enumerate(specs, start=1)
    ]


async def create_call(session: AsyncSession, *, data: CallCreate) -> Call:
    """Create a draft call; its budget share is reserved in the measure's counter."""
    measure = await session.get(Measure, data.measure_id)
    if measure is None:
        raise NotFound(msg("No measure {measure_id}.", measure_id=data.measure_id))
    line_id = None
    if data.line_number is not None:
        line = await programme_repo.get_line(session, measure.id, data.line_number)
        if line is None:
            raise InvalidInput(
                msg(
                    "Measure {measure_code} has no line {line_number}.",
                    measure_code=measure.code,
                    line_number=data.line_number,
                )
            )
        line_id = line.id
    if await repo.get_call_by_code(session, data.code) is not None:
        raise Conflict(msg("A call with code {data_code} exists.", data_code=data.code))
    if not await budgets.add_to_calls_budget(session, measure.id, data.budget):
        await session.refresh(measure)
        raise _shares_refused(measure, data.budget)
    call = Call(
        id=uuid.uuid4(),
        measure_id=measure.id,
        line_id=line_id,
        code=data.code,
        title_it=data.title.it,
        title_en=data.title.en,
        status=CallStatus.DRAFT,
        selection_method=data.selection_method,
        published_on=data.published_on,
        dates_note=data.dates_note,
        budget=data.budget,
        waiting_list_length=data.waiting_list_length,
        partial_last_grant=data.partial_last_grant,
    )
    _waiting_list_length(call, data.waiting_list_length)
    session.add(call)
    await session.flush()
    session.add_all(_phases(call.id, data.phases))
    session.add_all(
        CallParticipationLimit(
            id=uuid.uuid4(),
            call_id=call.id,
            legal_nature=limit.legal_nature,
            max_projects=limit.max_projects,
        )
        for limit in data.participation_limits
    )
    await session.flush()
    if data.scoring_grid is not None:
        await scoring.set_grid(session, call, data.scoring_grid)
    after = {**audit.snapshot(call), "phases": [p.model_dump() for p in data.phases]}
    if data.scoring_grid is not None:
        after["scoring_grid"] = data.scoring_grid.model_dump(mode="json")
    await audit.record(
        session, action="call.create", entity_type="call", entity_id=call.id, after=after
    )
    return call


def _call_below(call: Call, requested: object) -> BudgetBelowAllocated:
    return BudgetBelowAllocated(
        msg(
            "Call {call_code} has {allocated} allocated and {reserved} reserved.",
            call_code=call.code,
            allocated=call.allocated,
            reserved=call.reserved,
        ),
        allocated=call.allocated,
        reserved=call.reserved,
        requested=requested,
    )


def _waiting_list_length(call: Call, length: int | None) -> int | None:
    """Only a first-come call has a waiting list; it cannot be set shorter than it is (the
    CHECK ``call_waiting_within_length_check`` guards a submission racing the change)."""
    if length is None:
        return None
    if call.selection_method is not SelectionMethod.FIRST_COME:
        raise NotFirstCome(
            msg(
                "waiting_list_length is for first-come calls; call {call_code} selects "
                "by {selection_method}.",
                call_code=call.code,
                selection_method=call.selection_method,
            ),
            field="waiting_list_length",
            selection_method=call.selection_method,
        )
    waiting = call.waiting_count or 0  # None on a call not yet flushed
    if length < waiting:
        raise Conflict(
            msg(
                "{waiting} applications already wait on call {call_code}.",
                waiting=waiting,
                call_code=call.code,
            ),
            waiting_count=waiting,
            requested=length,
        )
    return length


def _require_reason(call: Call, data: CallUpdate) -> None:
    """A closed call's budget is the basis of its grants: changing it must say why."""
    changes_budget = data.budget is not None and data.budget != call.budget
    if changes_budget and call.status is CallStatus.CLOSED and not data.reason:
        raise ReasonRequired(
            msg(
                "Call {call_code} is closed: a change of its budget needs a reason, "
                "which the audit trail records.",
                call_code=call.code,
            ),
            field="reason",
            call_status=call.status,
            budget=call.budget,
            requested=data.budget,
        )


async def update_call(session: AsyncSession, call: Call, *, data: CallUpdate) -> Call:
    _require_reason(call, data)
    before = audit.snapshot(call)
    before_budget = call.budget
    budget = data.budget

    async def refusal() -> DomainError:
        await session.refresh(call)
        return _call_below(call, budget)

    previous_phases: list[dict[str, object]] = []
    previous_grid = await scoring.grid_snapshot(session, call.id) if data.scoring_grid else None
    grid_changed = False
    async with lowering_caps(session, None if budget is None else refusal):
        if data.budget is not None:
            new = data.budget
            if new < call.allocated + call.reserved:
                raise _call_below(call, data.budget)
            delta = new - call.budget
            if delta and not await budgets.add_to_calls_budget(session, call.measure_id, delta):
                measure = await session.get(Measure, call.measure_id)
                assert measure is not None
                await session.refresh(measure)
                raise _shares_refused(measure, measure.calls_budget + delta)
            call.budget = new
        if data.title is not None:
            call.title_it, call.title_en = data.title.it, data.title.en
        if "dates_note" in data.model_fields_set:
            call.dates_note = data.dates_note
        if "waiting_list_length" in data.model_fields_set:
            call.waiting_list_length = _waiting_list_length(call, data.waiting_list_length)
        if "partial_last_grant" in data.model_fields_set:
            call.partial_last_grant = data.partial_last_grant
        if data.phases is not None:
            previous_phases = [
                CallPhaseSpec.model_validate(phase, from_attributes=True).model_dump()
                for phase in await repo.list_call_phases(session, call.id)
            ]
            await repo.delete_call_phases(session, call.id)
            session.add_all(_phases(call.id, data.phases))
            call.updated_at = utcnow()  # the windows changed: a new version of the call
        if data.scoring_grid is not None:
            grid_changed = await scoring.set_grid(session, call, data.scoring_grid)
            if grid_changed:
                call.updated_at = utcnow()  # so did the grid
        await session.flush()
    # More room on a first-come call: its waiting list moves up (the call row is locked by
    # the flush above).
    more = budget is not None and budget > before_budget and first_come.applies(call)
    if more and await first_come.promote_waiting(session, call):
        await session.refresh(call)
    # Its budget or its list's length may have closed or opened it.
    await first_come.sync_closure(session, call)
    after = audit.snapshot(call)
    if data.phases is not None:
        before["phases"] = previous_phases
        after["phases"] = [p.model_dump() for p in data.phases]
    if grid_changed:
        before["scoring_grid"] = previous_grid
        after["scoring_grid"] = await scoring.grid_snapshot(session, call.id)
    await audit.record(
        session,
        action="call.update",
        entity_type="call",
        entity_id=call.id,
        before=before,
        after=after,
        reason=data.reason or None,
    )
    return call


_MOVES = {
    "publish": (CallStatus.DRAFT, CallStatus.PUBLISHED),
    "close": (CallStatus.PUBLISHED, CallStatus.CLOSED),
}


async def move_call(session: AsyncSession, call: Call, *, action: str) -> Call:
    """publish: draft -> published; close: published -> closed."""
    source, target = _MOVES[action]
    before = audit.snapshot(call)
    if call.status != source:
        raise IllegalTransition(
            msg(
                "Cannot {action} a call that is {call_status}.",
                action=action,
                call_status=call.status,
            ),
            current_status=call.status,
            attempted=action,
        )
    call.status = target
    if target is CallStatus.PUBLISHED and call.published_on is None:
        call.published_on = clock.today()
    await session.flush()
    await audit.record(
        session,
        action=f"call.{action}",
        entity_type="call",
        entity_id=call.id,
        before=before,
        after=audit.snapshot(call),
    )
    return call
