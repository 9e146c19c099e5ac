"""Loading one entity by id, or the 404 every service answers when it is not there."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound

E = TypeVar("E")


async def load(session: AsyncSession, model: type[E], ident: uuid.UUID, noun: str) -> E:
    """The entity (from the session's identity map when already loaded), or NotFound."""
    found = await session.get(model, ident)
    if found is None:
        raise NotFound(f"No {noun} {ident}.")
    return found
