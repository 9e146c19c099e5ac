"""Housekeeping (``wecare prune``): the tables that only grow, kept to what still matters.

An idempotency key is kept until its expiry (at least 24 hours); a revoked access token's
entry and a refresh token until they would have expired anyway, plus a margin larger than
any clock leeway; a failed login while it still counts in the rate-limit window. None of
these rows is a change of the programme: pruning them writes no audit event.

``wecare lapse`` is the other daily task, and unlike pruning it changes the programme: a
grant not accepted by its measure's deadline lapses, audited, and its money returns to the
call (app.services.payments.lapse_overdue).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.repositories import housekeeping as repo
from app.services import payments

MARGIN = timedelta(hours=1)


async def prune(
    session: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> dict[str, int]:
    now = now or datetime.now(UTC)
    return await repo.prune(
        session,
        expired_before=now - MARGIN,
        failed_before=now - timedelta(seconds=settings.login_failure_window_seconds) - MARGIN,
    )


async def lapse(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Lapse the grants not accepted in time; how many (0 when run again)."""
    return await payments.lapse_overdue(session, now=now)
