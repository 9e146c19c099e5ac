"""Sessions of users of the region's and applicants' apps."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import (
    AuthenticatedPrincipal,
    ClientAddressDep,
    PasswordOwner,
    SessionDep,
    SettingsDep,
)
from app.api.problems import problem_responses, render_domain_error
from app.core.errors import Forbidden, InvalidCredentials, RefreshTokenReplayed, WrongPassword
from app.core.i18n import msg
from app.schemas.auth import (
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    SessionTokens,
    WhoAmI,
)
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
        password_change_required=pair.password_change_required,
    )


@router.post(
    "/login",
    summary="Log in",
    response_model=SessionTokens,
    responses=problem_responses(401, 429, 503),
)
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddressDep,
) -> Response:
    """Exchange e-mail and password for an access token and a rotating refresh token."""
    try:
        pair = await user_service.login(
            session, settings, email=body.email, password=body.password, address=address
        )
    except InvalidCredentials as refused:
        # Returned, not raised: the request's transaction commits the counted failure.
        await user_service.record_login_failure(
            session, email=normalise_email(body.email), address=address
        )
        return render_domain_error(request, refused)
    return JSONResponse(_tokens(pair).model_dump(), headers={"Cache-Control": "no-store"})


@router.post(
    "/refresh",
    summary="Refresh a session",
    response_model=SessionTokens,
    responses=problem_responses(401),
)
async def refresh_session(
    body: RefreshRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    try:
        pair = await user_service.refresh(session, settings, refresh_token=body.refresh_token)
    except RefreshTokenReplayed as refused:
        # Returned, not raised: the revocation of the family must commit.
        return render_domain_error(request, refused)
    return JSONResponse(_tokens(pair).model_dump(), headers={"Cache-Control": "no-store"})


@router.post("/logout", summary="Log out", status_code=204, responses=problem_responses(401, 403))
async def logout(
    session: SessionDep, principal: AuthenticatedPrincipal, body: LogoutRequest | None = None
) -> Response:
    """Revoke the access token in use and its session's refresh tokens (the body is
    optional: a refresh token given there has its session revoked too)."""
    if principal.kind != "user":
        raise Forbidden(msg("Only user sessions log out; clients revoke tokens at /oauth/revoke."))
    await user_service.logout(
        session, principal=principal, refresh_token=body.refresh_token if body else None
    )
    return Response(status_code=204)


@router.post(
    "/password",
    summary="Change my password",
    response_model=SessionTokens,
    responses=problem_responses(401, 403, 422, 429, 503),
)
async def change_password(
    body: PasswordChange,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PasswordOwner,
    address: ClientAddressDep,
) -> Response:
    """Replace your password, giving the current one (the only use of the token of a
    one-time password). Every session of the account ends; the answer is a new one."""
    try:
        pair = await user_service.change_password(
            session,
            settings,
            principal=principal,
            current_password=body.current_password,
            new_password=body.new_password,
            address=address,
        )
    except WrongPassword as refused:
        # Returned, not raised: the request's transaction commits the counted failure.
        assert principal.id is not None
        await user_service.record_wrong_password(session, user_id=principal.id, address=address)
        return render_domain_error(request, refused)
    return JSONResponse(_tokens(pair).model_dump(), headers={"Cache-Control": "no-store"})


@router.get("/whoami", summary="Describe the caller", responses=problem_responses(401))
async def whoami(principal: AuthenticatedPrincipal) -> WhoAmI:
    """Return who the access token stands for and what it may do (users and clients alike)."""
    assert principal.kind != "anonymous"
    return WhoAmI(
        kind=principal.kind,
        subject=str(principal.id) if principal.kind == "user" else str(principal.client_id),
        client_id=principal.client_id,
        role=principal.role,
        scopes=sorted(principal.scopes),
        organisation_ids=sorted(principal.organisation_ids),
        token_expires_at=principal.token_expires_at,
    )
