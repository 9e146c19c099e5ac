"""Measures of a programme, with their lines, phases and thematic areas."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import CHECKS_OPTIONAL_TOKEN, OPTIONAL_AUTH, SessionDep, require
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import ANONYMOUS, Principal, Scope
from app.schemas.page import Page
from app.schemas.programme import MeasureCreate, MeasureQuery, MeasureRead, MeasureUpdate
from app.services import programmes as service

router = APIRouter(prefix="/measures", tags=["measures"])

MeasureId = Annotated[uuid.UUID, Path(description="The measure's id.")]
Write = Annotated[Principal, require(Scope.PROGRAMMES_WRITE)]
measure_query = QueryModel(MeasureQuery)


@router.get(
    "",
    summary="List measures",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 422),
    openapi_extra=measure_query.openapi(**OPTIONAL_AUTH),
)
async def list_measures(
    session: SessionDep, query: Annotated[MeasureQuery, Depends(measure_query)]
) -> Page[MeasureRead]:
    """List measures by code with budgets, caps, eligibility and lines. Public."""
    return await service.list_measures(session, ANONYMOUS, query)


@router.get(
    "/{measure_id}",
    summary="Read a measure",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_measure(
    measure_id: MeasureId, session: SessionDep, response: Response
) -> MeasureRead:
    """Return a measure with its budget figures, eligibility, lines, phases and themes. Public."""
    return await read_with_etag(response, service.get_measure(session, ANONYMOUS, measure_id))


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
    return await idempotency.create(
        principal,
        make=lambda: service.create_measure(session, data=body),
        read=partial(service.read_measure, session),
        location=lambda read: f"/api/v1/measures/{read.id}",
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
    return await change(
        request,
        response,
        load=service.load_measure(session, measure_id),
        read=partial(service.read_measure, session),
        apply=lambda measure: service.update_measure(session, measure, data=body),
    )
