"""Public budget reports of programmes: totals, measures, calls and districts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import CHECKS_OPTIONAL_TOKEN, OPTIONAL_AUTH, SnapshotSessionDep
from app.api.problems import problem_responses
from app.schemas.transparency import ProgrammeReportRead
from app.services import transparency as service

router = APIRouter(tags=["programmes"])

ProgrammeId = Annotated[uuid.UUID, Path(description="The programme's id.")]


@router.get(
    "/programmes/{programme_id}/report",
    summary="Report a programme's budget",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def report_programme(
    programme_id: ProgrammeId, session: SnapshotSessionDep
) -> ProgrammeReportRead:
    """Return budgets, allocations and funded projects per measure, call and district. Public."""
    # One snapshot for the report's statements: its totals must equal the sums of its parts.
    return await service.programme_report(session, programme_id)
