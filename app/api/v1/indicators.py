"""Indicators and monitoring (issue 20): targets, project dates, monitoring reports, the
programme's totals (JSON and CSV) and the public totals of a measure."""

from __future__ import annotations

import csv
import io
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app.api.deps import CHECKS_OPTIONAL_TOKEN, OPTIONAL_AUTH, SessionDep, require
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.api.v1.transparency import spreadsheet_safe
from app.core.auth import Principal, Scope
from app.schemas.indicator import (
    Grouping,
    IndicatorTotalsRead,
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
from app.services import indicators as service

router = APIRouter(tags=["indicators"])

ApplicationId = Annotated[uuid.UUID, Path(description="The application's id.")]
AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
ReportId = Annotated[uuid.UUID, Path(description="The monitoring report's id.")]
ProgrammeId = Annotated[uuid.UUID, Path(description="The programme's id.")]
MeasureId = Annotated[uuid.UUID, Path(description="The measure's id.")]
By = Annotated[Grouping, Query(description="Group the totals by measure, call or district.")]
Applicant = Annotated[Principal, require(Scope.APPLICATIONS_WRITE)]
Reader = Annotated[Principal, require(Scope.APPLICATIONS_READ)]
Checker = Annotated[Principal, require(Scope.APPLICATIONS_DECIDE)]
Recorder = Annotated[Principal, require(Scope.ALLOCATIONS_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
SET_ERRORS = problem_responses(401, 403, 404, 409, 422)
READ_ERRORS = problem_responses(401, 403, 404, 422)
report_query = QueryModel(ReportQuery)
schedule_query = QueryModel(ScheduleQuery)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# The export's columns, in order (README "Indicators": what each one holds).
CSV_HEADER = (
    "grouped_by",
    "group_id",
    "group_code",
    "measure_code",
    "indicator_code",
    "eu_code",
    "breakdown",
    "category",
    "target",
    "achieved",
    "projects_reporting",
)


@router.get(
    "/applications/{application_id}/indicator-targets",
    summary="Read an application's indicator targets",
    responses=READ_ERRORS,
)
async def get_targets(
    application_id: ApplicationId, session: SessionDep, principal: Reader
) -> TargetsRead:
    """Return the targets set, the indicators that require one and those still missing."""
    return await service.get_targets(session, principal, application_id)


@router.put(
    "/applications/{application_id}/indicator-targets",
    summary="Set an application's indicator targets",
    responses=SET_ERRORS,
)
async def set_targets(
    application_id: ApplicationId, body: TargetsSet, session: SessionDep, principal: Applicant
) -> TargetsRead:
    """Set (replace) a draft's targets for its measure's indicators: a total for each, and
    optionally each breakdown in full. A submission is refused while a required one is
    missing."""
    return await service.set_targets(session, application_id, data=body, principal=principal)


@router.get(
    "/allocations/{allocation_id}/project-dates",
    summary="Read a funded project's dates",
    responses=READ_ERRORS,
)
async def get_project_dates(
    allocation_id: AllocationId, session: SessionDep, principal: Reader
) -> ScheduleRead:
    """Return the project's start, planned and actual end, and whether it is overdue: to
    the region and the beneficiary (404 to anyone else)."""
    return await service.get_schedule(session, principal, allocation_id)


@router.put(
    "/allocations/{allocation_id}/project-dates",
    summary="Record a funded project's dates",
    responses=SET_ERRORS,
)
async def set_project_dates(
    allocation_id: AllocationId, body: ScheduleSet, session: SessionDep, principal: Recorder
) -> ScheduleRead:
    """Record (or correct) the start, planned end and actual end of an active grant's
    project. The region's."""
    return await service.set_schedule(session, allocation_id, data=body, principal=principal)


@router.get(
    "/project-dates",
    summary="List funded projects' dates",
    responses=problem_responses(401, 403, 422),
    openapi_extra=schedule_query.openapi(),
)
async def list_project_dates(
    session: SessionDep,
    principal: Reader,
    query: Annotated[ScheduleQuery, Depends(schedule_query)],
) -> Page[ScheduleRead]:
    """The funded projects' dates, oldest recorded first; overdue=true: only those past
    their planned end without an accepted final report. The region's."""
    return await service.list_schedules(session, principal, query)


@router.post(
    "/allocations/{allocation_id}/monitoring-reports",
    status_code=201,
    summary="File a monitoring report",
    response_model=ReportRead,
    responses=SET_ERRORS,
)
async def file_report(
    allocation_id: AllocationId,
    body: ReportCreate,
    session: SessionDep,
    principal: Applicant,
    idempotency: IdempotencyDep,
) -> Response:
    """File a period's report (every indicator and breakdown, milestones, a narrative in
    Italian or English), or correct one: the period's next revision; earlier ones are kept."""
    return await idempotency.create(
        principal,
        make=lambda: service.file_report(session, allocation_id, data=body, principal=principal),
        read=partial(service.read_report, session),
        location=lambda read: f"/api/v1/monitoring-reports/{read.id}",
    )


@router.get(
    "/allocations/{allocation_id}/monitoring-reports",
    summary="List a grant's monitoring reports",
    responses=READ_ERRORS,
    openapi_extra=report_query.openapi(),
)
async def list_reports(
    allocation_id: AllocationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[ReportQuery, Depends(report_query)],
) -> Page[ReportRead]:
    """A grant's reports, every revision, oldest first: to the region and the beneficiary."""
    return await service.list_reports(session, principal, allocation_id, query)


@router.get(
    "/monitoring-reports/{report_id}",
    summary="Read a monitoring report",
    responses=READ_ERRORS,
)
async def get_report(
    report_id: ReportId, session: SessionDep, principal: Reader, response: Response
) -> ReportRead:
    """Return one revision of a report and its check: to the region and the beneficiary."""
    return await read_with_etag(response, service.get_report(session, principal, report_id))


@router.post(
    "/monitoring-reports/{report_id}/check",
    summary="Check a monitoring report",
    responses=CHANGE_ERRORS,
)
async def check_report(
    report_id: ReportId,
    body: ReportCheck,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Checker,
) -> ReportRead:
    """Accept the latest revision of a period's report, or return it with a reason
    (If-Match required). Only accepted reports count in the totals."""
    return await change(
        request,
        response,
        load=service.load_report(session, report_id, principal),
        read=partial(service.read_report, session),
        apply=lambda report: service.check_report(session, report, data=body, principal=principal),
    )


@router.get(
    "/programmes/{programme_id}/indicators",
    summary="Report a programme's indicator totals",
    responses=READ_ERRORS,
)
async def programme_totals(
    programme_id: ProgrammeId, session: SessionDep, principal: Reader, by: By = "measure"
) -> IndicatorTotalsRead:
    """Target against achieved per measure, call or district, indicator and breakdown:
    the targets of the active grants and what their accepted reports give. The region's."""
    return await service.programme_totals(session, principal, programme_id, by)


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One line per group, indicator and cell after a header line "
        '(README "Indicators").',
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def totals_csv(totals: IndicatorTotalsRead) -> str:
    """The totals as CSV: text cells quoted, counts bare, the total cell's breakdown and
    category empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_HEADER)
    for item in totals.items:
        writer.writerow(
            [
                totals.by,
                str(item.group_id) if item.group_id else "",
                spreadsheet_safe(item.group_code or ""),
                spreadsheet_safe(item.measure_code),
                spreadsheet_safe(item.indicator_code),
                spreadsheet_safe(item.eu_code or ""),
                spreadsheet_safe(item.breakdown or ""),
                spreadsheet_safe(item.category or ""),
                item.target,
                item.achieved,
                item.projects_reporting,
            ]
        )
    return buffer.getvalue()


@router.get(
    "/programmes/{programme_id}/indicators.csv",
    summary="Export a programme's indicator totals as CSV",
    response_class=Response,
    responses={**_CSV_RESPONSE, **READ_ERRORS},
)
async def export_totals_csv(
    programme_id: ProgrammeId, session: SessionDep, principal: Reader, by: By = "measure"
) -> Response:
    """The totals of GET /programmes/{id}/indicators as CSV, for the annual report."""
    totals = await service.programme_totals(session, principal, programme_id, by)
    return Response(
        totals_csv(totals),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="indicator-totals.csv"'},
    )


@router.get(
    "/measures/{measure_id}/indicators",
    summary="Read a measure's indicators and public totals",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def public_totals(measure_id: MeasureId, session: SessionDep) -> PublicIndicatorsRead:
    """A measure's indicator definitions and what accepted reports achieved. Public: a
    breakdown's cell below the indicator's threshold is suppressed."""
    return await service.public_totals(session, measure_id)
