"""Social-cohesion districts ("Distretti di Coesione Sociale")."""

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
from app.schemas.call import DistrictCreate, DistrictRead, DistrictUpdate, district_read
from app.schemas.page import Page
from app.services import districts as service

router = APIRouter(prefix="/districts", tags=["districts"])

DistrictId = Annotated[uuid.UUID, Path(description="The district's id.")]
Write = Annotated[Principal, require(Scope.DISTRICTS_WRITE)]


@router.get("", summary="List districts", responses=problem_responses(422))
async def list_districts(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="Text in the name.")] = None,
) -> Page[DistrictRead]:
    """List districts by code. Public."""
    rows = await repo.page_districts(
        session, q=q, after=page.after(str, uuid.UUID), limit=page.limit
    )
    return page.page(rows, key=lambda d: (d.code, d.id), item=district_read)


@router.get("/{district_id}", summary="Read a district", responses=problem_responses(404, 422))
async def get_district(
    district_id: DistrictId, session: SessionDep, response: Response
) -> DistrictRead:
    """Return a district and its lead body. Public."""
    read = district_read(await service.get_district(session, district_id))
    with_etag(response, read)
    return read


@router.post(
    "",
    status_code=201,
    summary="Create a district",
    response_model=DistrictRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_district(
    body: DistrictCreate, session: SessionDep, principal: Write, idempotency: IdempotencyDep
) -> Response:
    """Create a district led by an existing organisation (its lead public body)."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    read = district_read(await service.create_district(session, data=body))
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/districts/{read.id}"}
    )


@router.patch(
    "/{district_id}",
    summary="Change a district",
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
async def update_district(
    district_id: DistrictId,
    body: DistrictUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    _: Write,
) -> DistrictRead:
    """Rename a district or change its lead body (If-Match required)."""
    district = await service.get_district(session, district_id)
    require_if_match(request, district_read(district))
    read = district_read(await service.update_district(session, district, data=body))
    with_etag(response, read)
    return read
