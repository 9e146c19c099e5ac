"""What the database holds, whole: every row of every table, and the audit chain's head.

Two fingerprints taken around a request are equal only if it wrote nothing at all (no row
added, removed or changed, no counter moved, no audit event, no Idempotency-Key stored).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import Base
from app.models import AuditHead  # importing app.models registers every table


async def fingerprint(session: AsyncSession) -> dict[str, Any]:
    """Per table: its row count and its rows (sorted), read fresh."""
    found: dict[str, Any] = {}
    for table in Base.metadata.sorted_tables:
        rows = sorted(repr(tuple(row)) for row in (await session.execute(select(table))).all())
        found[table.name] = (len(rows), rows)
    return found


async def audit_head(session: AsyncSession) -> tuple[int, str]:
    """The audit chain's head: its sequence number and hash."""
    row = (await session.execute(select(AuditHead.seq, AuditHead.hash))).one()
    return int(row[0]), str(row[1])
