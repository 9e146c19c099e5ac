"""Programmes: public reading, administered by the region."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import CHECKS_OPTIONAL_TOKEN, OPTIONAL_AUTH, SessionDep, require
from app.api.etag import change, json_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.api.thin import ThinReadSpec
from app.core.auth import ANONYMOUS, Principal, Scope
from app.schemas.page import Page
from app.schemas.programme import ProgrammeCreate, ProgrammeQuery, ProgrammeRead, ProgrammeUpdate
from app.services import programmes as service

router = APIRouter(prefix="/programmes", tags=["programmes"])

ProgrammeId = Annotated[uuid.UUID, Path(description="The programme's id.")]
Write = Annotated[Principal, require(Scope.PROGRAMMES_WRITE)]
programme_query = QueryModel(ProgrammeQuery)


@router.get(
    "",
    summary="List programmes",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 422),
    openapi_extra=programme_query.openapi(**OPTIONAL_AUTH),
)
async def list_programmes(
    session: SessionDep, query: Annotated[ProgrammeQuery, Depends(programme_query)]
) -> Page[ProgrammeRead]:
    """List programmes by code, with their budget figures. Public."""
    return await service.list_programmes(session, ANONYMOUS, query)


@router.get(
    "/{programme_id}",
    summary="Read a programme",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    response_model=ProgrammeRead,
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_programme(programme_id: ProgrammeId, session: SessionDep) -> Response:
    """Return a programme with its budget, allocated and available amounts. Public."""
    return await read_programme(session, programme_id)


async def read_programme(session: AsyncSession, programme_id: uuid.UUID) -> Response:
    return json_with_etag(await service.get_programme(session, ANONYMOUS, programme_id))


# Anonymous reads of one programme skip FastAPI's per-request work (app.api.thin).
THIN_READ = ThinReadSpec(get_programme, read_programme, parameter="programme_id")


@router.post(
    "",
    status_code=201,
    summary="Create a programme",
    response_model=ProgrammeRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_programme(
    body: ProgrammeCreate, session: SessionDep, principal: Write, idempotency: IdempotencyDep
) -> Response:
    """Create a programme; its measures are added next, within its total."""
    return await idempotency.create(
        principal,
        make=lambda: service.create_programme(session, data=body),
        read=partial(service.read_programme, session),
        location=lambda read: f"/api/v1/programmes/{read.id}",
    )


@router.patch(
    "/{programme_id}",
    summary="Change a programme",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_programme(
    programme_id: ProgrammeId,
    body: ProgrammeUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    _: Write,
) -> ProgrammeRead:
    """Change a programme (If-Match required); the total never drops below what is used."""
    return await change(
        request,
        response,
        load=service.load_programme(session, programme_id),
        read=partial(service.read_programme, session),
        apply=lambda programme: service.update_programme(session, programme, data=body),
    )
