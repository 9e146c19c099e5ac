"""Queries on stored idempotent responses."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.idempotency import IdempotencyKey


async def try_lock(session: AsyncSession, actor: str, key: str) -> bool:
    """PostgreSQL: a transaction-scoped advisory lock on (actor, key); False if held elsewhere.

    SQLite needs none: its write transactions are serialised by BEGIN IMMEDIATE.
    """
    if (await session.connection()).dialect.name != "postgresql":
        return True
    digest = hashlib.sha256(f"{actor}\x00{key}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    acquired = await session.scalar(select(func.pg_try_advisory_xact_lock(lock_id)))
    return bool(acquired)


async def find(session: AsyncSession, actor: str, key: str, now: datetime) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.actor == actor,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at > now,
        )
    )


async def delete_expired_key(session: AsyncSession, actor: str, key: str, now: datetime) -> None:
    """Free an expired key for reuse (the unique constraint spans expired rows too)."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.actor == actor,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at <= now,
        )
    )
