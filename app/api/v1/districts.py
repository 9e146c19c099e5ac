"""Social-cohesion districts ("Distretti di Coesione Sociale")."""

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
from app.schemas.district import DistrictCreate, DistrictQuery, DistrictRead, DistrictUpdate
from app.schemas.page import Page
from app.services import districts as service

router = APIRouter(prefix="/districts", tags=["districts"])

DistrictId = Annotated[uuid.UUID, Path(description="The district's id.")]
Write = Annotated[Principal, require(Scope.DISTRICTS_WRITE)]
district_query = QueryModel(DistrictQuery)


@router.get(
    "",
    summary="List districts",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 422),
    openapi_extra=district_query.openapi(**OPTIONAL_AUTH),
)
async def list_districts(
    session: SessionDep, query: Annotated[DistrictQuery, Depends(district_query)]
) -> Page[DistrictRead]:
    """List districts by code. Public."""
    return await service.list_districts(session, ANONYMOUS, query)


@router.get(
    "/{district_id}",
    summary="Read a district",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_district(
    district_id: DistrictId, session: SessionDep, response: Response
) -> DistrictRead:
    """Return a district and its lead body. Public."""
    return await read_with_etag(response, service.get_district(session, ANONYMOUS, district_id))


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
    return await idempotency.create(
        principal,
        make=lambda: service.create_district(session, data=body),
        read=partial(service.read_district, session),
        location=lambda read: f"/api/v1/districts/{read.id}",
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
    return await change(
        request,
        response,
        load=service.load_district(session, district_id),
        read=partial(service.read_district, session),
        apply=lambda district: service.update_district(session, district, data=body),
    )
