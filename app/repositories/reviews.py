"""Queries on reviews, always under a visibility predicate."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

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
