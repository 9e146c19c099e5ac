"""Reading the audit trail in tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


async def last_event(session: AsyncSession, action: str) -> AuditEvent:
    """The newest event of ``action`` (there must be one)."""
    event = await session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    assert event is not None
    return event
