"""Queries on districts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.district import District
from app.repositories.paging import Order, keyset
from app.repositories.programmes import search


async def page_districts(
    session: AsyncSession,
    *,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[District]:
    query = select(District)
    if q:
        query = query.where(search(District.name, q))
    return list(await session.scalars(keyset(query, order, after, limit)))


async def all_districts(session: AsyncSession) -> list[District]:
    """Every district by code (the budget report lists them all)."""
    return list(await session.scalars(select(District).order_by(District.code, District.id)))


async def district_code_taken(session: AsyncSession, code: str) -> bool:
    return await session.scalar(select(District.id).where(District.code == code)) is not None
