"""Dependencies shared by the routers: the request's session and its principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ANONYMOUS, SCOPE_DESCRIPTIONS, Principal
from app.core.config import Settings
from app.core.context import Actor, actor_var
from app.core.errors import Forbidden, InsufficientScope, PasswordChangeRequired, Unauthenticated
from app.core.i18n import msg
from app.db.session import Database
from app.services.keys import PublicKeyCache
from app.services.tokens import principal_from_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_URL = "/api/v1/oauth/token"
PASSWORD_CHANGE_PATH = "/api/v1/auth/password"


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_key_cache(request: Request) -> PublicKeyCache:
    cache: PublicKeyCache = request.app.state.key_cache
    return cache


_FLAG = TypeAdapter(bool)


def is_dry_run(request: Request) -> bool:
    """``?dry_run=`` read as the route's bool parameter reads it (README "Dry runs"), on a
    route that declares it (elsewhere the parameter means nothing and changes nothing)."""
    value = request.query_params.get("dry_run")
    if value is None:
        return False
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not any(p.alias == "dry_run" for p in dependant.query_params):
        return False
    try:
        return _FLAG.validate_python(value)
    except ValidationError:
        return False  # the route answers 422


def streams_before_writing(request: Request) -> bool:
    """A route that reads, then streams a body, then writes in a session of its own (the
    document upload): its request session only reads, so that no write transaction (on
    SQLite, the database's write lock) is held while the bytes arrive."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return bool(getattr(endpoint, "streams_before_writing", False))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, before the response.
    A dry run reads as a GET does (PostgreSQL: autocommit, no BEGIN/COMMIT; SQLite: BEGIN,
    not BEGIN IMMEDIATE, so no write lock): it locks nothing and writes nothing."""
    database: Database = request.app.state.database
    write = (
        request.method not in SAFE_METHODS
        and not is_dry_run(request)
        and not streams_before_writing(request)
    )
    async with database.session(write=write) as session:
        yield session


async def get_snapshot_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read whose statements all see one snapshot: reports whose figures must add up."""
    database: Database = request.app.state.database
    async with database.session(write=False, snapshot=True) as session:
        yield session


# scope="function": the commit runs when the route returns, so a failed commit becomes an
# error response instead of a 2xx for data that never landed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# For GETs that combine several statements into figures that must agree (a programme's
# allocated and the sum of its measures'); single-statement reads keep SessionDep.
SnapshotSessionDep = Annotated[AsyncSession, Depends(get_snapshot_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
KeyCacheDep = Annotated[PublicKeyCache, Depends(get_key_cache)]


# Where the caller is, for throttling: the socket peer as the server reports it. `wecare
# serve` has uvicorn replace the peer by the right-most untrusted X-Forwarded-For entry only
# when the peer is one of WECARE_TRUSTED_PROXIES (none by default), so a header anyone can
# send never moves a caller to another address. 64 characters: the column's width.
def client_host(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0])[:64] if client else ""


async def client_address(request: Request) -> str:
    return client_host(request.scope)


ClientAddressDep = Annotated[str, Depends(client_address)]


class BearerToken(SecurityBase):
    """OAuth2 bearer tokens (RFC 6750), documented with the client-credentials flow.

    Users' tokens from /api/v1/auth/login are bearer tokens of the same format.
    """

    def __init__(self) -> None:
        self.model = OAuth2Model(
            flows=OAuthFlows(
                clientCredentials=OAuthFlowClientCredentials(
                    tokenUrl=TOKEN_URL, scopes={str(k): v for k, v in SCOPE_DESCRIPTIONS.items()}
                )
            ),
            description="Bearer access token (JWT, RFC 9068): client credentials for partner "
            "foundations, /api/v1/auth/login for users.",
        )
        self.scheme_name = "oauth2"

    async def __call__(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                msg("Use the Authorization header as 'Bearer <token>'."), error="invalid_request"
            )
        return token.strip()


bearer_token = BearerToken()


async def _principal(
    request: Request, security_scopes: SecurityScopes, session: AsyncSession, token: str | None
) -> Principal:
    if token is None:
        if security_scopes.scopes:
            raise Unauthenticated(msg("This operation requires an access token."))
        return ANONYMOUS
    state = request.app.state
    principal = await principal_from_token(session, state.settings, state.key_cache, token)
    actor_var.set(Actor(principal.kind, principal.actor.split(":", 1)[1]))
    missing = [scope for scope in security_scopes.scopes if not principal.has(scope)]
    if missing and not principal.password_change_required:
        raise InsufficientScope(
            msg("The access token lacks the scope(s): {missing}.", missing=" ".join(missing)),
            required=missing,
        )
    return principal


async def get_principal(
    request: Request,
    security_scopes: SecurityScopes,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
) -> Principal:
    """The caller; anonymous only where the operation requires no scope.

    Settings and key cache come from the app's state, not as dependencies: every request
    resolves this one, and each dependency costs its own resolution."""
    principal = await _principal(request, security_scopes, session, token)
    if principal.password_change_required:
        raise PasswordChangeRequired(
            msg(
                "This account must change its one-time password before anything else: "
                "POST {PASSWORD_CHANGE_PATH} with the current and a new password.",
                PASSWORD_CHANGE_PATH=PASSWORD_CHANGE_PATH,
            ),
            password_change_endpoint=PASSWORD_CHANGE_PATH,
        )
    return principal


async def get_password_owner(
    request: Request,
    security_scopes: SecurityScopes,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer_token)],
) -> Principal:
    """A user, whether or not the account must change its password (the one route where
    that token is good: the change itself)."""
    principal = await _principal(request, security_scopes, session, token)
    if principal.kind == "anonymous":
        raise Unauthenticated(msg("This operation requires an access token."))
    if principal.kind != "user":
        raise Forbidden(msg("Only user accounts have passwords; clients rotate their secrets."))
    return principal


# A user changing its own password, also with the token of a password that must change.
PasswordOwner = Annotated[Principal, Security(get_password_owner)]


def require(*scopes: str) -> Any:
    """``Security`` dependency: a principal holding every one of ``scopes``."""
    return Security(get_principal, scopes=list(scopes))


# The caller, possibly anonymous (operations open to the public). Routes that use it add
# ``openapi_extra=OPTIONAL_AUTH`` so that OpenAPI says a token is optional there.
OptionalPrincipal = Annotated[Principal, Security(get_principal)]
OPTIONAL_AUTH: dict[str, Any] = {"security": [{}]}  # added to the bearer requirement
# One rule for every operation anyone may call (README "Authentication and authorisation"):
# without Authorization the caller is anonymous; a token that is presented is checked, and
# one that is not valid (malformed, expired, wrongly signed, revoked) is 401 invalid_token
# (RFC 6750 3.1), never silently ignored: a client that sends a credential wants to know that
# it no longer works. Public operations that answer everyone alike list this dependency
# (with OPTIONAL_AUTH and a documented 401); those whose answer depends on the caller take
# OptionalPrincipal, which checks the token the same way.
CHECKS_OPTIONAL_TOKEN = Security(get_principal)

# OpenAPI: the same bearer tokens as a plain HTTP scheme, offered on every operation next to
# the OAuth2 one, so that Swagger UI's Authorize takes a token from /api/v1/auth/login as
# pasted (its OAuth2 dialog only runs the client-credentials flow).
BEARER_SCHEME_NAME = "bearer"
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A user's access token from /api/v1/auth/login (or any access token of "
    "this service), sent as `Authorization: Bearer <token>`.",
}


# The OAuth endpoints (token, revoke, introspect) authenticate the partner client itself,
# never a bearer token (RFC 6749 2.3.1): HTTP Basic, or client_secret_post (client_id and
# client_secret in the form, which OpenAPI cannot name as a scheme: the empty alternative).
CLIENT_BASIC_SCHEME_NAME = "clientBasic"
CLIENT_BASIC_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "basic",
    "description": "A partner client's credentials (client_secret_basic): the client id and "
    "secret, each form-urlencoded, as `Authorization: Basic base64(id:secret)`. The OAuth "
    "endpoints also take them as the form fields `client_id` and `client_secret` "
    "(client_secret_post); without either they answer 401 `invalid_client`.",
}
CLIENT_AUTHENTICATION: dict[str, Any] = {"security": [{CLIENT_BASIC_SCHEME_NAME: []}, {}]}


def document_bearer_scheme(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the HTTP bearer scheme, as an alternative to every OAuth2 requirement (same
    scopes: OpenAPI 3.1 lets a requirement of any scheme list the roles it needs), and the
    client credentials' Basic scheme the OAuth endpoints name."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER_SCHEME_NAME] = BEARER_SCHEME
    schemes[CLIENT_BASIC_SCHEME_NAME] = CLIENT_BASIC_SCHEME
    oauth2 = bearer_token.scheme_name
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            requirements: list[dict[str, list[str]]] = operation.get("security", [])
            alternatives: list[dict[str, list[str]]] = []
            for requirement in requirements:
                alternatives.append(requirement)
                if set(requirement) == {oauth2}:
                    alternatives.append({BEARER_SCHEME_NAME: list(requirement[oauth2])})
            if requirements:
                operation["security"] = alternatives
    return schema


async def get_authenticated(principal: OptionalPrincipal) -> Principal:
    if principal.kind == "anonymous":
        raise Unauthenticated(msg("This operation requires an access token."))
    return principal


# Any authenticated caller, whatever its scopes.
AuthenticatedPrincipal = Annotated[Principal, Depends(get_authenticated)]


async def get_account_holder(principal: AuthenticatedPrincipal) -> Principal:
    """A user's token: a route about one's own account refuses a client's (403) before it
    reads the body."""
    if principal.kind != "user":
        raise Forbidden(msg("Client tokens have no user account."))
    return principal


AccountHolder = Annotated[Principal, Depends(get_account_holder)]
