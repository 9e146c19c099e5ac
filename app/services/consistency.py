"""``wecare check``: every budget counter recomputed from the rows it summarises."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app.repositories import consistency as repo


async def counter_differences(connection: AsyncConnection) -> list[str]:
    """Each counter that differs from its rows, described (table, code, column, both
    values); an empty list when every counter equals the sum of its rows."""
    return [str(difference) for difference in await repo.differences(connection)]
