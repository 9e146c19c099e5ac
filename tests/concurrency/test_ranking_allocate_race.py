"""A run down a published ranking while single grants of its applications go on, scripted on
PostgreSQL (SQLite's writers queue at BEGIN). Every grant of the run takes the programme's
row first, as a single grant does: whichever comes second waits for the first to commit,
then reads what it committed. No cap is broken, no application is granted twice, and the
counters agree with the allocations (``wecare check``)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.errors import AllocationAlreadyActive, CallBudgetExceeded
from app.db.session import Database
from app.models import Allocation, Call
from app.repositories.consistency import differences
from app.schemas.application import AllocationCreate
from app.schemas.ranking import RankingAllocationReport
from app.services import allocations, ranking_grants
from tests.concurrency.scripted import second_waits
from tests.world import approved, budget, ranked

OFFICER = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)


@pytest.fixture
async def scratch(postgres_scratch: Database) -> Database:
    return postgres_scratch


async def _arrange(scratch: Database) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A call of 1000 and a published ranking of three approved applications of 400 each:
    two fit, the third never does."""
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000, call_budget=1_000, code="RR")
        made = [await approved(arrange, world, requested=400, n=n) for n in range(1, 4)]
        await ranked(arrange, world, made)
    return world.call.id, [a.id for a in made]


async def _grant(session: AsyncSession, application_id: uuid.UUID) -> Allocation:
    data = AllocationCreate(application_id=application_id, amount=Decimal("400.00"))
    return await allocations.grant_allocation(session, data=data, principal=OFFICER)


async def _run(session: AsyncSession, call_id: uuid.UUID) -> RankingAllocationReport:
    return await ranking_grants.allocate(session, OFFICER, call_id, 1)


async def _consistent(scratch: Database, call_id: uuid.UUID) -> None:
    async with scratch.engine.connect() as connection:
        assert await differences(connection) == []
        assert await connection.scalar(select(func.count()).select_from(Allocation)) == 2
        granted_twice = await connection.scalar(
            select(func.count()).select_from(
                select(Allocation.application_id)
                .group_by(Allocation.application_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        assert granted_twice == 0
        allocated = await connection.scalar(select(Call.allocated).where(Call.id == call_id))
        assert allocated == Decimal("800.00")


async def test_a_single_grant_during_the_run_waits_and_meets_what_the_run_granted(
    scratch: Database,
) -> None:
    """The run holds the programme's row; a single grant of its second entry waits, then
    finds it granted; the third's single grant, after, finds the call full."""
    call_id, (_, second, third) = await _arrange(scratch)
    refused = await second_waits(
        scratch,
        lambda s: _run(s, call_id),
        lambda s: _grant(s, second),
        unless="the single grant did not queue behind the run",
    )
    assert isinstance(refused, AllocationAlreadyActive), refused
    with pytest.raises(CallBudgetExceeded):
        async with scratch.session(write=True) as session:
            await _grant(session, third)
    await _consistent(scratch, call_id)


async def test_the_run_during_a_single_grant_waits_and_reports_it_already_granted(
    scratch: Database,
) -> None:
    """A single grant of the second entry holds the programme's row; the run, started
    meanwhile, waits on its first grant, then counts the second as already granted and skips
    the third with the call's figures (800 granted of 1000)."""
    call_id, (first, second, third) = await _arrange(scratch)
    report = await second_waits(
        scratch,
        lambda s: _grant(s, second),
        lambda s: _run(s, call_id),
        unless="the run did not queue behind the single grant",
    )
    assert isinstance(report, RankingAllocationReport), report
    assert [g.application_id for g in report.granted] == [first]
    assert [g.application_id for g in report.already_granted] == [second]
    assert [s.application_id for s in report.skipped] == [third]
    assert report.skipped[0].refusal.rule == "call_budget_cap"
    assert report.skipped[0].refusal.figures["allocated"] == "800.00"
    await _consistent(scratch, call_id)


async def test_a_storm_of_single_grants_racing_the_run(scratch: Database) -> None:
    """Ten applications of 200 on a call of 1000; the run and a single grant of each start at
    once, each in its own transaction: five grants in all, one per application at most, and
    the counters agree with them."""
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000, call_budget=1_000, code="RS")
        made = [await approved(arrange, world, requested=200, n=n) for n in range(1, 11)]
        await ranked(arrange, world, made)

    async def single(application_id: uuid.UUID) -> object:
        try:
            async with scratch.session(write=True) as session:
                data = AllocationCreate(application_id=application_id, amount=Decimal("200.00"))
                return await allocations.grant_allocation(session, data=data, principal=OFFICER)
        except Exception as error:  # a refusal is an outcome here
            return error

    async def whole_run() -> RankingAllocationReport:
        async with scratch.session(write=True) as session:
            return await _run(session, world.call.id)

    outcomes = await asyncio.gather(whole_run(), *(single(a.id) for a in made))
    report = outcomes[0]
    assert isinstance(report, RankingAllocationReport)
    refusals = [o for o in outcomes[1:] if not isinstance(o, Allocation)]
    assert all(isinstance(r, (AllocationAlreadyActive, CallBudgetExceeded)) for r in refusals)
    singles = len(outcomes) - 1 - len(refusals)
    assert singles + len(report.granted) == 5
    async with scratch.engine.connect() as connection:
        assert await differences(connection) == []
        rows = (await connection.execute(select(Allocation.application_id))).scalars().all()
        assert len(rows) == len(set(rows)) == 5
        allocated = await connection.scalar(select(Call.allocated).where(Call.id == world.call.id))
        assert allocated == Decimal("1000.00")
