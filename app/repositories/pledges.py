"""Queries on co-funding pledges, always under a visibility predicate."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import CallStatus, PledgeStatus
from app.models.call import Call
from app.models.pledge import Pledge
from app.repositories.paging import Order, keyset


async def get_pledge(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    pledge_id: uuid.UUID,
    visible: ColumnElement[bool],
) -> Pledge | None:
    return await session.scalar(
        select(Pledge).where(
            Pledge.id == pledge_id, Pledge.organisation_id == organisation_id, visible
        )
    )


async def call_status_for_pledge(session: AsyncSession, call_id: uuid.UUID) -> CallStatus | None:
    """The call's status as committed, read FOR SHARE: a close of the call waits for the
    pledge's transaction, or the pledge waits for the close and reads 'closed' (PostgreSQL;
    SQLite's writers queue anyway). Pledges to one call do not wait for each other."""
    return await session.scalar(
        select(Call.status).where(Call.id == call_id).with_for_update(read=True)
    )


async def page_pledges(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    visible: ColumnElement[bool],
    call_id: uuid.UUID | None,
    status: PledgeStatus | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Pledge]:
    query = select(Pledge).where(Pledge.organisation_id == organisation_id, visible)
    if call_id is not None:
        query = query.where(Pledge.call_id == call_id)
    if status is not None:
        query = query.where(Pledge.status == status)
    return list(await session.scalars(keyset(query, order, after, limit)))
