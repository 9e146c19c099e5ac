"""Partner OAuth clients: registration, client authentication, the client-credentials grant."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CLIENT_GRANTABLE_SCOPES
from app.core.config import Settings
from app.core.errors import InvalidInput, NotFound, OAuthProtocolError
from app.core.security import hash_secret, new_client_secret, verify_secret
from app.models.auth import OAuthClient
from app.models.organisation import Organisation
from app.repositories import auth as repo
from app.services import audit
from app.services.tokens import IssuedToken, issue_token


@dataclass(frozen=True)
class RegisteredClient:
    client: OAuthClient
    secret: str  # shown once, never stored


async def register_client(
    session: AsyncSession,
    *,
    name: str,
    scopes: list[str],
    organisation_id: uuid.UUID | None = None,
) -> RegisteredClient:
    """Create a client with a fresh 256-bit secret, stored only as an argon2id hash."""
    unknown = sorted(set(scopes) - CLIENT_GRANTABLE_SCOPES)
    if unknown:
        raise InvalidInput(
            f"Scopes not grantable to partner clients: {', '.join(unknown)}.",
            grantable=sorted(CLIENT_GRANTABLE_SCOPES),
        )
    if organisation_id is not None and await session.get(Organisation, organisation_id) is None:
        raise NotFound(f"No organisation {organisation_id}.")
    secret = new_client_secret()
    client = OAuthClient(
        id=uuid.uuid4(),
        client_id=f"wcc_{secrets.token_urlsafe(12)}",
        name=name,
        secret_hash=hash_secret(secret),
        scopes=sorted(set(scopes)),
        organisation_id=organisation_id,
        active=True,
    )
    session.add(client)
    await session.flush()
    await audit.record(
        session,
        action="client.create",
        entity_type="oauth_client",
        entity_id=client.id,
        after=audit.snapshot(client),
    )
    return RegisteredClient(client=client, secret=secret)


async def deactivate_client(session: AsyncSession, *, id: uuid.UUID) -> OAuthClient:
    client = await repo.get_client(session, id)
    if client is None:
        raise NotFound(f"No client {id}.")
    before = audit.snapshot(client)
    client.active = False
    await session.flush()
    await audit.record(
        session,
        action="client.deactivate",
        entity_type="oauth_client",
        entity_id=client.id,
        before=before,
        after=audit.snapshot(client),
    )
    return client


async def authenticate_client(
    session: AsyncSession, *, client_id: str, secret: str, basic_auth: bool
) -> OAuthClient:
    """The same answer, after the same argon2 work, for an unknown client and a wrong secret.

    An id with a NUL, which no client has and PostgreSQL refuses in text, is not looked up:
    it is an unknown client, not a database error.
    """
    client = (
        await repo.get_client_by_client_id(session, client_id) if "\x00" not in client_id else None
    )
    valid = verify_secret(secret, client.secret_hash if client else None)
    if client is None or not valid or not client.active:
        raise OAuthProtocolError(
            "invalid_client", "Client authentication failed.", status=401, basic_auth=basic_auth
        )
    return client


async def grant_client_credentials(
    session: AsyncSession, settings: Settings, *, client: OAuthClient, scope: str | None
) -> IssuedToken:
    """RFC 6749 section 4.4: a token for the requested scopes (all the client's by default)."""
    allowed = frozenset(client.scopes)
    requested = frozenset(scope.split()) if scope else allowed
    if not requested or not requested <= allowed:
        raise OAuthProtocolError(
            "invalid_scope",
            f"Requested scope exceeds what this client may have: {' '.join(sorted(allowed))}.",
        )
    return await issue_token(
        session, settings, subject=client.client_id, client_id=client.client_id, scopes=requested
    )
