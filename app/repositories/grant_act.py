"""Queries of the grant act: who already carries a CUP or an RNA concession code."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.allocation import ACTIVE_ALLOCATION, Allocation


async def active_allocation_with_cup(
    session: AsyncSession, cup: str, *, other_than: uuid.UUID
) -> uuid.UUID | None:
    """The active allocation, other than ``other_than``, that carries ``cup``."""
    return await session.scalar(
        select(Allocation.id).where(
            Allocation.cup == cup, ACTIVE_ALLOCATION, Allocation.id != other_than
        )
    )


async def allocation_with_rna_cor(
    session: AsyncSession, rna_cor: str, *, other_than: uuid.UUID
) -> uuid.UUID | None:
    """The allocation, other than ``other_than``, that carries the RNA code ``rna_cor``."""
    return await session.scalar(
        select(Allocation.id).where(Allocation.rna_cor == rna_cor, Allocation.id != other_than)
    )
