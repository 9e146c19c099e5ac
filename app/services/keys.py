"""Signing keys shared by every worker through the database, and their rotation."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound, SigningKeyUnavailable
from app.core.i18n import msg
from app.core.security import (
    SigningKey,
    SigningKeyUndecryptable,
    decrypt_signing_key,
    generate_signing_key,
    signing_key_is_authentic,
)
from app.db.session import Database
from app.models.auth import SigningKeyRow
from app.repositories import auth as repo
from app.services import audit

log = logging.getLogger(__name__)

# An operator has to act (rotate the keys or restore the secret): ask for a slow retry.
SIGNING_KEY_RETRY_AFTER = 60


async def list_signing_keys(session: AsyncSession) -> list[SigningKeyRow]:
    """Every signing key, retired ones too, newest first (``wecare keys list``)."""
    return await repo.signing_keys(session, include_retired=True)


async def rotate_signing_key(session: AsyncSession, *, secret: str) -> SigningKeyRow:
    """Add a new key; it signs from now on, older keys keep verifying until retired."""
    generated = generate_signing_key(secret)
    row = SigningKeyRow(
        kid=generated.kid,
        encrypted_private_key=generated.encrypted_private_key,
        public_jwk=generated.public_jwk,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        action="signing_key.rotate",
        entity_type="signing_key",
        entity_id=row.kid,
        after=audit.snapshot(row),
    )
    return row


async def ensure_signing_key(session: AsyncSession, *, secret: str) -> SigningKeyRow | None:
    """A new signing key when none is active (a fresh database), so that the JWKS publishes
    one before the first token is issued; None when one is."""
    if await repo.signing_keys(session, include_retired=False):
        return None
    return await rotate_signing_key(session, secret=secret)


async def ensure_signing_key_at_start(database: Database, *, secret: str) -> None:
    """At a server's start: a resource server that loads the JWKS at its own start finds a
    key. A database that is down or not migrated yet is logged in one line, and the first
    token will create the key instead."""
    try:
        async with database.session(write=True) as session:
            made = await ensure_signing_key(session, secret=secret)
    except Exception as error:
        log.warning("no signing key created at start: %s", str(error).splitlines()[0])
        return
    if made is not None:
        log.info("signing key %s created: none was active", made.kid)


async def retire_signing_key(session: AsyncSession, *, kid: str) -> SigningKeyRow:
    """Stop accepting tokens signed with this key (refused by every worker)."""
    keys = await repo.signing_keys(session, include_retired=True)
    row = next((k for k in keys if k.kid == kid), None)
    if row is None:
        raise NotFound(msg("No signing key {kid}.", kid=kid))
    if row.retired_at is not None:
        return row
    if [k.kid for k in keys if k.retired_at is None] == [kid]:
        raise Conflict(msg("This is the only active key: rotate first, then retire it."))
    before = audit.snapshot(row)
    row.retired_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        action="signing_key.retire",
        entity_type="signing_key",
        entity_id=row.kid,
        before=before,
        after=audit.snapshot(row),
    )
    return row


async def current_signing_key(session: AsyncSession, *, secret: str) -> SigningKey:
    """The newest unretired key, created on first use."""
    keys = await repo.signing_keys(session, include_retired=False)
    row = keys[0] if keys else await rotate_signing_key(session, secret=secret)
    try:
        return decrypt_signing_key(row.kid, row.encrypted_private_key, secret)
    except SigningKeyUndecryptable as error:
        # A misconfiguration, not a bug: one line for the operator, a 503 for the caller.
        log.error("%s", error)
        raise SigningKeyUnavailable(
            msg(
                "The service cannot sign tokens until its signing keys are rotated "
                "(wecare keys rotate) or its secret is restored."
            ),
            retry_after=SIGNING_KEY_RETRY_AFTER,
        ) from None


async def undecryptable_signing_key(session: AsyncSession, *, secret: str) -> str | None:
    """The kid of the signing key in use if this secret cannot decrypt it, else None.

    None too when there is no key yet (the first login creates one under this secret).
    """
    keys = await repo.signing_keys(session, include_retired=False)
    if not keys:
        return None
    row = keys[0]
    try:
        decrypt_signing_key(row.kid, row.encrypted_private_key, secret)
    except SigningKeyUndecryptable:
        return row.kid
    return None


def _authentic(row: SigningKeyRow, secret: str) -> bool:
    return signing_key_is_authentic(row.kid, row.encrypted_private_key, row.public_jwk, secret)


async def public_jwks(session: AsyncSession, *, secret: str) -> list[dict[str, Any]]:
    """The public halves of the unretired keys made with this server's secret."""
    rows = await repo.signing_keys(session, include_retired=False)
    return [dict(row.public_jwk) for row in rows if _authentic(row, secret)]


class PublicKeyCache:
    """Per-process cache of the verifying keys, refreshed after ``ttl`` seconds.

    An unknown kid forces a refresh (at most once a second), so a key rotated in by
    another worker is picked up at once; a retirement reaches every worker within ``ttl``.
    """

    def __init__(self, ttl: float, *, secret: str) -> None:
        self.ttl = ttl
        self._secret = secret
        self._keys: dict[str, dict[str, Any]] = {}
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def get(self, session: AsyncSession, kid: str | None) -> dict[str, dict[str, Any]]:
        age = time.monotonic() - self._loaded_at
        if age > self.ttl or (kid not in self._keys and age > 1.0):
            rows = await repo.signing_keys(session, include_retired=False)
            # Only keys made with the secret: a row planted by a database login cannot
            # make the service accept tokens it did not sign.
            self._keys = {
                row.kid: dict(row.public_jwk) for row in rows if _authentic(row, self._secret)
            }
            self._loaded_at = time.monotonic()
        return self._keys
