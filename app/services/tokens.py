"""Access tokens: issuing, verifying into a Principal, revoking, introspecting."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.auth import FIRST_PARTY_CLIENT_ID, ROLE_SCOPES, Principal
from app.core.config import Settings
from app.core.errors import Unauthenticated
from app.core.i18n import msg
from app.core.security import (
    AccessTokenClaims,
    InvalidAccessToken,
    issue_access_token,
    token_header,
    verify_access_token,
)
from app.repositories import auth as repo
from app.services import audit
from app.services.keys import PublicKeyCache, current_signing_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    claims: AccessTokenClaims


async def issue_token(
    session: AsyncSession,
    settings: Settings,
    *,
    subject: str,
    client_id: str,
    scopes: frozenset[str],
    extra: dict[str, Any] | None = None,
    grant: str | None = None,
) -> IssuedToken:
    """Sign an access token; counted by ``grant`` (default: ``password`` for the
    frontends' first-party client, ``client_credentials`` for a partner's)."""
    key = await current_signing_key(session, secret=settings.secret)
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    token, claims = issue_access_token(
        key,
        issuer=settings.issuer,
        audience=settings.token_audience,
        subject=subject,
        client_id=client_id,
        scopes=scopes,
        ttl=ttl,
        extra=extra,
    )
    if grant is None:
        grant = "password" if client_id == FIRST_PARTY_CLIENT_ID else "client_credentials"
    metrics.TOKENS_ISSUED.labels(grant=grant).inc()
    return IssuedToken(token, settings.access_token_ttl_seconds, claims.raw["scope"], claims)


async def _signed_claims(
    session: AsyncSession, settings: Settings, keys: PublicKeyCache, token: str
) -> AccessTokenClaims:
    """Signature, header and claims; raises InvalidAccessToken. Revocation is not checked."""
    kid = token_header(token).get("kid")
    public_keys = await keys.get(session, kid if isinstance(kid, str) else None)
    return verify_access_token(
        token,
        public_keys=public_keys,
        issuer=settings.issuer,
        audience=settings.token_audience,
        max_lifetime=timedelta(seconds=settings.access_token_ttl_seconds),
    )


def _check_revocation(*, token_revoked: bool, session_revoked: bool) -> None:
    if token_revoked:
        raise InvalidAccessToken("token revoked")
    if session_revoked:
        # Logout, a refresh-token replay or a deactivation revoked the session: every
        # access token of it stops, not only the one that was presented.
        raise InvalidAccessToken("session revoked")


async def verify_token(
    session: AsyncSession, settings: Settings, keys: PublicKeyCache, token: str
) -> AccessTokenClaims:
    """Signature, header, claims, and not revoked; raises InvalidAccessToken."""
    claims = await _signed_claims(session, settings, keys, token)
    session_id = _session_id(claims.raw.get("sid"))
    _check_revocation(
        token_revoked=await repo.is_revoked(session, claims.jti),
        session_revoked=session_id is not None
        and await repo.is_session_revoked(session, session_id),
    )
    return claims


def _session_id(value: object) -> uuid.UUID | None:
    """The "sid" claim (absent from tokens issued before it existed); the signature vouches
    for it, so a malformed one is simply no session."""
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def principal_from_token(
    session: AsyncSession, settings: Settings, keys: PublicKeyCache, token: str
) -> Principal:
    """The caller behind a bearer token, with the scopes it holds today. After the
    signature, one statement: the token and its session not revoked, the account (active,
    its role, whether its password must change, its memberships) or the client."""
    try:
        claims = await _signed_claims(session, settings, keys, token)
        session_id = _session_id(claims.raw.get("sid"))
        if claims.client_id == FIRST_PARTY_CLIENT_ID:
            facts = await repo.user_token_facts(
                session, jti=claims.jti, session_id=session_id, user_id=_user_id(claims.subject)
            )
        else:
            facts = await repo.client_token_facts(
                session, jti=claims.jti, session_id=session_id, client_id=claims.client_id
            )
        _check_revocation(token_revoked=facts.token_revoked, session_revoked=facts.session_revoked)
    except InvalidAccessToken as error:
        log.info("access token refused: %s", error)
        raise Unauthenticated(
            msg("The access token is not valid."), error="invalid_token"
        ) from error
    if claims.client_id == FIRST_PARTY_CLIENT_ID:
        if facts.id is None or not facts.active or facts.role is None:
            raise Unauthenticated(msg("The account is not active."), error="invalid_token")
        return Principal(
            kind="user",
            id=facts.id,
            client_id=claims.client_id,
            role=facts.role,
            # A role's scopes may have shrunk since the token was issued.
            scopes=claims.scopes & ROLE_SCOPES[facts.role],
            organisation_ids=frozenset(facts.organisation_ids),
            token_jti=claims.jti,
            token_expires_at=claims.expires_at,
            session_id=session_id,
            password_change_required=facts.must_change_password,
        )
    if facts.id is None or not facts.active or claims.subject != facts.client_id:
        raise Unauthenticated(msg("The client is not active."), error="invalid_token")
    return Principal(
        kind="client",
        id=facts.id,
        client_id=facts.client_id,
        scopes=claims.scopes & frozenset(facts.client_scopes),
        organisation_ids=frozenset(facts.organisation_ids),
        token_jti=claims.jti,
        token_expires_at=claims.expires_at,
    )


def _user_id(subject: str) -> uuid.UUID | None:
    """The account a user token names; a subject that is no id names none (not active)."""
    try:
        return uuid.UUID(subject)
    except ValueError:
        return None


async def revoke_access_token(
    session: AsyncSession,
    settings: Settings,
    keys: PublicKeyCache,
    token: str,
    *,
    client_id: str,
) -> bool:
    """Revoke a token issued to ``client_id``; anything else is silently ignored (RFC 7009)."""
    try:
        claims = await verify_token(session, settings, keys, token)
    except InvalidAccessToken:
        return False
    if claims.client_id != client_id:
        return False
    await repo.revoke_jti(session, claims.jti, claims.expires_at)
    await audit.record(
        session, action="token.revoke", entity_type="access_token", entity_id=claims.jti
    )
    return True


async def introspect(
    session: AsyncSession,
    settings: Settings,
    keys: PublicKeyCache,
    token: str,
    *,
    client_id: str,
) -> dict[str, Any]:
    """RFC 7662: a client learns about its own tokens; anything else is ``{"active": false}``."""
    try:
        claims = await verify_token(session, settings, keys, token)
    except InvalidAccessToken:
        return {"active": False}
    if claims.client_id != client_id:
        return {"active": False}
    client = await repo.get_client_by_client_id(session, client_id)
    if client is None or not client.active:
        return {"active": False}
    return {
        "active": True,
        "scope": claims.raw["scope"],
        "client_id": claims.client_id,
        "sub": claims.subject,
        "aud": claims.raw["aud"],
        "iss": claims.raw["iss"],
        "exp": claims.raw["exp"],
        "iat": claims.raw["iat"],
        "jti": claims.jti,
        "token_type": "Bearer",
    }


def now() -> datetime:
    return datetime.now(UTC)
