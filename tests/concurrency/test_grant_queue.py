"""Grants of one programme queue on its counter row: the second of two simultaneous grants,
whose read found no allocation in the way, waits there for the first to commit; its insert
then meets the first's allocation of the application, or of the district, in a partial
unique index (ON CONFLICT DO NOTHING: no error) and the service refuses it with its figures,
read after the first committed (scripted on PostgreSQL; SQLite's writers queue at BEGIN)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.errors import AllocationAlreadyActive, DistrictAlreadyFunded, DomainError
from app.db.session import Database
from app.models import Allocation, Programme
from app.repositories.consistency import differences
from app.schemas.application import AllocationCreate
from app.services import allocations as service
from tests.concurrency.scripted import second_waits
from tests.world import approved, budget, district

OFFICER = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)


@pytest.fixture
async def scratch(postgres_scratch: Database) -> Database:
    return postgres_scratch


async def _grant(session: AsyncSession, application_id: uuid.UUID) -> Allocation:
    data = AllocationCreate(application_id=application_id, amount=Decimal("1000.00"))
    return await service.grant_allocation(session, data=data, principal=OFFICER)


async def _second_after_first(
    scratch: Database, first_id: uuid.UUID, second_id: uuid.UUID
) -> DomainError:
    """The first grant holds the programme row until it commits; the second, started
    meanwhile, must wait there and then be refused. Returns the second's refusal."""
    refused = await second_waits(
        scratch,
        lambda s: _grant(s, first_id),
        lambda s: _grant(s, second_id),
        unless="the second grant did not queue on the programme row",
    )
    assert isinstance(refused, DomainError), refused
    async with scratch.engine.connect() as connection:
        assert await differences(connection) == []
        assert await connection.scalar(select(func.count()).select_from(Allocation)) == 1
        assert await connection.scalar(select(Programme.funded_projects)) == 1
    return refused


async def test_a_second_grant_to_the_same_application(scratch: Database) -> None:
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000)
        application = await approved(arrange, world, requested=1_000)
    refusal = await _second_after_first(scratch, application.id, application.id)
    assert isinstance(refusal, AllocationAlreadyActive)
    assert "constraint" not in refusal.figures
    assert isinstance(refusal.figures["allocation_id"], uuid.UUID)


async def test_a_second_project_of_the_same_district(scratch: Database) -> None:
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000, one_per_district=True)
        here = await district(arrange, world, 1)
        a = await approved(arrange, world, requested=1_000, district=here, n=1)
        b = await approved(arrange, world, requested=1_000, district=here, n=2)
    refusal = await _second_after_first(scratch, a.id, b.id)
    assert isinstance(refusal, DistrictAlreadyFunded)
    assert refusal.figures["district_id"] == here.id
    assert isinstance(refusal.figures["allocation_id"], uuid.UUID)
