"""De minimis (issue 16) at its exact boundaries, over HTTP, on both databases.

A grant in a de minimis measure is refused (409 ``de_minimis_ceiling``, with the ceiling,
the aid counted, this grant and the period) when the undertaking's aid over its call's
regulation's period would pass the ceiling: Regulation (EU) 1407/2013, EUR 200,000 over the
fiscal year and the two previous ones; 2023/2831, EUR 300,000 over any three years. The
ceiling reached exactly is allowed, one cent over is not; a refusal writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.domain import ApplicationStatus, DeMinimisRegulation, StateAidRegime
from app.models import Allocation, Application, Organisation
from app.services.de_minimis import period
from tests.actors import Actor, make_organisation, tax_code
from tests.api.v1.flows import Api, allocate, grant, problem
from tests.world import Budget, application, budget, partnership, partnership_application

R1407 = DeMinimisRegulation.R1407_2013
R2023 = DeMinimisRegulation.R2023_2831
CEILINGS = {R1407: 200_000, R2023: 300_000}


async def _world(
    session: AsyncSession,
    regulation: DeMinimisRegulation | None = R2023,
    regime: StateAidRegime | None = StateAidRegime.DE_MINIMIS,
    code: str = "DM",
) -> Budget:
    world = await budget(session, total=2_000_000, code=code)
    world.measure.state_aid_regime = regime
    world.call.de_minimis_regulation = regulation
    await session.flush()
    return world


async def _undertaking(session: AsyncSession, n: int = 0) -> Organisation:
    return await make_organisation(session, name=f"Impresa {n}", tax_code=tax_code(500 + n))


async def _apps(
    session: AsyncSession, world: Budget, organisation: Organisation, n: int, requested: int
) -> list[Application]:
    made = [
        application(
            world,
            requested=requested,
            title=f"Progetto {i}",
            applicant_organisation_id=organisation.id,
        )
        for i in range(n)
    ]
    session.add_all(made)
    await session.flush()
    return made


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Allocation)) or 0)


async def _backdate(session: AsyncSession, allocation_id: str, when: datetime) -> None:
    await session.execute(
        update(Allocation)
        .where(Allocation.id == uuid.UUID(allocation_id))
        .values(granted_at=when)
        .execution_options(synchronize_session=False)
    )


def _today() -> date:
    return clock.today()


def _midnight(day: date) -> datetime:
    """The first instant of ``day`` in the programme's calendar (Europe/Rome)."""
    return clock.start_of(day)


class TestCeiling:
    @pytest.mark.parametrize("regulation", [R1407, R2023])
    async def test_reached_exactly_then_one_cent_over_is_refused_with_figures(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        regulation: DeMinimisRegulation,
    ) -> None:
        ceiling = CEILINGS[regulation]
        world = await _world(session, regulation)
        firm = await _undertaking(session)
        apps = await _apps(session, world, firm, 3, ceiling)
        await allocate(client, officer, apps[0].id, f"{ceiling - 1}.99")
        await allocate(client, officer, apps[1].id, "0.01")  # exactly the ceiling
        before = await _count(session)
        body = problem(await grant(client, officer, apps[2].id, "0.01"), 409, "de_minimis_ceiling")
        days = period(regulation, _today())
        assert body["regulation"] == regulation.value
        assert (body["ceiling"], body["counted"], body["requested"], body["available"]) == (
            f"{ceiling}.00",
            f"{ceiling}.00",
            "0.01",
            "0.00",
        )
        assert (body["period_from"], body["period_to"]) == (
            days.first_day.isoformat(),
            _today().isoformat(),
        )
        assert body["tax_code"] == firm.tax_code
        assert await _count(session) == before
        await session.refresh(world.programme)
        assert world.programme.allocated == Decimal(ceiling)  # the refusal moved nothing

    async def test_another_undertaking_and_a_non_de_minimis_measure_are_not_counted(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session)
        plain = await _world(session, regulation=None, regime=StateAidRegime.NONE, code="PL")
        firm, other = await _undertaking(session, 0), await _undertaking(session, 1)
        [in_plain] = await _apps(session, plain, firm, 1, 400_000)
        await allocate(client, officer, in_plain.id, "400000.00")  # regime none: no ceiling
        [of_other] = await _apps(session, world, other, 1, 300_000)
        await allocate(client, officer, of_other.id, "300000.00")
        [own] = await _apps(session, world, firm, 1, 300_000)
        await allocate(client, officer, own.id, "300000.00")

    async def test_aid_in_another_programmes_de_minimis_measure_counts(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        first, second = await _world(session, code="A"), await _world(session, code="B")
        firm = await _undertaking(session)
        [there] = await _apps(session, first, firm, 1, 200_000)
        await allocate(client, officer, there.id, "200000.00")
        [here] = await _apps(session, second, firm, 1, 100_001)
        body = problem(
            await grant(client, officer, here.id, "100000.01"), 409, "de_minimis_ceiling"
        )
        assert body["counted"] == "200000.00"
        assert (await grant(client, officer, here.id, "100000.00")).status_code == 201

    async def test_a_partnerships_grant_is_aid_to_its_lead(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session)
        lead, partner = await _undertaking(session, 0), await _undertaking(session, 1)
        ats = await partnership(session, lead, partner)
        joint = await partnership_application(
            session, world, ats, status=ApplicationStatus.APPROVED, requested=250_000
        )
        await allocate(client, officer, joint.id, "250000.00")
        [own] = await _apps(session, world, lead, 1, 60_000)
        body = problem(await grant(client, officer, own.id, "50000.01"), 409, "de_minimis_ceiling")
        assert (body["counted"], body["tax_code"]) == ("250000.00", lead.tax_code)
        [of_partner] = await _apps(session, world, partner, 1, 60_000)
        await allocate(client, officer, of_partner.id, "60000.00")  # the partner's own ceiling
        await allocate(client, officer, own.id, "50000.00")

    async def test_revocation_releases_the_aid(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session)
        firm = await _undertaking(session)
        first, second = await _apps(session, world, firm, 2, 300_000)
        made = await allocate(client, officer, first.id, "300000.00")
        problem(await grant(client, officer, second.id, "0.01"), 409, "de_minimis_ceiling")
        await Api(client).act(
            f"/api/v1/allocations/{made}", "revoke", officer, json={"reason": "rinuncia"}
        )
        await allocate(client, officer, second.id, "300000.00")

    @pytest.mark.parametrize("regime", [None, StateAidRegime.NONE, StateAidRegime.BLOCK_EXEMPTION])
    async def test_no_ceiling_outside_de_minimis(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        regime: StateAidRegime | None,
    ) -> None:
        world = await _world(session, regulation=None, regime=regime)
        firm = await _undertaking(session)
        [big] = await _apps(session, world, firm, 1, 300_001)
        await allocate(client, officer, big.id, "300000.01")

    async def test_a_de_minimis_measure_needs_its_calls_regulation(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session, regulation=None)
        firm = await _undertaking(session)
        [app] = await _apps(session, world, firm, 1, 1_000)
        body = problem(
            await grant(client, officer, app.id, "1000.00"), 409, "de_minimis_regulation_unset"
        )
        assert body["call_code"] == world.call.code
        assert await _count(session) == 0


class TestPeriods:
    async def test_rolling_three_years_2023_2831(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session, R2023)
        firm = await _undertaking(session)
        old, new = await _apps(session, world, firm, 2, 300_000)
        made = await allocate(client, officer, old.id, "300000.00")
        first_day = period(R2023, _today()).first_day
        assert first_day == _today().replace(year=_today().year - 3) + timedelta(days=1)
        # Granted at the first instant of the period: counted.
        await _backdate(session, made, _midnight(first_day))
        body = problem(await grant(client, officer, new.id, "0.01"), 409, "de_minimis_ceiling")
        assert body["counted"] == "300000.00"
        # One microsecond earlier, the same day three years before: out of the period.
        await _backdate(session, made, _midnight(first_day) - timedelta(microseconds=1))
        await allocate(client, officer, new.id, "300000.00")

    async def test_three_fiscal_years_1407_2013(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session, R1407)
        firm = await _undertaking(session)
        old, new = await _apps(session, world, firm, 2, 200_000)
        made = await allocate(client, officer, old.id, "200000.00")
        first_day = date(_today().year - 2, 1, 1)
        assert period(R1407, _today()).first_day == first_day
        await _backdate(session, made, _midnight(first_day))
        body = problem(await grant(client, officer, new.id, "0.01"), 409, "de_minimis_ceiling")
        assert body["period_from"] == first_day.isoformat()
        # 31 December three fiscal years back: out, though less than three years ago.
        await _backdate(session, made, _midnight(first_day) - timedelta(microseconds=1))
        await allocate(client, officer, new.id, "200000.00")

    def test_29_february_counts_from_28_february(self) -> None:
        assert period(R2023, date(2028, 2, 29)).first_day == date(2025, 3, 1)
        assert period(R2023, date(2027, 3, 1)).first_day == date(2024, 3, 2)
        assert period(R1407, date(2027, 3, 1)).first_day == date(2025, 1, 1)


class TestDryRun:
    async def test_reports_the_ceiling_and_the_refusal_writing_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session, R2023)
        firm = await _undertaking(session)
        first, second = await _apps(session, world, firm, 2, 300_000)
        await allocate(client, officer, first.id, "299999.99")
        for amount, fits in (("0.01", True), ("0.02", False)):
            r = await client.post(
                "/api/v1/allocations?dry_run=true",
                json={"application_id": str(second.id), "amount": amount},
                headers=officer.headers,
            )
            assert r.status_code == 200, r.text
            report = r.json()
            [cap] = [c for c in report["caps"] if c["cap"] == "de_minimis"]
            assert (cap["code"], cap["budget"], cap["allocated"], cap["available"]) == (
                "2023/2831",
                "300000.00",
                "299999.99",
                "0.01",
            )
            assert (cap["requested"], cap["fits"]) == (amount, fits)
            rules = [v["rule"] for v in report["violations"]]
            assert rules == ([] if fits else ["de_minimis_ceiling"])
            assert report["would_succeed"] is fits
        assert await _count(session) == 1


class TestRegimeIsShown:
    async def test_the_measure_and_the_call_show_their_state_aid_data(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await _world(session, R1407)
        measure = (
            await client.get(f"/api/v1/measures/{world.measure.id}", headers=officer.headers)
        ).json()
        assert (measure["state_aid_regime"], measure["gber_article"]) == ("de_minimis", None)
        call = (await client.get(f"/api/v1/calls/{world.call.id}", headers=officer.headers)).json()
        assert call["de_minimis_regulation"] == "1407/2013"
