"""User accounts (administrators manage them; every user reads their own)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Security

from app.api.deps import AuthenticatedPrincipal, SessionDep, get_principal
from app.api.pagination import PageDep, encode_cursor
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.errors import Forbidden, NotFound
from app.models.auth import UserAccount
from app.repositories import auth as repo
from app.schemas.auth import UserCreate, UserRead
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
    "", status_code=201, summary="Create a user", responses=problem_responses(401, 403, 404, 409)
)
async def create_user(body: UserCreate, session: SessionDep, _: UsersAdmin) -> UserRead:
    """Create an account with a role and, for applicants, the organisations it acts for."""
    user = await user_service.create_user(
        session,
        email=body.email,
        display_name=body.display_name,
        password=body.password,
        role=body.role,
        organisation_ids=body.organisation_ids,
    )
    return _read(user, sorted(set(body.organisation_ids)))


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


@router.get("/{user_id}", summary="Read a user", responses=problem_responses(401, 403, 404))
async def get_user(
    user_id: Annotated[uuid.UUID, Path()], session: SessionDep, _: UsersAdmin
) -> UserRead:
    """Return one account."""
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return _read(user, (await repo.memberships(session, [user.id]))[user.id])
