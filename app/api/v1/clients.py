"""Partner OAuth clients (administrators register them; the secret is shown once)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, Security

from app.api.deps import SessionDep, SettingsDep, get_principal
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.auth import ClientCreate, ClientCreated, ClientQuery, ClientRead
from app.schemas.page import Page
from app.schemas.problem import Problem
from app.services import clients as service

router = APIRouter(prefix="/clients", tags=["clients"])

ClientsAdmin = Annotated[Principal, Security(get_principal, scopes=[Scope.CLIENTS_ADMIN])]
ClientId = Annotated[uuid.UUID, Path()]
client_query = QueryModel(ClientQuery)


# Not idempotency.create: this create has never taken an Idempotency-Key (a replay would
# have to store the secret, shown once) nor answered with Location or an ETag.
@router.post(
    "",
    status_code=201,
    summary="Register a partner client",
    responses=problem_responses(401, 403, 404),
)
async def create_client(
    body: ClientCreate, session: SessionDep, settings: SettingsDep, principal: ClientsAdmin
) -> ClientCreated:
    """Register a client for the client-credentials grant; the secret is in this response only."""
    return await service.create_client(session, principal, settings=settings, data=body)


@router.get(
    "",
    summary="List partner clients",
    responses=problem_responses(401, 403, 422),
    openapi_extra=client_query.openapi(),
)
async def list_clients(
    session: SessionDep,
    principal: ClientsAdmin,
    query: Annotated[ClientQuery, Depends(client_query)],
) -> Page[ClientRead]:
    """List registered clients (never their secrets)."""
    return await service.list_clients(session, principal, query)


@router.get(
    "/{client_id}", summary="Read a partner client", responses=problem_responses(401, 403, 404)
)
async def get_client(
    client_id: ClientId, session: SessionDep, principal: ClientsAdmin
) -> ClientRead:
    """Return one registered client."""
    return await service.get_client(session, principal, client_id)


@router.delete(
    "/{client_id}",
    status_code=204,
    summary="Deactivate a partner client",
    # The client's version column refuses a concurrent change of it (no If-Match here).
    responses={
        **problem_responses(401, 403, 404),
        412: {"model": Problem, "description": "The client changed meanwhile; retry."},
    },
)
async def deactivate_client(client_id: ClientId, session: SessionDep, _: ClientsAdmin) -> Response:
    """Deactivate a client: it gets no new tokens and its current tokens stop working."""
    await service.deactivate_client(session, id=client_id)
    return Response(status_code=204)
