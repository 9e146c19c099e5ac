"""Caps lowered by the services while a grant is in flight (SPEC rules 1-3): the answer is the
service's rule with the figures as they are now. The same rules over HTTP are in
tests/api/v1/test_caps.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import BudgetBelowAllocated
from app.models import Call, Measure, Programme
from app.schemas.call import CallUpdate
from app.schemas.programme import MeasureUpdate, ProgrammeUpdate
from app.services import calls, programmes
from tests.world import budget, euros


@pytest.mark.counters_may_disagree  # the grant in flight is simulated on the counters alone
class TestCapsLoweredWhileAGrantIsInFlight:
    """A grant commits between the service's read of a counter and its write of a lower cap:
    the service's check passed on the value it read, the counter's CHECK fires at the write,
    and the answer is still the service's rule, with the figures as they are now.

    The object the service holds keeps the value it read; the grant's counter UPDATE is
    played with Core, which does not refresh it - exactly what the service sees in the race.
    """

    @staticmethod
    async def _grant_in_flight(
        session: AsyncSession,
        cents: int,
        models: tuple[type[Programme | Measure | Call], ...] = (Programme, Measure, Call),
    ) -> None:
        for model in models:
            await session.execute(
                update(model)
                .values(
                    {
                        model.allocated: model.allocated + euros(cents),
                        model.funded_projects: model.funded_projects + 1,
                    }
                )
                .execution_options(synchronize_session=False)
            )

    async def test_call_budget(self, session: AsyncSession) -> None:
        world = await budget(session, total=1_000_000, call_budget=300_000)
        await self._grant_in_flight(session, 200_000 * 100)
        with pytest.raises(BudgetBelowAllocated) as refused:
            await calls.update_call(
                session, world.call, data=CallUpdate(budget=Decimal("199999.99"))
            )
        assert refused.value.figures["allocated"] == Decimal("200000.00")
        assert refused.value.figures["requested"] == Decimal("199999.99")

    async def test_measure_budget_and_project_cap(self, session: AsyncSession) -> None:
        # The calls share less than is allocated only in a damaged database, so the measure's
        # own counter is moved alone: its CHECK is what a lowered budget meets.
        world = await budget(
            session, total=1_000_000, measure_budget=500_000, call_budget=50_000, max_projects=5
        )
        await self._grant_in_flight(session, 100_000 * 100, (Programme, Measure))
        with pytest.raises(BudgetBelowAllocated) as refused:
            await programmes.update_measure(
                session, world.measure, data=MeasureUpdate(budget=Decimal("99999.99"))
            )
        assert refused.value.figures["allocated"] == Decimal("100000.00")
        await self._grant_in_flight(session, 100, (Programme, Measure))  # a second project
        with pytest.raises(BudgetBelowAllocated) as full:
            await programmes.update_measure(
                session, world.measure, data=MeasureUpdate(max_funded_projects=1)
            )
        assert (full.value.figures["funded_projects"], full.value.figures["requested"]) == (2, 1)

    async def test_programme_total(self, session: AsyncSession) -> None:
        # The measures share only part of the total, so only the allocated CHECK can fire.
        world = await budget(session, total=1_000_000, measure_budget=100_000)
        await session.execute(
            update(Programme)
            .values({Programme.measures_budget: Decimal(0)})
            .execution_options(synchronize_session=False)
        )
        await session.refresh(world.programme)
        await self._grant_in_flight(session, 100_000 * 100)
        with pytest.raises(BudgetBelowAllocated) as refused:
            await programmes.update_programme(
                session, world.programme, data=ProgrammeUpdate(total_budget=Decimal("99999.99"))
            )
        assert refused.value.figures["allocated"] == Decimal("100000.00")
