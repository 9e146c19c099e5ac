"""User accounts (administrators manage them; every user reads their own)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, Security

from app.api.deps import (
    AccountHolder,
    AuthenticatedPrincipal,
    SessionDep,
    SettingsDep,
    get_principal,
)
from app.api.etag import change, read_with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.auth import UserCreate, UserQuery, UserRead, UserSelfUpdate, UserUpdate
from app.schemas.notification import NotificationPreferencesRead, NotificationPreferencesUpdate
from app.schemas.page import Page
from app.services import notifications
from app.services import users as service

router = APIRouter(prefix="/users", tags=["users"])

UsersAdmin = Annotated[Principal, Security(get_principal, scopes=[Scope.USERS_ADMIN])]
user_query = QueryModel(UserQuery)


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
    return await idempotency.create(
        principal,
        make=lambda: service.create_user(
            session,
            email=body.email,
            display_name=body.display_name,
            password=body.password,
            role=body.role,
            organisation_ids=body.organisation_ids,
            settings=settings,
            # The administrator chose the password: it is the account's one-time password.
            must_change_password=True,
        ),
        read=partial(service.read_user, session),
        location=lambda read: f"/api/v1/users/{read.id}",
    )


@router.get(
    "",
    summary="List users",
    responses=problem_responses(401, 403, 422),
    openapi_extra=user_query.openapi(),
)
async def list_users(
    session: SessionDep,
    principal: UsersAdmin,
    query: Annotated[UserQuery, Depends(user_query)],
) -> Page[UserRead]:
    """List accounts in a stable order, one page at a time."""
    return await service.list_users(session, principal, query)


@router.get("/me", summary="Read my account", responses=problem_responses(401, 403))
async def get_current_user(session: SessionDep, principal: AuthenticatedPrincipal) -> UserRead:
    """Return the account behind the access token."""
    return await service.get_current_user(session, principal)


@router.patch("/me", summary="Change my account", responses=problem_responses(401, 403, 422))
async def update_current_user(
    body: UserSelfUpdate, session: SessionDep, principal: AccountHolder
) -> UserRead:
    """Change the language of the e-mails your account receives (it or en)."""
    return await service.update_own_account(session, principal, body)


@router.get(
    "/me/notification-preferences",
    summary="Read my notification preferences",
    responses=problem_responses(401, 403),
)
async def get_notification_preferences(
    session: SessionDep, principal: AccountHolder
) -> NotificationPreferencesRead:
    """List every kind of e-mail notice, whether you receive it and whether the law requires
    it (a required one cannot be turned off), and the language of your e-mails."""
    return await notifications.get_preferences(session, principal)


@router.put(
    "/me/notification-preferences",
    summary="Change my notification preferences",
    responses=problem_responses(401, 403, 422),
)
async def update_notification_preferences(
    body: NotificationPreferencesUpdate, session: SessionDep, principal: AccountHolder
) -> NotificationPreferencesRead:
    """Replace the kinds of e-mail notice you do not want; a legally required kind (a
    decision on the application, the grant or its revocation) is refused with 422."""
    return await notifications.update_preferences(session, principal, body)


# The path converter keeps /users/me its own route: /users/{user_id} without it also matched
# "me" (then refused it as an id) and PATCH /users/me was 422 instead of 405.
UserId = Annotated[uuid.UUID, Path(description="The account's id.")]


@router.get(
    "/{user_id:uuid}", summary="Read a user", responses=problem_responses(401, 403, 404, 422)
)
async def get_user(
    user_id: UserId, session: SessionDep, principal: UsersAdmin, response: Response
) -> UserRead:
    """Return one account."""
    return await read_with_etag(response, service.get_user(session, principal, user_id))


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
    return await change(
        request,
        response,
        load=service.load_user(session, user_id),
        read=partial(service.read_user, session),
        apply=partial(service.update_user, session, data=body, principal=principal),
    )
