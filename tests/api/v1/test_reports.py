"""The public budget report of a programme: totals, measures, calls and districts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.domain import ApplicationStage, ApplicationStatus, CallStatus, Fund
from app.models import Application, Call, District, Measure, Programme
from tests.actors import Actor
from tests.api.v1.flows import Api, allocate
from tests.statements import counting, queries
from tests.world import Budget, approved, budget, district, new_call, new_measure


def report_path(programme_id: uuid.UUID) -> str:
    return f"/api/v1/programmes/{programme_id}/report"


async def application_in(
    session: AsyncSession,
    world: Budget,
    place: District,
    *,
    n: int,
    status: ApplicationStatus,
    stage: ApplicationStage = ApplicationStage.SINGLE,
    preliminary_id: uuid.UUID | None = None,
) -> Application:
    application = await approved(session, world, requested=1_000, district=place, n=n)
    application.status = status
    application.stage = stage
    application.preliminary_id = preliminary_id
    await session.flush()
    return application


@dataclass
class Arranged:
    world: Budget
    second: Measure
    published: Call
    draft: Call


async def second_measure(session: AsyncSession, world: Budget) -> tuple[Measure, Call, Call]:
    """A measure without the district rule, with a published call and a draft one; the
    budget counters are moved as the services would."""
    measure = await new_measure(
        session,
        world.programme,
        code="R-M2",
        budget=300_000,
        calls_budget=250_000,
        fund=Fund.FESR,
        title=("Seconda misura", "Second measure"),
        ordinal=1,
    )
    await session.execute(
        update(Programme)
        .where(Programme.id == world.programme.id)
        .values({Programme.measures_budget: Programme.measures_budget + Decimal(300_000)})
    )
    await session.flush()
    published = await new_call(
        session,
        measure,
        code="R-M2-CALL",
        budget=200_000,
        status=CallStatus.CLOSED,
        title=("Bando due", "Call two"),
    )
    draft = await new_call(
        session,
        measure,
        code="R-M2-DRAFT",
        budget=50_000,
        status=CallStatus.DRAFT,
        title=("Bozza", "Draft"),
    )
    return measure, published, draft


@pytest.fixture
async def arranged(client: httpx.AsyncClient, session: AsyncSession, officer: Actor) -> Arranged:
    world = await budget(
        session,
        total=1_000_000,
        measure_budget=600_000,
        call_budget=400_000,
        max_projects=10,
        one_per_district=True,
        code="R",
    )
    d1, d2, d3, _ = [await district(session, world, n) for n in (1, 2, 3, 4)]
    funded = await approved(session, world, requested=100_000, district=d1, n=1)
    await allocate(client, officer, funded.id, "100000.00")
    withdrawn_grant = await approved(session, world, requested=50_000, district=d2, n=2)
    revoked = await allocate(client, officer, withdrawn_grant.id, "50000.00")
    await Api(client).act(
        f"/api/v1/allocations/{revoked}", "revoke", officer, json={"reason": "rinuncia"}
    )
    # Not live: a draft and a rejected application in district 2.
    await application_in(session, world, d2, n=3, status=ApplicationStatus.DRAFT)
    await application_in(session, world, d2, n=4, status=ApplicationStatus.REJECTED)
    # District 3: a submitted project, and a preliminary with its executive (one project).
    await application_in(session, world, d3, n=5, status=ApplicationStatus.SUBMITTED)
    preliminary = await application_in(
        session,
        world,
        d3,
        n=6,
        status=ApplicationStatus.ADMITTED,
        stage=ApplicationStage.PRELIMINARY,
    )
    await application_in(
        session,
        world,
        d3,
        n=7,
        status=ApplicationStatus.UNDER_REVIEW,
        stage=ApplicationStage.EXECUTIVE,
        preliminary_id=preliminary.id,
    )
    measure, published, draft = await second_measure(session, world)
    other = Application(
        id=uuid.uuid4(),
        call_id=published.id,
        measure_id=measure.id,
        applicant_organisation_id=funded.applicant_organisation_id,
        title="Impresa sociale",
        description="-",
        total_cost=Decimal(30_000),
        requested=Decimal(30_000),
        stage=ApplicationStage.SINGLE,
        status=ApplicationStatus.APPROVED,
    )
    session.add(other)
    await session.flush()
    await allocate(client, officer, other.id, "30000.00")
    return Arranged(world, measure, published, draft)


class TestProgrammeReport:
    async def test_programme_measure_and_call_figures(
        self, client: httpx.AsyncClient, arranged: Arranged
    ) -> None:
        response = await client.get(report_path(arranged.world.programme.id))
        assert response.status_code == 200, response.text
        report = response.json()
        assert {k: report[k] for k in report if k != "measures"} == {
            "id": str(arranged.world.programme.id),
            "code": "R-PROG",
            "name_it": "Prova",
            "name_en": "Test",
            "currency": "EUR",
            "total_budget": "1000000.00",
            "measures_budget": "900000.00",
            "allocated": "130000.00",
            "available": "870000.00",
            "funded_projects": 2,
            # No mixed instrument here: nothing lent, by any source (no mixed measure lacks
            # its shares); what is available is the programme's.
            "fund": {
                "lent": "0.00",
                "repaid": "0.00",
                "outstanding": "0.00",
                "available": "870000.00",
                "by_source": {
                    source: {"lent": "0.00", "repaid": "0.00", "outstanding": "0.00"}
                    for source in ("eu", "national", "regional")
                },
            },
            "funding": {
                "granted": "130000.00",
                "accepted": "0.00",
                "claimed": "0.00",
                "verified": "0.00",
                "advanced": "0.00",
                "paid": "0.00",
                "recovered": "0.00",
                "outstanding": "0.00",
                "by_source": None,  # no co-financing shares given
            },
        }
        first, second = report["measures"]
        assert {k: first[k] for k in first if k not in ("calls", "districts")} == {
            "id": str(arranged.world.measure.id),
            "code": "R-M",
            "title_it": "Misura",
            "title_en": "Measure",
            "budget": "600000.00",
            "calls_budget": "400000.00",
            "allocated": "100000.00",
            "available": "500000.00",
            "funded_projects": 1,
            "max_funded_projects": 10,
            "one_per_district": True,
            "instrument": "grant",
            "fund": None,
            "cofinancing": None,
            "funding": {
                "granted": "100000.00",
                "accepted": "0.00",
                "claimed": "0.00",
                "verified": "0.00",
                "advanced": "0.00",
                "paid": "0.00",
                "recovered": "0.00",
                "outstanding": "0.00",
                "by_source": None,  # no co-financing shares given
            },
        }
        assert first["calls"] == [
            {
                "id": str(arranged.world.call.id),
                "code": "R-CALL",
                "title_it": "Bando",
                "title_en": "Call",
                "status": "published",
                "budget": "400000.00",
                "allocated": "100000.00",
                "reserved": "0.00",
                "available": "300000.00",
                "funded_projects": 1,
                "selection_method": "ranking",
                "waiting_count": 0,
                "waiting_list_length": None,
                "closed_for_submissions": False,
                "closed_at": None,
                "closed_reason": None,
                "funding": {
                    "granted": "100000.00",
                    "accepted": "0.00",
                    "claimed": "0.00",
                    "verified": "0.00",
                    "advanced": "0.00",
                    "paid": "0.00",
                    "recovered": "0.00",
                    "outstanding": "0.00",
                    "by_source": None,
                },
                "fund": None,  # not a mixed instrument: no loans
            }
        ]
        assert (second["code"], second["budget"], second["calls_budget"]) == (
            "R-M2",
            "300000.00",
            "250000.00",
        )
        assert (second["allocated"], second["available"], second["funded_projects"]) == (
            "30000.00",
            "270000.00",
            1,
        )
        assert second["max_funded_projects"] is None
        assert second["districts"] is None
        # The draft call's share counts in calls_budget, but drafts are not public.
        assert [(c["code"], c["status"], c["allocated"]) for c in second["calls"]] == [
            ("R-M2-CALL", "closed", "30000.00")
        ]

    async def test_per_district_figures_of_a_one_per_district_measure(
        self, client: httpx.AsyncClient, arranged: Arranged
    ) -> None:
        report = (await client.get(report_path(arranged.world.programme.id))).json()
        districts = report["measures"][0]["districts"]
        figures = [
            (d["code"], d["live_applications"], d["funded_projects"], d["allocated"])
            for d in districts
        ]
        assert figures == [
            ("D01", 1, 1, "100000.00"),  # funded (its application stays approved: live)
            ("D02", 1, 0, "0.00"),  # revoked grant; draft and rejected ones are not live
            ("D03", 2, 0, "0.00"),  # a submitted project, a preliminary with its executive
            ("D04", 0, 0, "0.00"),
        ]
        by_code = {d.code: d for d in arranged.world.districts}
        assert [d["district_id"] for d in districts] == [str(by_code[c].id) for c, *_ in figures]
        assert [d["name"] for d in districts] == [
            "Distretto 1",
            "Distretto 2",
            "Distretto 3",
            "Distretto 4",
        ]

    async def test_per_district_figures_by_source_use_the_measure_s_shares(
        self, client: httpx.AsyncClient, session: AsyncSession, arranged: Arranged
    ) -> None:
        measure = arranged.world.measure
        measure.eu_share_bp, measure.national_share_bp, measure.regional_share_bp = (
            5000,
            3500,
            1500,
        )
        await session.flush()
        report = (await client.get(report_path(arranged.world.programme.id))).json()
        granted = [
            (
                d["code"],
                *(d["funding"]["by_source"][s]["granted"] for s in ("eu", "national", "regional")),
            )
            for d in report["measures"][0]["districts"]
        ]
        assert granted == [
            ("D01", "50000.00", "35000.00", "15000.00"),
            ("D02", "0.00", "0.00", "0.00"),  # revoked: not granted
            ("D03", "0.00", "0.00", "0.00"),
            ("D04", "0.00", "0.00", "0.00"),
        ]
        # The second measure gives no shares: the programme has no split.
        assert report["measures"][1]["funding"]["by_source"] is None
        assert report["funding"]["by_source"] is None

    async def test_the_figures_agree_with_the_public_programme(
        self, client: httpx.AsyncClient, arranged: Arranged
    ) -> None:
        programme_id = arranged.world.programme.id
        report = (await client.get(report_path(programme_id))).json()
        programme = (await client.get(f"/api/v1/programmes/{programme_id}")).json()
        for key in ("total_budget", "measures_budget", "allocated", "available"):
            assert report[key] == programme[key], key
        assert report["funded_projects"] == programme["funded_projects"]

    async def test_anyone_may_read_it(self, client: httpx.AsyncClient, arranged: Arranged) -> None:
        path = report_path(arranged.world.programme.id)
        assert (await client.get(path)).status_code == 200
        # A presented token is checked, as on every public route (test_public_routes.py).
        refused = await client.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401

    async def test_a_programme_with_nothing_granted_yet(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await budget(session, total=1_000, code="EMPTY")
        report = (await client.get(report_path(world.programme.id))).json()
        assert (report["allocated"], report["available"], report["funded_projects"]) == (
            "0.00",
            "1000.00",
            0,
        )
        (measure,) = report["measures"]
        assert measure["districts"] is None
        assert [(c["code"], c["available"]) for c in measure["calls"]] == [
            ("EMPTY-CALL", "1000.00")
        ]


class TestErrors:
    async def test_an_unknown_programme_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get(report_path(uuid.uuid4()))
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["rule"] == "not_found"

    async def test_a_malformed_id_is_a_422_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/programmes/not-an-id/report")
        assert response.status_code == 422
        assert response.json()["rule"] == "validation_error"


class TestQueryCost:
    async def test_statements_do_not_grow_with_measures_districts_or_projects(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        arranged: Arranged,
        officer: Actor,
    ) -> None:
        path = report_path(arranged.world.programme.id)
        with counting(connection) as statements:
            assert (await client.get(path)).status_code == 200
        before = len(queries(statements))
        world = arranged.world
        more = [await district(session, world, n) for n in range(10, 16)]
        for i, place in enumerate(more):
            application = await approved(session, world, requested=1_000, district=place, n=20 + i)
            await allocate(client, officer, application.id, "1000.00")
        with counting(connection) as statements:
            response = await client.get(path)
        assert response.status_code == 200
        assert len(response.json()["measures"][0]["districts"]) == 10
        assert len(queries(statements)) == before
        assert before <= 7, statements  # 7: the funding figures (issue 16), one statement
