"""A pledge and the close of its call never interleave (scripted on PostgreSQL; SQLite's
writers queue at BEGIN): a pledge waiting on a close that commits is refused, and a close
waiting on a pledge comes after it. No pledge is ever recorded against a closed call."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Scope
from app.core.domain import CallStatus, LegalNature
from app.core.errors import CallNotOpenForPledges
from app.db.session import Database
from app.models import Call, Organisation, Pledge
from app.schemas.pledge import PledgeCreate
from app.services import calls as calls_service
from app.services import pledges as pledges_service
from tests.actors import make_organisation, tax_code
from tests.concurrency.scripted import second_waits
from tests.world import budget


class Arranged:
    def __init__(self, call_id: uuid.UUID, foundation_id: uuid.UUID) -> None:
        self.call_id = call_id
        self.foundation_id = foundation_id
        self.partner = Principal(
            kind="client",
            client_id="fondazione-crt",
            scopes=frozenset({Scope.PLEDGES_WRITE}),
            organisation_ids=frozenset({foundation_id}),
        )


@pytest.fixture
async def arranged(postgres_scratch: Database) -> Arranged:
    async with postgres_scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000)
        foundation = await make_organisation(
            arrange, name="Fondazione CRT", tax_code=tax_code(720), nature=LegalNature.FOUNDATION
        )
        return Arranged(world.call.id, foundation.id)


async def _close(session: AsyncSession, a: Arranged) -> None:
    call = await session.get(Call, a.call_id)
    assert call is not None
    await calls_service.move_call(session, call, action="close")


async def _pledge(session: AsyncSession, a: Arranged) -> None:
    foundation = await session.get(Organisation, a.foundation_id)
    assert foundation is not None
    data = PledgeCreate(call_id=a.call_id, amount=Decimal("1000.00"))
    await pledges_service.create_pledge(session, foundation, data=data, principal=a.partner)


async def _pledges(database: Database) -> int:
    async with database.session(write=False) as check:
        return await check.scalar(select(func.count()).select_from(Pledge)) or 0


async def test_a_pledge_waiting_on_the_close_is_refused(
    postgres_scratch: Database, arranged: Arranged
) -> None:
    refused = await second_waits(
        postgres_scratch,
        lambda s: _close(s, arranged),
        lambda s: _pledge(s, arranged),
        unless="the pledge did not wait for the close",
    )
    assert isinstance(refused, CallNotOpenForPledges), refused
    assert refused.figures["call_status"] is CallStatus.CLOSED
    assert await _pledges(postgres_scratch) == 0


async def test_a_close_waiting_on_a_pledge_comes_after_it(
    postgres_scratch: Database, arranged: Arranged
) -> None:
    closed = await second_waits(
        postgres_scratch,
        lambda s: _pledge(s, arranged),
        lambda s: _close(s, arranged),
        unless="the close did not wait for the pledge",
    )
    assert not isinstance(closed, Exception), closed
    assert await _pledges(postgres_scratch) == 1
