"""Partner OAuth clients (administrators register them; the secret is shown once)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, Security

from app.api.deps import SessionDep, SettingsDep, get_principal
from app.api.pagination import PageDep, encode_cursor
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.errors import NotFound
from app.models.auth import OAuthClient
from app.repositories import auth as repo
from app.schemas.auth import ClientCreate, ClientCreated, ClientRead
from app.schemas.page import Page
from app.services import clients as client_service

router = APIRouter(prefix="/clients", tags=["clients"])

ClientsAdmin = Annotated[Principal, Security(get_principal, scopes=[Scope.CLIENTS_ADMIN])]


def _read(client: OAuthClient) -> ClientRead:
    return ClientRead(
        id=client.id,
        client_id=client.client_id,
        name=client.name,
        scopes=list(client.scopes),
        organisation_id=client.organisation_id,
        active=client.active,
        created_at=client.created_at,
    )


@router.post(
    "",
    status_code=201,
    summary="Register a partner client",
    responses=problem_responses(401, 403, 404),
)
async def create_client(
    body: ClientCreate, session: SessionDep, settings: SettingsDep, _: ClientsAdmin
) -> ClientCreated:
    """Register a client for the client-credentials grant; the secret is in this response only."""
    registered = await client_service.register_client(
        session,
        settings=settings,
        name=body.name,
        scopes=body.scopes,
        organisation_id=body.organisation_id,
    )
    return ClientCreated(**_read(registered.client).model_dump(), client_secret=registered.secret)


@router.get("", summary="List partner clients", responses=problem_responses(401, 403))
async def list_clients(session: SessionDep, page: PageDep, _: ClientsAdmin) -> Page[ClientRead]:
    """List registered clients (never their secrets)."""
    clients = await repo.list_clients(session, after=page.after_id(), limit=page.limit + 1)
    more = len(clients) > page.limit
    clients = clients[: page.limit]
    return Page(
        items=[_read(c) for c in clients],
        next_cursor=encode_cursor(clients[-1].id) if more else None,
    )


@router.get(
    "/{client_id}", summary="Read a partner client", responses=problem_responses(401, 403, 404)
)
async def get_client(
    client_id: Annotated[uuid.UUID, Path()], session: SessionDep, _: ClientsAdmin
) -> ClientRead:
    """Return one registered client."""
    client = await repo.get_client(session, client_id)
    if client is None:
        raise NotFound(f"No client {client_id}.")
    return _read(client)


@router.delete(
    "/{client_id}",
    status_code=204,
    summary="Deactivate a partner client",
    responses=problem_responses(401, 403, 404),
)
async def deactivate_client(
    client_id: Annotated[uuid.UUID, Path()], session: SessionDep, _: ClientsAdmin
) -> Response:
    """Deactivate a client: it gets no new tokens and its current tokens stop working."""
    await client_service.deactivate_client(session, id=client_id)
    return Response(status_code=204)
