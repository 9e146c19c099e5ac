"""A scripted interleaving on PostgreSQL: the second grant blocks on the counter row held by
the first, then sees the committed value and is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import Database
from app.models import Programme
from app.repositories import budgets
from tests.concurrency.scripted import second_waits
from tests.world import EUR, budget, cents


@pytest.fixture
async def scratch(postgres_scratch: Database) -> Database:
    return postgres_scratch


async def test_the_second_waits_for_the_first_then_is_refused(scratch: Database) -> None:
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=100)
        programme_id = world.programme.id

    async def reserve(session: AsyncSession) -> bool:
        return await budgets.reserve_in_programme(session, programme_id, Decimal(60))

    async def first(session: AsyncSession) -> None:
        assert await reserve(session)

    # The first holds the counter row: the second's conditional UPDATE must wait.
    second = await second_waits(
        scratch, first, reserve, unless="the second update did not wait for the row lock"
    )
    # The first committed 60 of 100: re-evaluated against it, 60 more do not fit.
    assert second is False
    async with scratch.session(write=False) as check:
        programme = await check.get(Programme, programme_id)
        assert programme is not None
        assert cents(programme.allocated) == 60 * EUR


async def test_without_contention_both_fit(scratch: Database) -> None:
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=120)
    async with scratch.session(write=True) as one:
        assert await budgets.reserve_in_programme(one, world.programme.id, Decimal(60))
    async with scratch.session(write=True) as two:
        assert await budgets.reserve_in_programme(two, world.programme.id, Decimal(60))
