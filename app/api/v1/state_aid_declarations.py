"""State-aid declarations: what an applicant organisation declares for the de minimis
ceiling (linked undertakings, aid from other sources), under its organisation."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.api.deps import SessionDep, require
from app.api.etag import read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.page import Page
from app.schemas.state_aid import (
    StateAidDeclarationCreate,
    StateAidDeclarationQuery,
    StateAidDeclarationRead,
)
from app.services import state_aid_declarations as service

router = APIRouter(
    prefix="/organisations/{organisation_id}/state-aid-declarations",
    tags=["state-aid-declarations"],
)

OrganisationId = Annotated[uuid.UUID, Path(description="The declaring organisation's id.")]
DeclarationId = Annotated[uuid.UUID, Path(description="The declaration's id.")]
Reader = Annotated[Principal, require(Scope.ORGANISATIONS_READ)]
Writer = Annotated[Principal, require(Scope.ORGANISATIONS_WRITE)]
declaration_query = QueryModel(StateAidDeclarationQuery)


@router.get(
    "",
    summary="List an organisation's state-aid declarations",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=declaration_query.openapi(),
)
async def list_state_aid_declarations(
    organisation_id: OrganisationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[StateAidDeclarationQuery, Depends(declaration_query)],
) -> Page[StateAidDeclarationRead]:
    """An organisation's declarations, oldest first: to its own users and to the region."""
    return await service.list_declarations(session, principal, organisation_id, query)


@router.post(
    "",
    status_code=201,
    summary="Declare a linked undertaking or aid from another source",
    response_model=StateAidDeclarationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_state_aid_declaration(
    organisation_id: OrganisationId,
    body: StateAidDeclarationCreate,
    session: SessionDep,
    principal: Writer,
    idempotency: IdempotencyDep,
) -> Response:
    """Declare, for one of the caller's organisations, an undertaking linked to it (by tax
    code) or de minimis aid received from another granting body: both count towards the de
    minimis ceiling of its grants (409 when the link is declared already)."""
    return await idempotency.create(
        principal,
        make=lambda: service.declare(session, organisation_id, data=body, principal=principal),
        read=partial(service.read_declaration, session),
        location=lambda read: (
            f"/api/v1/organisations/{read.organisation_id}/state-aid-declarations/{read.id}"
        ),
    )


@router.get(
    "/{declaration_id}",
    summary="Read a state-aid declaration",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_state_aid_declaration(
    organisation_id: OrganisationId,
    declaration_id: DeclarationId,
    session: SessionDep,
    principal: Reader,
    response: Response,
) -> StateAidDeclarationRead:
    """Return a declaration (another organisation's is 404)."""
    return await read_with_etag(
        response, service.get_declaration(session, principal, organisation_id, declaration_id)
    )
