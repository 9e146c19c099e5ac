"""User accounts (administrators manage them; every user reads their own)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, Security

from app.api.deps import AuthenticatedPrincipal, SessionDep, SettingsDep, get_principal
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep, encode_cursor
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.errors import Forbidden, NotFound
from app.models.auth import UserAccount
from app.repositories import auth as repo
from app.schemas.auth import UserCreate, UserRead, UserUpdate
from app.schemas.page import Page
from app.services import users as user_service

router = APIRouter(prefix="/users", tags=["users"])

UsersAdmin = Annotated[Principal, Security(get_principal, scopes=[Scope.USERS_ADMIN])]


def _read(user: UserAccount, organisation_ids: list[uuid.UUID]) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        active=user.active,
        organisation_ids=organisation_ids,
        created_at=user.created_at,
    )


@router.post(
    "",
    status_code=201,
    summary="Create a user",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def create_user(
    body: UserCreate,
    session: SessionDep,
    settings: SettingsDep,
    principal: UsersAdmin,
    idempotency: IdempotencyDep,
) -> Response:
    """Create an account with a role and, for applicants, the organisations it acts for."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    user = await user_service.create_user(
        session,
        email=body.email,
        display_name=body.display_name,
        password=body.password,
        role=body.role,
        organisation_ids=body.organisation_ids,
        settings=settings,
    )
    read = _read(user, sorted(set(body.organisation_ids)))
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/users/{read.id}"}
    )


@router.get("", summary="List users", responses=problem_responses(401, 403))
async def list_users(session: SessionDep, page: PageDep, _: UsersAdmin) -> Page[UserRead]:
    """List accounts in a stable order, one page at a time."""
    users = await repo.list_users(session, after=page.after_id(), limit=page.limit + 1)
    more = len(users) > page.limit
    users = users[: page.limit]
    orgs = await repo.memberships(session, [u.id for u in users])
    return Page(
        items=[_read(u, orgs[u.id]) for u in users],
        next_cursor=encode_cursor(users[-1].id) if more else None,
    )


@router.get("/me", summary="Read my account", responses=problem_responses(401, 403))
async def get_current_user(session: SessionDep, principal: AuthenticatedPrincipal) -> UserRead:
    """Return the account behind the access token."""
    if principal.kind != "user" or principal.id is None:
        raise Forbidden("Client tokens have no user account.")
    user = await repo.get_user(session, principal.id)
    if user is None:
        raise NotFound("No such user.")
    return _read(user, sorted(principal.organisation_ids))


# The path converter keeps /users/me its own route: /users/{user_id} without it also matched
# "me" (then refused it as an id) and PATCH /users/me was 422 instead of 405.
UserId = Annotated[uuid.UUID, Path(description="The account's id.")]


async def _get(session: SessionDep, user_id: uuid.UUID) -> tuple[UserAccount, UserRead]:
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user, _read(user, (await repo.memberships(session, [user.id]))[user.id])


@router.get(
    "/{user_id:uuid}", summary="Read a user", responses=problem_responses(401, 403, 404, 422)
)
async def get_user(
    user_id: UserId, session: SessionDep, _: UsersAdmin, response: Response
) -> UserRead:
    """Return one account."""
    read = (await _get(session, user_id))[1]
    with_etag(response, read)
    return read


@router.patch(
    "/{user_id:uuid}",
    summary="Change a user",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_user(
    user_id: UserId,
    body: UserUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: UsersAdmin,
) -> UserRead:
    """Change an account's name, role, state or organisations (If-Match required). It takes
    effect at the account's next request; deactivating also ends its sessions. An
    administrator cannot deactivate or demote their own account (409)."""
    user, read = await _get(session, user_id)
    require_if_match(request, read)
    organisation_ids = await user_service.update_user(session, user, data=body, principal=principal)
    read = _read(user, organisation_ids)
    with_etag(response, read)
    return read
