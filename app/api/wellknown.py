"""Discovery documents: the JWKS and the authorisation server metadata (RFC 8414)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import TOKEN_URL, SessionDep, SettingsDep
from app.core.auth import CLIENT_GRANTABLE_SCOPES
from app.schemas.auth import AuthorizationServerMetadata, Jwks
from app.services.keys import public_jwks

router = APIRouter(prefix="/.well-known", tags=["oauth"])


@router.get("/jwks.json", summary="Token signing keys")
async def get_jwks(session: SessionDep, settings: SettingsDep) -> Jwks:
    """Publish the public members of every key that tokens may be signed with."""
    return Jwks(keys=await public_jwks(session, secret=settings.secret))


@router.get("/oauth-authorization-server", summary="Authorisation server metadata")
async def get_authorization_server_metadata(settings: SettingsDep) -> AuthorizationServerMetadata:
    """Describe the OAuth 2.0 authorisation server (RFC 8414) for partner clients."""
    base = settings.issuer
    methods = ["client_secret_basic", "client_secret_post"]
    return AuthorizationServerMetadata(
        issuer=base,
        token_endpoint=f"{base}{TOKEN_URL}",
        jwks_uri=f"{base}/.well-known/jwks.json",
        revocation_endpoint=f"{base}/api/v1/oauth/revoke",
        introspection_endpoint=f"{base}/api/v1/oauth/introspect",
        grant_types_supported=["client_credentials"],
        response_types_supported=[],
        token_endpoint_auth_methods_supported=methods,
        revocation_endpoint_auth_methods_supported=methods,
        introspection_endpoint_auth_methods_supported=methods,
        scopes_supported=sorted(CLIENT_GRANTABLE_SCOPES),
        service_documentation=f"{base}/docs",
    )
