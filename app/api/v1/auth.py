"""Sessions of users of the region's and applicants' apps."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.deps import AuthenticatedPrincipal, DatabaseDep, SessionDep, SettingsDep
from app.api.problems import problem_responses
from app.core.errors import Forbidden, InvalidCredentials
from app.schemas.auth import LoginRequest, LogoutRequest, RefreshRequest, SessionTokens
from app.services import users as user_service
from app.services.users import TokenPair, normalise_email

router = APIRouter(prefix="/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> SessionTokens:
    return SessionTokens(
        access_token=pair.access.access_token,
        expires_in=pair.access.expires_in,
        scope=pair.access.scope,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
    )


@router.post("/login", summary="Log in", responses=problem_responses(401, 429))
async def login(
    body: LoginRequest,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    response: Response,
) -> SessionTokens:
    """Exchange e-mail and password for an access token and a rotating refresh token."""
    try:
        pair = await user_service.login(session, settings, email=body.email, password=body.password)
    except InvalidCredentials:
        # The request's transaction rolls back; the failure must be counted anyway.
        async with database.session(write=True) as own:
            await user_service.record_login_failure(own, normalise_email(body.email))
        raise
    response.headers["Cache-Control"] = "no-store"
    return _tokens(pair)


@router.post("/refresh", summary="Refresh a session", responses=problem_responses(401))
async def refresh_session(
    body: RefreshRequest, session: SessionDep, settings: SettingsDep, response: Response
) -> SessionTokens:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    pair = await user_service.refresh(session, settings, refresh_token=body.refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return _tokens(pair)


@router.post("/logout", summary="Log out", status_code=204, responses=problem_responses(401, 403))
async def logout(
    body: LogoutRequest, session: SessionDep, principal: AuthenticatedPrincipal
) -> Response:
    """Revoke the access token in use and the session's refresh tokens."""
    if principal.kind != "user":
        raise Forbidden("Only user sessions log out; clients revoke tokens at /oauth/revoke.")
    await user_service.logout(session, principal=principal, refresh_token=body.refresh_token)
    return Response(status_code=204)
