"""Loading one entity by id, or the 404 every service answers when it is not there."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.i18n import msg

E = TypeVar("E")


async def load(session: AsyncSession, model: type[E], ident: uuid.UUID, noun: str) -> E:
    """The entity (from the session's identity map when already loaded), or NotFound.

    ``noun`` names the kind of entity in the message: pass it marked (``msg("programme")``)."""
    found = await session.get(model, ident)
    if found is None:
        raise NotFound(msg("No {noun} {ident}.", noun=noun, ident=ident))
    return found
