"""Idempotency-Key: a retried POST replays the stored response instead of acting twice.

The stored response is written in the same transaction as the resource, so either both
exist or neither does. Keys are scoped to the caller and kept 24 hours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import IdempotencyKeyReused, IdempotencyRequestInFlight
from app.core.i18n import msg
from app.models.idempotency import IdempotencyKey
from app.repositories import idempotency as repo

RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    headers: dict[str, str]


# A request holding its key is mid-transaction; most finish well within this.
IN_FLIGHT_RETRY_AFTER = 1


async def recall(
    session: AsyncSession, *, actor: str, key: str, request_hash: str
) -> StoredResponse | None:
    """The stored response for this key, None if the key is new; refuse reuse and overlap.

    The stored response is looked for before the lock and again after it: the lock is also
    held by a concurrent retry that is itself only replaying, and by the first request until
    the instant it commits. A retry that finds the response replays it whoever holds the
    lock; only a key with no stored response and a holder is still being processed.
    """
    now = datetime.now(UTC)
    stored = await repo.find(session, actor, key, now)
    if stored is None:
        if not await repo.try_lock(session, actor, key):
            # The holder may have committed since the first look (READ COMMITTED: a new
            # statement sees it).
            stored = await repo.find(session, actor, key, now)
            if stored is None:
                raise IdempotencyRequestInFlight(
                    msg(
                        "A request with this Idempotency-Key is still being processed; retry in "
                        "{IN_FLIGHT_RETRY_AFTER} second(s).",
                        IN_FLIGHT_RETRY_AFTER=IN_FLIGHT_RETRY_AFTER,
                    ),
                    retry_after=IN_FLIGHT_RETRY_AFTER,
                )
        else:
            stored = await repo.find(session, actor, key, now)
    if stored is None:
        await repo.delete_expired_key(session, actor, key, now)
        return None
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReused(
            msg("This Idempotency-Key was already used with a different request; use a new key.")
        )
    return StoredResponse(stored.response_status, stored.response_body, stored.response_headers)


async def remember(
    session: AsyncSession,
    *,
    actor: str,
    key: str,
    request_hash: str,
    response: StoredResponse,
) -> None:
    now = datetime.now(UTC)
    session.add(
        IdempotencyKey(
            id=uuid.uuid4(),
            actor=actor,
            key=key,
            request_hash=request_hash,
            response_status=response.status,
            response_body=response.body,
            response_headers=response.headers,
            created_at=now,
            expires_at=now + RETENTION,
        )
    )
    await session.flush()
