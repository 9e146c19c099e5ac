"""Partner OAuth clients: registration, client authentication, the client-credentials grant."""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CLIENT_GRANTABLE_SCOPES, Principal
from app.core.config import Settings
from app.core.context import Actor
from app.core.errors import (
    InvalidInput,
    NotFound,
    OAuthProtocolError,
    TooManyClientAuthFailures,
)
from app.core.i18n import msg
from app.core.security import (
    client_secret_pepper,
    hash_client_secret,
    is_password_hash,
    new_client_secret,
    verify_client_secret,
)
from app.models.auth import ClientAuthFailure, OAuthClient
from app.models.organisation import Organisation
from app.repositories import auth as repo
from app.schemas.auth import ClientCreate, ClientCreated, ClientQuery, ClientRead
from app.schemas.common import from_attributes
from app.schemas.page import Page
from app.services import audit, passwords
from app.services.lookup import load
from app.services.paging import SortKey
from app.services.tokens import IssuedToken, issue_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredClient:
    client: OAuthClient
    secret: str  # shown once, never stored


@dataclass(frozen=True)
class AuthenticatedClient:
    """A partner client whose credentials this request verified: who it is, what it may ask."""

    client_id: str
    scopes: tuple[str, ...]


CLIENT_ORDER = SortKey[OAuthClient](OAuthClient.id)


async def list_clients(
    session: AsyncSession, principal: Principal, query: ClientQuery
) -> Page[ClientRead]:
    """Registered clients in a stable order (administrators: the route requires
    clients:admin), never their secrets."""
    return await CLIENT_ORDER.page_of(
        query, partial(repo.page_clients, session), ClientRead.model_validate
    )


async def get_client(session: AsyncSession, principal: Principal, id: uuid.UUID) -> ClientRead:
    return ClientRead.model_validate(await load(session, OAuthClient, id, msg("client")))


async def create_client(
    session: AsyncSession, principal: Principal, *, settings: Settings, data: ClientCreate
) -> ClientCreated:
    """Register a client (see :func:`register_client`): its secret is in this answer only."""
    registered = await register_client(
        session,
        settings=settings,
        name=data.name,
        scopes=data.scopes,
        organisation_id=data.organisation_id,
    )
    return from_attributes(ClientCreated, registered.client, client_secret=registered.secret)


async def register_client(
    session: AsyncSession,
    *,
    settings: Settings,
    name: str,
    scopes: list[str],
    organisation_id: uuid.UUID | None = None,
) -> RegisteredClient:
    """Create a client with a fresh 256-bit secret, stored only as its HMAC-SHA-256 keyed by
    a pepper derived from the server secret."""
    unknown = sorted(set(scopes) - CLIENT_GRANTABLE_SCOPES)
    if unknown:
        raise InvalidInput(
            msg("Scopes not grantable to partner clients: {unknown}.", unknown=", ".join(unknown)),
            grantable=sorted(CLIENT_GRANTABLE_SCOPES),
        )
    if organisation_id is not None and await session.get(Organisation, organisation_id) is None:
        raise NotFound(msg("No organisation {organisation_id}.", organisation_id=organisation_id))
    secret = new_client_secret()
    client = OAuthClient(
        id=uuid.uuid4(),
        client_id=f"wcc_{secrets.token_urlsafe(12)}",
        name=name,
        secret_hash=hash_client_secret(secret, client_secret_pepper(settings.secret)),
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


async def rotate_client_secret(
    session: AsyncSession, settings: Settings, *, client_id: str
) -> RegisteredClient:
    """Give a client a fresh secret (the old one stops at once): after a leak, or after a
    change of WECARE_SECRET_KEY, under which no stored client secret verifies any more."""
    client = await repo.get_client_by_client_id(session, client_id)
    if client is None:
        raise NotFound(msg("No client {client_id}.", client_id=client_id))
    secret = new_client_secret()
    client.secret_hash = hash_client_secret(secret, client_secret_pepper(settings.secret))
    await session.flush()
    await audit.record(
        session,
        action="client.secret_rotate",
        entity_type="oauth_client",
        entity_id=client.id,
        reason="a new client secret was issued; the previous one no longer authenticates",
    )
    return RegisteredClient(client=client, secret=secret)


async def deactivate_client(session: AsyncSession, *, id: uuid.UUID) -> OAuthClient:
    client = await repo.get_client(session, id)
    if client is None:
        raise NotFound(msg("No client {id}.", id=id))
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


async def check_client_auth_rate(session: AsyncSession, settings: Settings, address: str) -> None:
    """Refuse client authentication from an address with too many recent failures."""
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.login_failure_window_seconds)
    failures, oldest = await repo.count_client_auth_failures(session, address, now - window)
    if failures >= settings.client_auth_max_failures_per_address and oldest is not None:
        retry_after = max(1, math.ceil((oldest + window - now).total_seconds()))
        raise TooManyClientAuthFailures(
            msg(
                "Too many failed client authentications from this address; retry in "
                "{retry_after} seconds.",
                retry_after=retry_after,
            ),
            retry_after=retry_after,
        )


async def record_client_auth_failure(session: AsyncSession, address: str) -> None:
    """Committed by the caller despite the refusal. No audit event: nothing changed, and an
    anonymous caller must not be able to grow a trail that is never erased; the row is
    pruned with the window."""
    session.add(ClientAuthFailure(id=uuid.uuid4(), address=address, failed_at=datetime.now(UTC)))
    await session.flush()
    log.info("client authentication failed from %s", address)


async def authenticate_client(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: str,
    secret: str,
    basic_auth: bool,
    address: str,
) -> AuthenticatedClient:
    """The same answer, after the same HMAC work, for an unknown client and a wrong secret.

    An id with a NUL, which no client has and PostgreSQL refuses in text, is not looked up:
    it is an unknown client, not a database error. A secret still stored as an argon2 hash
    (registered before HMAC) is checked once with argon2, in the password-hashing pool, and
    rewritten as HMAC on success.
    """
    await check_client_auth_rate(session, settings, address)
    client = (
        await repo.get_client_by_client_id(session, client_id) if "\x00" not in client_id else None
    )
    pepper = client_secret_pepper(settings.secret)
    stored = client.secret_hash if client else None
    if client is not None and stored is not None and is_password_hash(stored):
        valid = await passwords.verify_password(settings, secret, stored)
        if valid and client.active:
            await _rehash(session, client, hash_client_secret(secret, pepper))
    else:
        valid = verify_client_secret(secret, stored, pepper)
    if client is None or not valid or not client.active:
        raise OAuthProtocolError(
            "invalid_client",
            msg("Client authentication failed."),
            status=401,
            basic_auth=basic_auth,
        )
    return AuthenticatedClient(client.client_id, tuple(client.scopes))


async def _rehash(session: AsyncSession, client: OAuthClient, secret_hash: str) -> None:
    client.secret_hash = secret_hash
    await session.flush()
    await audit.record(
        session,
        action="client.secret_rehash",
        entity_type="oauth_client",
        entity_id=client.id,
        reason="the client secret's argon2id hash was replaced by HMAC-SHA-256 on its first use",
        actor=Actor("client", client.client_id),
    )


async def grant_client_credentials(
    session: AsyncSession, settings: Settings, *, client: AuthenticatedClient, scope: str | None
) -> IssuedToken:
    """RFC 6749 section 4.4: a token for the requested scopes (all the client's by default)."""
    allowed = frozenset(client.scopes)
    requested = frozenset(scope.split()) if scope else allowed
    if not requested or not requested <= allowed:
        raise OAuthProtocolError(
            "invalid_scope",
            msg(
                "Requested scope exceeds what this client may have: {allowed}.",
                allowed=" ".join(sorted(allowed)),
            ),
        )
    return await issue_token(
        session,
        settings,
        subject=client.client_id,
        client_id=client.client_id,
        scopes=requested,
        grant="client_credentials",
    )
