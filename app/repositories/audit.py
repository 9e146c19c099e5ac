"""Queries on the audit trail and its head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models.audit import AuditCheckpoint, AuditEvent, AuditHead
from app.models.auth import SigningKeyRow
from app.repositories.paging import Order, keyset


async def lock_head(session: AsyncSession) -> tuple[int, str]:
    """The last sequence number and hash, holding the head row's lock until commit:
    concurrent writers queue here, so the chain cannot fork. (SQLite: the write transaction
    already holds the database's write lock from BEGIN IMMEDIATE.)"""
    row = (
        await session.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
        )
    ).one()
    return int(row[0]), str(row[1])


async def set_head(session: AsyncSession, *, seq: int, digest: str) -> None:
    """Move the head onto the event just inserted (the only move its trigger allows)."""
    await session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=seq, hash=digest)
        .execution_options(synchronize_session=False)
    )


async def head(session: AsyncSession) -> AuditHead:
    found = await session.get(AuditHead, 1)
    assert found is not None, "the audit head row is created by the migrations"
    return found


async def page_events(
    session: AsyncSession,
    *,
    filters: dict[str, Any],
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[AuditEvent]:
    query: Select[tuple[AuditEvent]] = select(AuditEvent)
    for name in ("entity_type", "entity_id", "actor_id", "action"):
        if filters.get(name) is not None:
            query = query.where(getattr(AuditEvent, name) == filters[name])
    if filters.get("since") is not None:
        query = query.where(AuditEvent.occurred_at >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(AuditEvent.occurred_at < filters["until"])
    return list(await session.scalars(keyset(query, order, after, limit)))


async def stream_events(
    connection: AsyncConnection, *, upto: int, batch: int = 5000
) -> AsyncIterator[Any]:
    """Every event up to sequence number ``upto``, in sequence order, in batches (for
    verification: events committed while the walk runs lie beyond ``upto``)."""
    last = 0
    while True:
        rows = (
            await connection.execute(
                select(AuditEvent.__table__)
                .where(AuditEvent.seq > last, AuditEvent.seq <= upto)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def read_head(connection: AsyncConnection) -> tuple[int, str]:
    row = (await connection.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1"))).one()
    return int(row[0]), str(row[1])


async def last_seq(connection: AsyncConnection) -> int:
    """The highest sequence number stored (0 for an empty trail)."""
    found = await connection.scalar(select(func.max(AuditEvent.seq)))
    return int(found or 0)


async def event_hash(connection: AsyncConnection, seq: int) -> str | None:
    found = await connection.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
    return None if found is None else str(found)


async def newest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    found: AuditCheckpoint | None = await session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    )
    return found


async def get_checkpoint(session: AsyncSession, seq: int) -> AuditCheckpoint | None:
    return await session.get(AuditCheckpoint, seq)


async def page_checkpoints(
    session: AsyncSession, *, order: Order, after: tuple[Any, ...] | None, limit: int
) -> list[AuditCheckpoint]:
    query: Select[tuple[AuditCheckpoint]] = select(AuditCheckpoint)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def all_checkpoints(connection: AsyncConnection) -> list[Any]:
    """Every checkpoint, oldest first (a few per day: small next to the events)."""
    query = select(AuditCheckpoint.__table__).order_by(AuditCheckpoint.seq)
    return list((await connection.execute(query)).all())


async def signing_key_rows(connection: AsyncConnection) -> list[Any]:
    """Every signing key, retired ones too: old checkpoints stay verifiable."""
    return list((await connection.execute(select(SigningKeyRow.__table__))).all())


async def current_head(session: AsyncSession) -> tuple[int, str]:
    """The committed head (no lock: a checkpoint signs a head that already exists)."""
    row = (await session.execute(select(AuditHead.seq, AuditHead.hash))).one()
    return int(row[0]), str(row[1])


async def checkpoint_lock(session: AsyncSession, *, wait: bool) -> bool:
    """PostgreSQL: one checkpoint writer at a time across workers (a transaction-scoped
    advisory lock; without ``wait``, False when another holds it). SQLite: the write
    transaction's BEGIN IMMEDIATE already serialises writers."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        await session.execute(select(func.pg_advisory_xact_lock(_CHECKPOINT_LOCK)))
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(_CHECKPOINT_LOCK))))


# Advisory-lock key of checkpoint writers (bigint key space; the login and idempotency
# locks use other keys).
_CHECKPOINT_LOCK = 0x5745_4341_5245_0A
