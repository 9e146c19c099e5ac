"""Measures of a programme, with their lines, phases and thematic areas."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.domain import Fund
from app.models.programme import Measure
from app.repositories import programmes as repo
from app.schemas.page import Page
from app.schemas.programme import MeasureCreate, MeasureRead, MeasureUpdate, measure_read
from app.services import programmes as service

router = APIRouter(prefix="/measures", tags=["measures"])

MeasureId = Annotated[uuid.UUID, Path(description="The measure's id.")]
Write = Annotated[Principal, require(Scope.PROGRAMMES_WRITE)]


async def _read(session: SessionDep, measure: Measure) -> MeasureRead:
    details = await repo.measure_details(session, [measure.id])
    return measure_read(measure, *details[measure.id])


@router.get("", summary="List measures", responses=problem_responses(422))
async def list_measures(
    session: SessionDep,
    page: PageDep,
    programme_id: Annotated[uuid.UUID | None, Query(description="Only this programme's.")] = None,
    fund: Annotated[Fund | None, Query(description="FSE or FESR.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title.")] = None,
) -> Page[MeasureRead]:
    """List measures by code with budgets, caps, eligibility and lines. Public."""
    rows = await repo.page_measures(
        session,
        programme_id=programme_id,
        fund=fund,
        q=q,
        after=page.after(str, uuid.UUID),
        limit=page.limit,
    )
    details = await repo.measure_details(session, [m.id for m in rows[: page.limit]])
    return page.page(
        rows, key=lambda m: (m.code, m.id), item=lambda m: measure_read(m, *details[m.id])
    )


@router.get("/{measure_id}", summary="Read a measure", responses=problem_responses(404, 422))
async def get_measure(
    measure_id: MeasureId, session: SessionDep, response: Response
) -> MeasureRead:
    """Return a measure with its budget figures, eligibility, lines, phases and themes. Public."""
    read = await _read(session, await service.get_measure(session, measure_id))
    with_etag(response, read)
    return read


@router.post(
    "",
    status_code=201,
    summary="Create a measure",
    response_model=MeasureRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_measure(
    body: MeasureCreate, session: SessionDep, principal: Write, idempotency: IdempotencyDep
) -> Response:
    """Create a measure with its lines; its budget must fit in the programme's total."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    read = await _read(session, await service.create_measure(session, data=body))
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/measures/{read.id}"}
    )


@router.patch(
    "/{measure_id}",
    summary="Change a measure",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_measure(
    measure_id: MeasureId,
    body: MeasureUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    _: Write,
) -> MeasureRead:
    """Change a measure (If-Match required); its budget stays within the programme's total
    and above what its calls share and what is allocated."""
    measure = await service.get_measure(session, measure_id)
    require_if_match(request, await _read(session, measure))
    await service.update_measure(session, measure, data=body)
    await session.refresh(measure)
    read = await _read(session, measure)
    with_etag(response, read)
    return read
