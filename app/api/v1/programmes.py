"""Programmes: public reading, administered by the region."""

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
from app.repositories import programmes as repo
from app.schemas.page import Page
from app.schemas.programme import ProgrammeCreate, ProgrammeRead, ProgrammeUpdate, programme_read
from app.services import programmes as service

router = APIRouter(prefix="/programmes", tags=["programmes"])

ProgrammeId = Annotated[uuid.UUID, Path(description="The programme's id.")]
Write = Annotated[Principal, require(Scope.PROGRAMMES_WRITE)]


@router.get("", summary="List programmes", responses=problem_responses(422))
async def list_programmes(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="Text in the name.")] = None,
) -> Page[ProgrammeRead]:
    """List programmes by code, with their budget figures. Public."""
    rows = await repo.page_programmes(
        session, q=q, after=page.after(str, uuid.UUID), limit=page.limit
    )
    return page.page(rows, key=lambda p: (p.code, p.id), item=programme_read)


@router.get("/{programme_id}", summary="Read a programme", responses=problem_responses(404, 422))
async def get_programme(
    programme_id: ProgrammeId, session: SessionDep, response: Response
) -> ProgrammeRead:
    """Return a programme with its budget, allocated and available amounts. Public."""
    read = programme_read(await service.get_programme(session, programme_id))
    with_etag(response, read)
    return read


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
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    read = programme_read(await service.create_programme(session, data=body))
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/programmes/{read.id}"}
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
    programme = await service.get_programme(session, programme_id)
    require_if_match(request, programme_read(programme))
    read = programme_read(await service.update_programme(session, programme, data=body))
    with_etag(response, read)
    return read
