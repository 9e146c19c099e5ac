"""Queries on reviews, always under a visibility predicate."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.application import Application
from app.models.review import Review
from app.repositories.paging import Order, keyset


async def get_review(
    session: AsyncSession,
    application_id: uuid.UUID,
    review_id: uuid.UUID,
    visible: ColumnElement[bool],
) -> Review | None:
    return await session.scalar(
        select(Review).where(
            Review.id == review_id, Review.application_id == application_id, visible
        )
    )


async def page_reviews(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    visible: ColumnElement[bool],
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Review]:
    query = select(Review).where(Review.application_id == application_id, visible)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def is_assigned(
    session: AsyncSession, application_id: uuid.UUID, reviewer_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(Review.id).where(
            Review.application_id == application_id, Review.reviewer_id == reviewer_id
        )
    )
    return found is not None


async def lock_and_count(session: AsyncSession, application_id: uuid.UUID) -> int:
    """Lock the application's row, so that assignments to it queue, and count its reviews
    (read after the lock: the count includes an assignment that committed meanwhile)."""
    await session.execute(
        select(Application.id).where(Application.id == application_id).with_for_update()
    )
    count = await session.scalar(
        select(func.count()).select_from(Review).where(Review.application_id == application_id)
    )
    return count or 0
