"""Scripted interleavings on PostgreSQL (SQLite's writers queue at BEGIN): one transaction
takes its locks, a second starts meanwhile and must wait for the first to commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Principal, Role
from app.db.session import Database
from app.models import Application
from app.services import applications as applications_service

Step = Callable[[AsyncSession], Coroutine[Any, Any, Any]]

ADMIN = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)


async def second_waits(
    database: Database,
    first_step: Step,
    second_step: Step,
    *,
    unless: str = "the second step did not wait for the first",
) -> Any:
    """Run ``first_step`` in a transaction; meanwhile start ``second_step`` in another and
    check that it waits (``unless``: the message if it does not); commit the first. Returns
    the second's outcome once it has gone on: its result (committed), or the exception it
    raised (rolled back)."""
    maker = async_sessionmaker(database.engine, expire_on_commit=False)
    async with maker() as first, maker() as second:
        async with first.begin():
            await first_step(first)
            await second.begin()
            waiting: asyncio.Task[Any] = asyncio.create_task(second_step(second))
            await asyncio.sleep(0.5)
            assert not waiting.done(), unless
        try:
            outcome = await waiting
        except Exception as error:
            await second.rollback()
            return error
        await second.commit()
        return outcome


async def submit(session: AsyncSession, application_id: uuid.UUID) -> Any:
    """Submit the application as an administrator."""
    application = await session.get(Application, application_id)
    assert application is not None
    return await applications_service.move_application(
        session, application, action="submit", principal=ADMIN
    )
