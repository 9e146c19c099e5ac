"""OAuth 2.0 authorisation server for partner clients: token (RFC 6749 section 4.4),
revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import (
    CLIENT_AUTHENTICATION,
    ClientAddressDep,
    KeyCacheDep,
    SessionDep,
    SettingsDep,
)
from app.api.problems import (
    OAUTH_HEADERS,
    delay_refusal,
    language_of,
    oauth_error_response,
    problem_responses,
)
from app.core.context import Actor, actor_var
from app.core.errors import OAuthProtocolError
from app.core.i18n import msg
from app.schemas.auth import IntrospectionResponse, OAuthError, TokenResponse
from app.services import clients as client_service
from app.services import tokens as token_service
from app.services.clients import AuthenticatedClient

router = APIRouter(prefix="/oauth", tags=["oauth"])

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024


# What _read_form refuses, said where clients read it (RFC 6749 section 3.1).
_FORM_RULES = (
    "UTF-8, at most 16 KiB. Each parameter at most once: a repeated parameter is refused "
    "with 400 invalid_request (RFC 6749 section 3.1), as is a required one left empty."
)


def _form_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    properties = {
        name: {**schema, "minLength": 1} if name in required else schema
        for name, schema in fields.items()
    }
    return {
        **CLIENT_AUTHENTICATION,
        "requestBody": {
            "required": True,
            "description": _FORM_RULES,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": required,
                        # Unknown parameters are ignored (RFC 6749 3.1), each once, a string.
                        "additionalProperties": {"type": "string"},
                        "description": _FORM_RULES,
                    },
                }
            },
        },
    }


_CLIENT_FIELDS = {
    "client_id": {"type": "string", "description": "client_secret_post only"},
    "client_secret": {"type": "string", "description": "client_secret_post only"},
}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": OAuthError,
        "description": "invalid_request (a parameter missing, empty or repeated, or a body "
        "that is not a UTF-8 urlencoded form), invalid_scope, unsupported_grant_type, "
        "unauthorized_client.",
    },
    401: {"model": OAuthError, "description": "invalid_client"},
    **problem_responses(429, 503),
}


async def _read_form(request: Request) -> dict[str, str]:
    """Parse a urlencoded body strictly: right media type, UTF-8, no repeated parameter."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise OAuthProtocolError(
            "invalid_request", msg("The request body must be {FORM}.", FORM=FORM)
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise OAuthProtocolError("invalid_request", msg("The request body is too large."))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as error:
        raise OAuthProtocolError(
            "invalid_request", msg("The request body is malformed.")
        ) from error
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthProtocolError(
                "invalid_request", msg("Parameter {name} is repeated.", name=name)
            )
        form[name] = value
    return form


async def _authenticate(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    address: str,
    form: dict[str, str],
) -> AuthenticatedClient | Response:
    """client_secret_basic or client_secret_post, never both (RFC 6749 section 2.3).

    The authenticated client becomes the request's actor: what it changes here (a revoked
    token, a signing key created for its first token) is recorded as done by it. A failure
    is counted against the caller's address and returned as the response, not raised: the
    request's transaction commits the count.
    """
    try:
        client = await _client_of(request, session, settings, address, form)
    except OAuthProtocolError as refused:
        if refused.status != 401:
            raise
        await client_service.record_client_auth_failure(session, address)
        delay_refusal(request)
        return oauth_error_response(refused, language=language_of(request.scope))
    actor_var.set(Actor("client", client.client_id))
    return client


async def _client_of(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    address: str,
    form: dict[str, str],
) -> AuthenticatedClient:
    header = request.headers.get("authorization")
    posted = "client_secret" in form
    if header is not None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthProtocolError(
                "invalid_client", msg("Use HTTP Basic."), status=401, basic_auth=True
            )
        if posted:
            raise OAuthProtocolError(
                "invalid_request", msg("Use one client authentication method.")
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except ValueError as error:
            # binascii.Error (bad base64), UnicodeDecodeError, and the plain ValueError that
            # b64decode raises for a non-ASCII header (Starlette decodes headers as Latin-1).
            raise OAuthProtocolError(
                "invalid_client", msg("Malformed Basic credentials."), status=401, basic_auth=True
            ) from error
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            raise OAuthProtocolError(
                "invalid_client", msg("Malformed Basic credentials."), status=401, basic_auth=True
            )
        # RFC 6749 section 2.3.1: id and secret are form-urlencoded before base64.
        return await client_service.authenticate_client(
            session,
            settings,
            client_id=unquote_plus(raw_id),
            secret=unquote_plus(raw_secret),
            basic_auth=True,
            address=address,
        )
    if posted and form.get("client_id"):
        return await client_service.authenticate_client(
            session,
            settings,
            client_id=form["client_id"],
            secret=form["client_secret"],
            basic_auth=False,
            address=address,
        )
    raise OAuthProtocolError(
        "invalid_client", msg("Client authentication is required."), status=401, basic_auth=True
    )


@router.post(
    "/token",
    summary="Obtain an access token (client credentials)",
    response_model=TokenResponse,
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(
        {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string", "description": "Space-separated; default: all granted."},
            **_CLIENT_FIELDS,
        },
        ["grant_type"],
    ),
)
async def issue_token(
    request: Request, session: SessionDep, settings: SettingsDep, address: ClientAddressDep
) -> Response:
    """Issue a short-lived JWT access token (RFC 9068) to an authenticated partner client."""
    form = await _read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthProtocolError("invalid_request", msg("grant_type is required."))
    client = await _authenticate(request, session, settings, address, form)
    if isinstance(client, Response):
        return client
    if grant_type != "client_credentials":
        raise OAuthProtocolError(
            "unsupported_grant_type", msg("Only the client_credentials grant is supported.")
        )
    if not client.scopes:
        raise OAuthProtocolError(
            "unauthorized_client", msg("This client is not authorised for any scope.")
        )
    issued = await client_service.grant_client_credentials(
        session, settings, client=client, scope=form.get("scope")
    )
    body = TokenResponse(
        access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
    )
    return JSONResponse(body.model_dump(), headers=OAUTH_HEADERS)


# RFC 7009 and RFC 7662 take the same form: the client's credentials and one token.
_TOKEN_FORM = _form_body(
    {"token": {"type": "string"}, "token_type_hint": {"type": "string"}, **_CLIENT_FIELDS},
    ["token"],
)


async def _token_of_client(
    request: Request, session: SessionDep, settings: SettingsDep, address: ClientAddressDep
) -> tuple[AuthenticatedClient, str] | Response:
    """The authenticated client and the token it names, or the refusal to send."""
    form = await _read_form(request)
    client = await _authenticate(request, session, settings, address, form)
    if isinstance(client, Response):
        return client
    token = form.get("token")
    if not token:
        raise OAuthProtocolError("invalid_request", msg("token is required."))
    return client, token


@router.post(
    "/revoke",
    summary="Revoke an access token",
    status_code=200,
    response_class=Response,
    responses={
        200: {"description": "Revoked, or not a token of this client (RFC 7009)."},
        **_OAUTH_ERRORS,
    },
    openapi_extra=_TOKEN_FORM,
)
async def revoke_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    keys: KeyCacheDep,
    address: ClientAddressDep,
) -> Response:
    """Revoke one of the calling client's access tokens; every worker refuses it from now on."""
    asked = await _token_of_client(request, session, settings, address)
    if isinstance(asked, Response):
        return asked
    client, token = asked
    await token_service.revoke_access_token(
        session, settings, keys, token, client_id=client.client_id
    )
    return Response(status_code=200, headers=OAUTH_HEADERS)


@router.post(
    "/introspect",
    summary="Introspect an access token",
    response_model=IntrospectionResponse,
    responses=_OAUTH_ERRORS,
    openapi_extra=_TOKEN_FORM,
)
async def introspect_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    keys: KeyCacheDep,
    address: ClientAddressDep,
) -> Response:
    """Tell the calling client whether one of its tokens is active (RFC 7662)."""
    asked = await _token_of_client(request, session, settings, address)
    if isinstance(asked, Response):
        return asked
    client, token = asked
    result = await token_service.introspect(
        session, settings, keys, token, client_id=client.client_id
    )
    return JSONResponse(result, headers=OAUTH_HEADERS)
