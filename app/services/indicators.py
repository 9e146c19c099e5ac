"""Indicators (issue 20): targets set by an application, a funded project's dates and
periodic monitoring reports (versioned, checked by the region), the programme's totals of
accepted reports, and the public totals with small cells suppressed."""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal
from app.core.domain import AllocationStatus, ApplicationStatus, ReportStatus
from app.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    MonitoringPeriodNotGiven,
    NotFound,
    ProjectDatesNotSet,
    ReportAlreadyChecked,
    ReportPeriodInvalid,
    ReportSuperseded,
)
from app.core.i18n import msg
from app.models.allocation import Allocation
from app.models.indicator import Indicator, IndicatorTargets, MonitoringReport, ProjectSchedule
from app.models.programme import Measure, Programme
from app.repositories import calls as call_repo
from app.repositories import districts as district_repo
from app.repositories import indicators as repo
from app.repositories import payments as payment_repo
from app.repositories import programmes as programme_repo
from app.repositories import visibility
from app.schemas.indicator import (
    Grouping,
    IndicatorRead,
    IndicatorTotal,
    IndicatorTotalsRead,
    PublicCell,
    PublicIndicator,
    PublicIndicatorsRead,
    ReportCheck,
    ReportCreate,
    ReportQuery,
    ReportRead,
    ScheduleQuery,
    ScheduleRead,
    ScheduleSet,
    TargetsRead,
    TargetsSet,
)
from app.schemas.page import Page
from app.services import applications, audit, indicator_rules
from app.services.paging import SortKey

REPORT_ORDER = SortKey[MonitoringReport](MonitoringReport.created_at, MonitoringReport.id)
SCHEDULE_ORDER = SortKey[Any](
    ProjectSchedule.created_at,
    ProjectSchedule.id,
    row_columns=repo.SCHEDULE_COLUMNS,
)

# A cell of an indicator: (code, None, None) is its total, (code, breakdown, category) one
# category of a breakdown.
Cell = tuple[str, str | None, str | None]


def indicator_read(indicator: Indicator) -> IndicatorRead:
    return IndicatorRead.model_validate(
        {
            **{name: getattr(indicator, name) for name in IndicatorRead.model_fields},
            "breakdowns": [
                {
                    "code": b["code"],
                    "title_it": b["title"]["it"],  # type: ignore[index]
                    "title_en": b["title"]["en"],  # type: ignore[index]
                    "categories": b["categories"],
                }
                for b in indicator.breakdowns
            ],
        }
    )


def _state(row: IndicatorTargets | ProjectSchedule) -> dict[str, Any]:
    """A part of an application or a grant as its event records it: the row's own id
    left out (the event names the application or the grant)."""
    return {k: v for k, v in audit.snapshot(row).items() if k != "id"}


# Targets.


async def _targets_read(
    session: AsyncSession, application_id: uuid.UUID, measure_id: uuid.UUID
) -> TargetsRead:
    indicators = await repo.list_indicators(session, measure_id)
    targets = await repo.get_targets(session, application_id)
    figures = targets.figures if targets is not None else {}
    required = indicator_rules.required_codes(indicators)
    return TargetsRead.model_validate(
        {
            "application_id": application_id,
            "figures": figures,
            "required": required,
            "missing": [code for code in required if code not in figures],
            "updated_at": targets.updated_at if targets is not None else None,
        }
    )


async def get_targets(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID
) -> TargetsRead:
    """An application's targets, to whoever may see the application (404 otherwise)."""
    application = await applications.load_application(session, application_id, principal)
    return await _targets_read(session, application.id, application.measure_id)


async def set_targets(
    session: AsyncSession, application_id: uuid.UUID, *, data: TargetsSet, principal: Principal
) -> TargetsRead:
    """Set (replace) a draft application's targets for its measure's indicators."""
    application = await applications.load_application(session, application_id, principal)
    await applications.require_lead(session, application, principal)
    if application.status != ApplicationStatus.DRAFT:
        raise IllegalTransition(
            msg("Targets are set on a draft only."),
            current_status=application.status,
            attempted="set_targets",
        )
    figures = data.model_dump(mode="json")["figures"]
    indicator_rules.check_figures(
        await repo.list_indicators(session, application.measure_id), figures, complete=False
    )
    targets = await repo.get_targets(session, application.id)
    before = _state(targets) if targets is not None else None
    if targets is None:
        targets = IndicatorTargets(
            id=uuid.uuid4(), application_id=application.id, figures=figures, set_by=principal.actor
        )
        session.add(targets)
    else:
        targets.figures, targets.set_by = figures, principal.actor
    await session.flush()
    await audit.record(
        session,
        action="application.set_indicator_targets",
        entity_type="application",
        entity_id=application.id,
        before=before,
        after=_state(targets),
    )
    return await _targets_read(session, application.id, application.measure_id)


# Project dates.


async def _load_allocation(
    session: AsyncSession, allocation_id: uuid.UUID, principal: Principal
) -> Allocation:
    """A grant whose monitoring the principal may see: the region's and the beneficiary's
    (404 to anyone else, as a missing one)."""
    allocation = await session.scalar(
        payment_repo.select_allocation(allocation_id, visibility.funding_records(principal))
    )
    if allocation is None:
        raise NotFound(msg("No allocation {allocation_id}.", allocation_id=allocation_id))
    return allocation


def _must_be_active(allocation: Allocation, attempted: str) -> None:
    if allocation.status != AllocationStatus.ACTIVE:
        raise IllegalTransition(
            msg("The grant is not active."),
            current_status=allocation.status,
            attempted=attempted,
        )


def _schedule_read(schedule: ProjectSchedule, final_accepted: bool, today: date) -> ScheduleRead:
    return ScheduleRead(
        allocation_id=schedule.allocation_id,
        starts_on=schedule.starts_on,
        planned_end_on=schedule.planned_end_on,
        actual_end_on=schedule.actual_end_on,
        final_report_accepted=final_accepted,
        overdue=schedule.planned_end_on < today and not final_accepted,
    )


async def get_schedule(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID
) -> ScheduleRead:
    allocation = await _load_allocation(session, allocation_id, principal)
    schedule = await repo.get_schedule(session, allocation.id)
    if schedule is None:
        raise NotFound(
            msg(
                "The dates of allocation {allocation_id} are not recorded.",
                allocation_id=allocation_id,
            )
        )
    accepted = await repo.final_accepted(session, allocation.id)
    return _schedule_read(schedule, accepted, clock.today())


async def set_schedule(
    session: AsyncSession, allocation_id: uuid.UUID, *, data: ScheduleSet, principal: Principal
) -> ScheduleRead:
    """Record (or correct) a funded project's start, planned end and actual end."""
    if not principal.is_region:
        raise Forbidden(msg("Only the region records a project's dates."))
    allocation = await _load_allocation(session, allocation_id, principal)
    _must_be_active(allocation, "set_project_dates")
    schedule = await repo.get_schedule(session, allocation.id)
    before = _state(schedule) if schedule is not None else None
    values = data.model_dump()
    if schedule is None:
        schedule = ProjectSchedule(id=uuid.uuid4(), allocation_id=allocation.id, **values)
        session.add(schedule)
    else:
        for name, value in values.items():
            setattr(schedule, name, value)
    await session.flush()
    await audit.record(
        session,
        action="allocation.set_project_dates",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=_state(schedule),
    )
    accepted = await repo.final_accepted(session, allocation.id)
    return _schedule_read(schedule, accepted, clock.today())


async def list_schedules(
    session: AsyncSession, principal: Principal, query: ScheduleQuery
) -> Page[ScheduleRead]:
    """The funded projects' dates, oldest recorded first; ``overdue``: only those past their
    planned end (today, Europe/Rome) without an accepted final report. The region's."""
    if not principal.is_region:
        raise Forbidden(msg("The projects' monitoring list is the region's."))
    today = clock.today()
    rows = await SCHEDULE_ORDER.fetch(
        query,
        partial(
            repo.page_schedules,
            session,
            programme_id=query.programme_id,
            overdue_on=today if query.overdue else None,
        ),
    )

    def item(row: Any) -> ScheduleRead:
        allocation_id, starts_on, planned_end_on, actual_end_on, _, _, accepted = row
        return ScheduleRead(
            allocation_id=allocation_id,
            starts_on=starts_on,
            planned_end_on=planned_end_on,
            actual_end_on=actual_end_on,
            final_report_accepted=bool(accepted),
            overdue=planned_end_on < today and not accepted,
        )

    return SCHEDULE_ORDER.page(rows, query.limit, item)


# Monitoring reports.


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day where it has fewer days)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_bounds(schedule: ProjectSchedule, months: int, period: int) -> tuple[date, date]:
    """Period ``period`` (from 1): ``months`` long from the project's start, the last one
    ending with the project (its actual end, else the planned one)."""
    end_of_project = schedule.actual_end_on or schedule.planned_end_on
    start = add_months(schedule.starts_on, months * (period - 1))
    end = date.fromordinal(add_months(schedule.starts_on, months * period).toordinal() - 1)
    return start, min(end, end_of_project)


async def _beneficiary(
    session: AsyncSession, allocation: Allocation, principal: Principal, action: str
) -> None:
    organisations = await payment_repo.beneficiary_organisations(session, allocation.application_id)
    if not any(principal.acts_for(org) for org in organisations):
        raise Forbidden(
            msg("Only a user of the beneficiary organisation may {action}.", action=action)
        )


async def file_report(
    session: AsyncSession, allocation_id: uuid.UUID, *, data: ReportCreate, principal: Principal
) -> MonitoringReport:
    """File a period's report, or a correction of it: the next revision (earlier ones are
    kept as filed)."""
    allocation = await _load_allocation(session, allocation_id, principal)
    await _beneficiary(session, allocation, principal, msg("file a monitoring report"))
    _must_be_active(allocation, "file_report")
    measure = await session.get(Measure, allocation.measure_id)
    assert measure is not None
    terms = await repo.get_monitoring_terms(session, measure.id)
    months = terms.period_months if terms is not None else None
    if months is None:
        raise MonitoringPeriodNotGiven(
            msg(
                "Measure {measure}'s monitoring period is not given by the source and not "
                "yet set: no report can be filed.",
                measure=measure.code,
            ),
            measure=measure.code,
        )
    schedule = await repo.get_schedule(session, allocation.id)
    if schedule is None:
        raise ProjectDatesNotSet(msg("The region has not recorded the project's dates yet."))
    start, end = period_bounds(schedule, months, data.period)
    if start > end or start > clock.today():
        raise ReportPeriodInvalid(
            msg(
                "Period {period} has not started or lies past the project's end.",
                period=data.period,
            ),
            period=data.period,
            period_start=start,
            project_end=schedule.actual_end_on or schedule.planned_end_on,
        )
    figures = data.model_dump(mode="json")["figures"]
    indicator_rules.check_figures(
        await repo.list_indicators(session, measure.id), figures, complete=True
    )
    revision = await repo.last_revision(session, allocation.id, data.period) + 1
    report = MonitoringReport(
        id=uuid.uuid4(),
        allocation_id=allocation.id,
        period=data.period,
        revision=revision,
        period_start=start,
        period_end=end,
        final=data.final,
        figures=figures,
        milestones=list(data.milestones),
        narrative=data.narrative,
        narrative_language=data.narrative_language,
        status=ReportStatus.PENDING,
        filed_by=principal.actor,
    )
    session.add(report)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:  # a concurrent filing took this revision number
        raise Conflict(
            msg(
                "Revision {revision} of period {period} was filed meanwhile; file again.",
                revision=revision,
                period=data.period,
            ),
            period=data.period,
            revision=revision,
        ) from error
    await audit.record(
        session,
        action="monitoring_report.file",
        entity_type="monitoring_report",
        entity_id=report.id,
        after=audit.snapshot(report),
    )
    return report


async def load_report(
    session: AsyncSession, report_id: uuid.UUID, principal: Principal
) -> MonitoringReport:
    report = await repo.get_report(session, report_id, visibility.funding_records(principal))
    if report is None:
        raise NotFound(msg("No monitoring report {report_id}.", report_id=report_id))
    return report


async def read_report(session: AsyncSession, report: MonitoringReport) -> ReportRead:
    return ReportRead.model_validate(report)


async def get_report(
    session: AsyncSession, principal: Principal, report_id: uuid.UUID
) -> ReportRead:
    return await read_report(session, await load_report(session, report_id, principal))


async def check_report(
    session: AsyncSession, report: MonitoringReport, *, data: ReportCheck, principal: Principal
) -> MonitoringReport:
    """Accept the latest revision of a period's report, or return it with a reason."""
    if not principal.is_region:
        raise Forbidden(msg("Only the region's officers check monitoring reports."))
    if report.status != ReportStatus.PENDING:
        raise ReportAlreadyChecked(
            msg(
                "Revision {revision} is already {status}.",
                revision=report.revision,
                status=report.status,
            ),
            status=report.status,
        )
    latest = await repo.last_revision(session, report.allocation_id, report.period)
    if latest != report.revision:
        raise ReportSuperseded(
            msg(
                "Revision {latest} of period {period} replaces this one.",
                latest=latest,
                period=report.period,
            ),
            revision=report.revision,
            latest=latest,
        )
    before = audit.snapshot(report)
    report.status = ReportStatus(data.outcome)
    report.checked_at = datetime.now(UTC)
    report.checked_by = principal.actor
    report.return_reason = data.reason
    await session.flush()
    await audit.record(
        session,
        action="monitoring_report.check",
        entity_type="monitoring_report",
        entity_id=report.id,
        before=before,
        after=audit.snapshot(report),
        reason=data.reason,
    )
    return report


async def list_reports(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID, query: ReportQuery
) -> Page[ReportRead]:
    """A grant's reports, every revision, oldest first."""
    allocation = await _load_allocation(session, allocation_id, principal)
    rows = partial(repo.page_reports, session, allocation_id=allocation.id)
    return await REPORT_ORDER.page_of(query, rows, ReportRead.model_validate)


# Totals.


def project_achieved(
    reports: Iterable[tuple[int, int, Mapping[str, Any]]],
    accumulation: Mapping[str, str],
) -> dict[Cell, int]:
    """One project's achieved figures from its accepted report revisions (period, revision,
    figures): per period the latest accepted revision; a cumulative indicator takes the
    latest period's value, a per-period one sums the periods."""
    latest: dict[int, tuple[int, Mapping[str, Any]]] = {}
    for period, revision, figures in reports:
        if period not in latest or revision > latest[period][0]:
            latest[period] = (revision, figures)
    achieved: dict[Cell, int] = {}
    for _, (_, figures) in sorted(latest.items()):
        for code, figure in figures.items():
            if code not in accumulation:
                continue  # an indicator no longer defined for the measure
            cells = _cells(code, figure)
            if accumulation[code] == "cumulative":
                for cell in [c for c in achieved if c[0] == code]:
                    del achieved[cell]
                achieved.update(cells)
            else:
                for cell, value in cells.items():
                    achieved[cell] = achieved.get(cell, 0) + value
    return achieved


def _cells(code: str, figure: Mapping[str, Any]) -> dict[Cell, int]:
    cells: dict[Cell, int] = {(code, None, None): int(figure["total"])}
    for breakdown, categories in figure.get("breakdowns", {}).items():
        for category, value in categories.items():
            cells[(code, breakdown, category)] = int(value)
    return cells


@dataclass
class _Group:
    target: dict[Cell, int]
    achieved: dict[Cell, int]
    reporting: set[uuid.UUID]


def _group_key(by: Grouping, measure_id: uuid.UUID, call_id: uuid.UUID, district_id: Any) -> Any:
    return {"measure": measure_id, "call": call_id, "district": district_id}[by]


async def _totals(
    session: AsyncSession, programme_id: uuid.UUID, by: Grouping, measure_id: uuid.UUID | None
) -> tuple[dict[Any, _Group], dict[str, Indicator]]:
    indicators = {i.code: i for i in await repo.indicators_of_programme(session, programme_id)}
    accumulation = {code: str(i.accumulation) for code, i in indicators.items()}
    groups: dict[Any, _Group] = defaultdict(lambda: _Group({}, {}, set()))
    per_project: dict[uuid.UUID, list[tuple[int, int, Mapping[str, Any]]]] = defaultdict(list)
    keys: dict[uuid.UUID, Any] = {}
    for (
        allocation,
        m_id,
        call_id,
        district_id,
        period,
        revision,
        figures,
    ) in await repo.accepted_reports(session, programme_id, measure_id):
        per_project[allocation].append((period, revision, figures))
        keys[allocation] = _group_key(by, m_id, call_id, district_id)
    for allocation, reports in per_project.items():
        group = groups[keys[allocation]]
        group.reporting.add(allocation)
        for cell, value in project_achieved(reports, accumulation).items():
            group.achieved[cell] = group.achieved.get(cell, 0) + value
    for _, m_id, call_id, district_id, figures in await repo.funded_targets(session, programme_id):
        if measure_id is not None and m_id != measure_id:
            continue
        group = groups[_group_key(by, m_id, call_id, district_id)]
        for code, figure in figures.items():
            if code in indicators:
                for cell, value in _cells(code, figure).items():
                    group.target[cell] = group.target.get(cell, 0) + value
    return groups, indicators


def _all_cells(indicator: Indicator) -> list[Cell]:
    cells: list[Cell] = [(indicator.code, None, None)]
    for breakdown, categories in indicator_rules.categories_of(indicator).items():
        cells += [(indicator.code, breakdown, category) for category in categories]
    return cells


async def programme_totals(
    session: AsyncSession, principal: Principal, programme_id: uuid.UUID, by: Grouping
) -> IndicatorTotalsRead:
    """Target against achieved per group (measure, call or district), indicator and cell:
    the targets of the active grants, and what their accepted reports give. The region's."""
    if not principal.is_region:
        raise Forbidden(msg("The programme's indicator totals are the region's."))
    programme = await session.get(Programme, programme_id)
    if programme is None:
        raise NotFound(msg("No programme {programme_id}.", programme_id=programme_id))
    groups, indicators = await _totals(session, programme.id, by, None)
    measures = {m.id: m for m in await programme_repo.list_measures(session, programme.id)}
    codes: dict[Any, str] = {m_id: m.code for m_id, m in measures.items()}
    if by == "call":
        codes = {
            c.id: c.code for c in await call_repo.list_calls_of_programme(session, programme.id)
        }
    elif by == "district":
        codes = {d.id: d.code for d in await district_repo.all_districts(session)}
    measure_codes = {m_id: m.code for m_id, m in measures.items()}
    items: list[IndicatorTotal] = []
    for key in sorted(groups, key=lambda k: (codes.get(k) or "", str(k))):
        group = groups[key]
        used = {cell[0] for cell in (*group.target, *group.achieved)}
        for indicator in (i for i in indicators.values() if i.code in used):
            for cell in _all_cells(indicator):
                items.append(
                    IndicatorTotal(
                        group_id=key,
                        group_code=codes.get(key),
                        measure_code=measure_codes[indicator.measure_id],
                        indicator_code=indicator.code,
                        eu_code=indicator.eu_code,
                        breakdown=cell[1],
                        category=cell[2],
                        target=group.target.get(cell, 0),
                        achieved=group.achieved.get(cell, 0),
                        projects_reporting=len(group.reporting),
                    )
                )
    return IndicatorTotalsRead(programme_id=programme.id, by=by, items=items)


def suppress(cells: Sequence[tuple[str, str, int]], threshold: int) -> list[PublicCell]:
    """Hide each breakdown's cells from 1 to ``threshold - 1``; where that hides exactly one
    cell of a breakdown, hide its next smallest too, so that the shown total does not give
    the hidden cell away by subtraction."""
    hidden: set[tuple[str, str]] = set()
    by_breakdown: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for breakdown, category, value in cells:
        by_breakdown[breakdown].append((category, value))
        if 0 < value < threshold:
            hidden.add((breakdown, category))
    for breakdown, entries in by_breakdown.items():
        small = [c for c, _ in entries if (breakdown, c) in hidden]
        rest = sorted((v, c) for c, v in entries if (breakdown, c) not in hidden)
        if len(small) == 1 and rest:
            hidden.add((breakdown, rest[0][1]))
    return [
        PublicCell(
            breakdown=breakdown,
            category=category,
            value=None if (breakdown, category) in hidden else value,
            suppressed=(breakdown, category) in hidden,
        )
        for breakdown, category, value in cells
    ]


async def public_totals(session: AsyncSession, measure_id: uuid.UUID) -> PublicIndicatorsRead:
    """A measure's indicators and what accepted reports achieved, for anyone: breakdown
    cells below the indicator's threshold suppressed."""
    measure = await session.get(Measure, measure_id)
    if measure is None:
        raise NotFound(msg("No measure {measure_id}.", measure_id=measure_id))
    groups, _ = await _totals(session, measure.programme_id, "measure", measure.id)
    achieved = groups[measure.id].achieved if measure.id in groups else {}
    indicators = await repo.list_indicators(session, measure.id)
    return PublicIndicatorsRead(
        measure_id=measure.id,
        measure_code=measure.code,
        indicators=[
            PublicIndicator(
                definition=indicator_read(i),
                achieved=achieved.get((i.code, None, None), 0),
                cells=suppress(
                    [
                        (str(b), str(c), achieved.get((i.code, b, c), 0))
                        for _, b, c in _all_cells(i)[1:]
                    ],
                    i.suppress_below,
                ),
            )
            for i in indicators
        ],
    )
