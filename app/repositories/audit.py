"""Queries on the audit trail and its head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models.audit import AuditEvent, AuditHead
from app.repositories.paging import keyset


async def advance_head(session: AsyncSession) -> tuple[int, str]:
    """Take the next sequence number and the previous hash, holding the head row's lock
    until commit: concurrent writers queue here, so the chain cannot fork."""
    row = (
        await session.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(seq=AuditHead.seq + 1)
            .returning(AuditHead.seq, AuditHead.hash)
            .execution_options(synchronize_session=False)
        )
    ).one()
    return int(row[0]), str(row[1])


async def set_head_hash(session: AsyncSession, digest: str) -> None:
    await session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(hash=digest)
        .execution_options(synchronize_session=False)
    )


async def head(session: AsyncSession) -> AuditHead:
    found = await session.get(AuditHead, 1)
    assert found is not None, "the audit head row is created by the migrations"
    return found


async def page_events(
    session: AsyncSession, *, filters: dict[str, Any], after: tuple[Any, ...] | None, limit: int
) -> list[AuditEvent]:
    query: Select[tuple[AuditEvent]] = select(AuditEvent)
    for name in ("entity_type", "entity_id", "actor_id", "action"):
        if filters.get(name) is not None:
            query = query.where(getattr(AuditEvent, name) == filters[name])
    if filters.get("since") is not None:
        query = query.where(AuditEvent.occurred_at >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(AuditEvent.occurred_at < filters["until"])
    return list(await session.scalars(keyset(query, (AuditEvent.seq,), after, limit)))


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
