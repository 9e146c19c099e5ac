"""The rules that must never break (SPEC rules 1-6), at their exact boundaries, over HTTP.

Each refusal is a 409/422 problem naming the rule with its figures, and writes nothing.
The same rules held by the services alone are in tests/services/test_caps.py, and by the
database alone (raw SQL) in tests/migrations/test_guards.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.domain import ApplicationStatus, LegalNature, PhaseKind
from app.models import (
    Allocation,
    Application,
    Call,
    CallParticipationLimit,
    CallPhase,
    Measure,
    Programme,
)
from app.repositories import applications as application_repo
from app.services import allocations as allocation_service
from tests.actors import Actor, make_organisation, tax_code
from tests.api.v1.flows import (
    Api,
    accept,
    applicant_for,
    fesr_call,
    grant,
    new_draft,
    new_partnership,
    problem,
)
from tests.world import (
    approved,
    budget,
    cents,
    district,
    euros,
    open_window,
    partnership,
    partnership_application,
)


async def finds_nothing(*_: object) -> None:
    """A repository look-up bypassed: it finds nothing, so only the database guard is left."""
    return None


async def counters(session: AsyncSession) -> list[tuple[int, int]]:
    rows = []
    for model in (Programme, Measure, Call):
        row = (await session.execute(select(model.allocated, model.funded_projects))).one()
        rows.append((cents(row[0]), int(row[1])))
    return rows


class TestBudgetCaps:
    async def test_the_call_share_is_reached_exactly_and_never_passed(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, call_budget=100_000)
        apps = [await approved(session, world, requested=60_000, n=i) for i in range(3)]
        assert (await grant(client, officer, apps[0].id, "60000.00")).status_code == 201
        assert (await grant(client, officer, apps[1].id, "40000.00")).status_code == 201
        before = await counters(session)
        body = problem(await grant(client, officer, apps[2].id, "0.01"), 409, "call_budget_cap")
        assert (body["cap"], body["allocated"], body["requested"], body["available"]) == (
            "100000.00",
            "100000.00",
            "0.01",
            "0.00",
        )
        assert await counters(session) == before  # nothing written, not even the programme's
        assert await session.scalar(select(func.count()).select_from(Allocation)) == 2

    @pytest.mark.counters_may_disagree
    async def test_measure_and_programme_caps_hold_as_defence_in_depth(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        # Calls' shares never exceed their measure's budget, so the measure's and the
        # programme's counters bind only if something else went wrong; they still hold.
        world = await budget(session, total=100_000)
        app = await approved(session, world, requested=10_000)
        await session.execute(
            update(Measure).values({Measure.allocated: Measure.budget - euros(9_999_99)})
        )
        problem(await grant(client, officer, app.id, "10000.00"), 409, "measure_budget_cap")
        await session.execute(update(Measure).values({Measure.allocated: Decimal(0)}))
        await session.execute(
            update(Programme).values({Programme.allocated: Programme.total_budget - euros(100)})
        )
        problem(await grant(client, officer, app.id, "10000.00"), 409, "programme_budget_cap")

    async def test_an_allocation_never_exceeds_the_request(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=50_000)
        problem(await grant(client, officer, app.id, "50000.01"), 422, "allocation_exceeds_request")
        assert (await grant(client, officer, app.id, "50000.00")).status_code == 201

    async def test_one_active_allocation_per_application(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=50_000)
        assert (await grant(client, officer, app.id, "10000.00")).status_code == 201
        problem(await grant(client, officer, app.id, "10000.00"), 409, "one_active_allocation")

    async def test_only_approved_applications_are_funded(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=5, status=ApplicationStatus.SUBMITTED)
        problem(await grant(client, officer, app.id, "1.00"), 409, "illegal_transition")


class TestProjectCaps:
    async def test_max_projects_and_revocation_frees_the_slot(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, max_projects=2)
        apps = [await approved(session, world, requested=1_000, n=i) for i in range(3)]
        first = await grant(client, officer, apps[0].id, "1000.00")
        assert (await grant(client, officer, apps[1].id, "1000.00")).status_code == 201
        body = problem(
            await grant(client, officer, apps[2].id, "1000.00"), 409, "measure_project_cap"
        )
        assert (body["cap"], body["funded_projects"]) == (2, 2)
        api = Api(client)
        await api.act(
            f"/api/v1/allocations/{first.json()['id']}",
            "revoke",
            officer,
            json={"reason": "rinuncia"},
        )
        assert (await grant(client, officer, apps[2].id, "1000.00")).status_code == 201

    async def test_one_funded_project_per_district(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, one_per_district=True)
        here = await district(session, world, 1)
        there = await district(session, world, 2)
        a = await approved(session, world, requested=1_000, district=here, n=1)
        b = await approved(session, world, requested=1_000, district=here, n=2)
        c = await approved(session, world, requested=1_000, district=there, n=3)
        funded = await grant(client, officer, a.id, "1000.00")
        assert funded.status_code == 201
        problem(await grant(client, officer, b.id, "1000.00"), 409, "district_already_funded")
        assert (await grant(client, officer, c.id, "1000.00")).status_code == 201
        api = Api(client)
        await api.act(
            f"/api/v1/allocations/{funded.json()['id']}",
            "revoke",
            officer,
            json={"reason": "rinuncia"},
        )
        assert (await grant(client, officer, b.id, "1000.00")).status_code == 201


def reads_as_unfunded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grant's one read bypassed: it sees neither the application's active allocation
    nor its district's, as a grant racing a concurrent one would. Only the insert's partial
    unique indexes are left (ON CONFLICT DO NOTHING), and the refusal after them."""
    read = application_repo.get_grant_subject

    async def unfunded(*args: Any) -> application_repo.GrantSubject | None:
        subject = await read(*args)
        if subject is None:
            return None
        return subject._replace(active_allocation=None, district_allocation=None)

    monkeypatch.setattr(application_repo, "get_grant_subject", unfunded)


class TestDatabaseGuardsAnswerWithTheRule:
    """With the service's pre-checks bypassed, the database refuses and the answer names
    the same rule (and the allocation in the way) as the pre-check would."""

    async def test_second_active_allocation(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=50_000)
        assert (await grant(client, officer, app.id, "10000.00")).status_code == 201

        first = (await session.execute(select(Allocation.id))).scalar_one()
        reads_as_unfunded(monkeypatch)
        before = await counters(session)
        body = problem(
            await grant(client, officer, app.id, "10000.00"), 409, "one_active_allocation"
        )
        assert body["allocation_id"] == str(first)
        assert await counters(session) == before
        assert await session.scalar(select(func.count()).select_from(Allocation)) == 1

    async def test_second_funded_project_in_a_district(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world = await budget(session, total=1_000_000, one_per_district=True)
        here = await district(session, world, 1)
        a = await approved(session, world, requested=1_000, district=here, n=1)
        b = await approved(session, world, requested=1_000, district=here, n=2)
        assert (await grant(client, officer, a.id, "1000.00")).status_code == 201

        first = (await session.execute(select(Allocation.id))).scalar_one()
        reads_as_unfunded(monkeypatch)
        before = await counters(session)
        body = problem(
            await grant(client, officer, b.id, "1000.00"), 409, "district_already_funded"
        )
        assert body["allocation_id"] == str(first)
        assert await counters(session) == before
        assert await session.scalar(select(func.count()).select_from(Allocation)) == 1

    async def test_an_allocation_above_the_request(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=50_000)
        monkeypatch.setattr(allocation_service, "check_within_request", lambda *_: None)
        before = await counters(session)
        body = problem(
            await grant(client, officer, app.id, "50000.01"), 422, "allocation_exceeds_request"
        )
        assert body["constraint"] == "allocation_within_request_check"
        assert await counters(session) == before
        assert await session.scalar(select(func.count()).select_from(Allocation)) == 0
        assert (await grant(client, officer, app.id, "50000.00")).status_code == 201


class TestBudgetChanges:
    async def test_measures_never_exceed_the_programme_total(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, measure_budget=600_000)
        body_base = {
            "programme_id": str(world.programme.id),
            "fund": "FSE",
            "title": {"it": "M2", "en": "M2"},
            "objective": {"it": "-", "en": "-"},
            "beneficiaries": {"it": "-", "en": "-"},
            "eligibility": {"applicant_forms": ["organisation"]},
        }
        over = await client.post(
            "/api/v1/measures",
            json={**body_base, "code": "M2", "budget": "400000.01"},
            headers=admin.headers,
        )
        body = problem(over, 409, "programme_measures_budget_cap")
        assert (body["cap"], body["available"], body["requested"]) == (
            "1000000.00",
            "400000.00",
            "400000.01",
        )
        exact = await client.post(
            "/api/v1/measures",
            json={**body_base, "code": "M2", "budget": "400000.00"},
            headers=admin.headers,
        )
        assert exact.status_code == 201, exact.text

    async def test_lowering_budgets_below_what_is_used_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, measure_budget=500_000, call_budget=300_000)
        app = await approved(session, world, requested=200_000)
        assert (await grant(client, officer, app.id, "200000.00")).status_code == 201
        api = Api(client)
        measure_path = f"/api/v1/measures/{world.measure.id}"
        call_path = f"/api/v1/calls/{world.call.id}"
        programme_path = f"/api/v1/programmes/{world.programme.id}"
        problem(
            await client.patch(
                measure_path,
                json={"budget": "299999.99"},
                headers={
                    **admin.headers,
                    "If-Match": (await client.get(measure_path)).headers["etag"],
                },
            ),
            409,
            "measure_calls_budget_cap",
        )
        body = await api.patch(call_path, admin, {"budget": "199999.99"}, expect=409)
        assert body["rule"] == "budget_below_allocated"
        assert (await api.patch(call_path, admin, {"budget": "200000.00"}))["budget"] == "200000.00"
        body = await api.patch(programme_path, admin, {"total_budget": "499999.99"}, expect=409)
        assert body["rule"] == "budget_below_allocated"
        lowered = await api.patch(measure_path, admin, {"budget": "200000.00"})
        assert (lowered["budget"], lowered["available"]) == ("200000.00", "0.00")
        refused = await api.patch(measure_path, admin, {"budget": "199999.99"}, expect=409)
        assert refused["rule"] == "budget_below_allocated"

    async def test_call_shares_never_exceed_the_measure_budget(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, measure_budget=500_000, call_budget=300_000)
        phases = [
            {
                "kind": "submission",
                "opens_at": "2030-01-01T00:00:00+00:00",
                "closes_at": "2030-02-01T00:00:00+00:00",
            }
        ]
        base = {
            "measure_id": str(world.measure.id),
            "title": {"it": "B2", "en": "C2"},
            "phases": phases,
        }
        over = await client.post(
            "/api/v1/calls",
            json={**base, "code": "C2", "budget": "200000.01"},
            headers=officer.headers,
        )
        body = problem(over, 409, "measure_calls_budget_cap")
        assert body["available"] == "200000.00"
        exact = await client.post(
            "/api/v1/calls",
            json={**base, "code": "C2", "budget": "200000.00"},
            headers=officer.headers,
        )
        assert exact.status_code == 201


class TestSubmissionRules:
    """One live application per district and per-call participation limits, from the data."""

    async def test_district_and_participation_limits(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, one_per_district=True)
        await session.execute(
            update(Measure).values(
                applicant_forms=["partnership"],
                lead_must_be_district_lead=True,
                required_member_natures=["third_sector_organisation"],
                min_required_members=1,
            )
        )
        now = datetime.now(UTC)
        session.add_all(
            [
                CallPhase(
                    id=uuid.uuid4(),
                    call_id=world.call.id,
                    ordinal=1,
                    kind=PhaseKind.SUBMISSION,
                    opens_at=now - timedelta(days=1),
                    closes_at=now + timedelta(days=1),
                ),
                CallParticipationLimit(
                    id=uuid.uuid4(),
                    call_id=world.call.id,
                    legal_nature=LegalNature.THIRD_SECTOR_ORGANISATION,
                    max_projects=2,
                ),
            ]
        )
        districts = [await district(session, world, n) for n in (1, 2, 3)]
        third = await make_organisation(session, name="Volontari", tax_code=tax_code(300))
        api = Api(client)

        async def apply(d: int, name: str) -> str:
            partnership = await new_partnership(
                api, admin, districts[d].lead_organisation_id, name=name, partners=[third.id]
            )
            # Named by the region, the partner is invited; the region accepts for it, saying why.
            await accept(api, partnership["id"], str(third.id), admin, reason="Lettera firmata.")
            application = await new_draft(
                api,
                admin,
                world.call.id,
                title=name,
                total_cost="1000.00",
                partnership_id=partnership["id"],
                district_id=districts[d].id,
            )
            return f"/api/v1/applications/{application['id']}"

        first = await apply(0, "A1")
        rival = await apply(0, "A1-bis")
        second = await apply(1, "A2")
        third_project = await apply(2, "A3")
        await api.act(first, "submit", admin)
        refused = await api.act(rival, "submit", admin, expect=409)
        assert refused["rule"] == "district_live_application"
        await api.act(second, "submit", admin)
        limited = await api.act(third_project, "submit", admin, expect=409)
        assert limited["rule"] == "participation_limit"
        assert (limited["cap"], limited["taken"]) == (2, 2)
        await api.act(first, "withdraw", admin)
        # The withdrawal frees the district's place and one of the partner's two participations.
        await api.act(rival, "submit", admin)
        again = await api.act(third_project, "submit", admin, expect=409)
        assert again["rule"] == "participation_limit"

    async def test_the_lead_must_be_the_districts_lead_body(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, one_per_district=True)
        await session.execute(
            update(Measure).values(applicant_forms=["partnership"], lead_must_be_district_lead=True)
        )
        open_window(session, world)
        place = await district(session, world, 1)
        outsider = await make_organisation(session, name="Comune", tax_code=tax_code(301))
        api = Api(client)
        partnership = await new_partnership(api, admin, outsider.id, name="P", form="ats_formed")
        application = await new_draft(
            api,
            admin,
            world.call.id,
            title="P",
            total_cost="10.00",
            partnership_id=partnership["id"],
            district_id=place.id,
        )
        refused = await api.act(
            f"/api/v1/applications/{application['id']}", "submit", admin, expect=422
        )
        assert [v["rule"] for v in refused["violations"]] == ["eligibility_district_lead"]


class TestProjectCapChanges:
    async def test_max_funded_projects_cannot_go_below_the_funded_count(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, max_projects=5)
        for n in range(2):
            app = await approved(session, world, requested=1_000, n=n)
            assert (await grant(client, officer, app.id, "1000.00")).status_code == 201
        api = Api(client)
        path = f"/api/v1/measures/{world.measure.id}"
        refused = await api.patch(path, admin, {"max_funded_projects": 1}, expect=409)
        assert refused["rule"] == "budget_below_allocated"
        assert (refused["funded_projects"], refused["requested"]) == (2, 1)
        assert (await api.read(path))["max_funded_projects"] == 5
        assert (await api.patch(path, admin, {"max_funded_projects": 2}))[
            "max_funded_projects"
        ] == 2


class TestEligibilityFrozenWhileLive:
    """Eligibility and participation limits are judged at submission on the organisation's
    nature, profit status, size, province and experience: while one of its applications is
    live, those stay as judged (otherwise: become a foundation, submit a third project, turn
    back). Its name and VAT number still change."""

    async def test_the_applicant(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=1_000, status=ApplicationStatus.SUBMITTED)
        api = Api(client)
        path = f"/api/v1/organisations/{app.applicant_organisation_id}"
        refused = await api.patch(
            path, admin, {"legal_nature": "foundation", "legal_name": "Fondazione"}, expect=409
        )
        assert refused["rule"] == "organisation_in_live_application"
        assert (refused["fields"], refused["application_id"]) == (["legal_nature"], str(app.id))
        unchanged = await api.read(path, admin)
        assert (unchanged["legal_nature"], unchanged["legal_name"]) == (
            "third_sector_organisation",
            "Applicant 0",
        )
        # The name changes; the same eligibility values sent back are no change at all.
        renamed = await api.patch(
            path,
            admin,
            {"legal_name": "Cooperativa Nuova", "legal_nature": "third_sector_organisation"},
        )
        assert renamed["legal_name"] == "Cooperativa Nuova"
        # Withdrawn, the application no longer counts: the organisation may change.
        await session.execute(
            update(Application)
            .where(Application.id == app.id)
            .values(status=ApplicationStatus.WITHDRAWN)
        )
        changed = await api.patch(path, admin, {"legal_nature": "foundation"})
        assert changed["legal_nature"] == "foundation"

    @pytest.mark.parametrize(
        "change",
        [
            {"profit_status": "profit"},
            {"size_class": "large"},
            {"province": "CN"},
            {"province": None},
            {"accompaniment_experience": True},
        ],
        ids=["profit_status", "size_class", "province", "province-cleared", "experience"],
    )
    async def test_a_partner_of_a_live_partnership(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        admin: Actor,
        change: dict[str, Any],
    ) -> None:
        world = await budget(session, total=1_000_000)
        lead = await make_organisation(session, name="Capofila", tax_code=tax_code(310))
        partner = await make_organisation(session, name="Partner", tax_code=tax_code(311))
        applicant = await partnership(session, lead, partner)
        await partnership_application(
            session, world, applicant, status=ApplicationStatus.UNDER_REVIEW
        )
        await session.flush()
        api = Api(client)
        path = f"/api/v1/organisations/{partner.id}"
        refused = await api.patch(path, admin, change, expect=409)
        assert refused["rule"] == "organisation_in_live_application"
        assert refused["fields"] == list(change)
        assert (await api.patch(path, admin, {"vat_number": tax_code(311)}))["vat_number"]

    async def test_drafts_do_not_freeze(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=1_000, status=ApplicationStatus.DRAFT)
        api = Api(client)
        path = f"/api/v1/organisations/{app.applicant_organisation_id}"
        assert (await api.patch(path, admin, {"size_class": "small"}))["size_class"] == "small"


class TestFesrLineOneOverHttp:
    """FESR line 1: a project of at least EUR 1,000,000.00, judged at submission."""

    async def test_the_minimum_project_value(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        admin: Actor,
        officer: Actor,
    ) -> None:
        api = Api(client)
        _, call = await fesr_call(api, admin, officer, line=1, budget="3000000.00")
        user, company = await applicant_for(
            api,
            session,
            settings,
            admin,
            "Cooperativa Sociale",
            4,
            legal_nature="social_enterprise",
            profit_status="non_profit",
            size_class="small",
        )
        draft = {
            "call_id": call["id"],
            "applicant_organisation_id": company["id"],
            "title": "Centro diurno",
            "description": "Servizi per anziani",
            "requested": "500000.00",
            "thematic_area_code": "health-wellbeing",
        }
        short = await api.call(
            "POST",
            "/api/v1/applications",
            user,
            json={**draft, "total_cost": "999999.99"},
            expect=201,
        )
        refused = await api.act(f"/api/v1/applications/{short['id']}", "submit", user, expect=422)
        assert refused["rule"] == "eligibility"
        assert [v["rule"] for v in refused["violations"]] == ["line_min_project_cost"]
        assert (await api.read(f"/api/v1/applications/{short['id']}", user))["status"] == "draft"

        enough = await api.call(
            "POST",
            "/api/v1/applications",
            user,
            json={**draft, "total_cost": "1000000.00"},
            expect=201,
        )
        submitted = await api.act(f"/api/v1/applications/{enough['id']}", "submit", user)
        assert submitted["status"] == "submitted"


class TestOneLiveApplicationPerDistrictInTheDatabase:
    async def test_without_the_service_check(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        admin: Actor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With the service's look-up bypassed, the partial unique index on the district
        slot refuses the second live application with the same rule."""

        world = await budget(session, total=1_000_000, one_per_district=True)
        await session.execute(update(Measure).values(applicant_forms=["partnership"]))
        open_window(session, world)
        place = await district(session, world, 1)
        api = Api(client)

        async def apply(name: str) -> str:
            partnership = await new_partnership(
                api, admin, place.lead_organisation_id, name=name, form="ats_formed"
            )
            application = await new_draft(
                api,
                admin,
                world.call.id,
                title=name,
                total_cost="10.00",
                partnership_id=partnership["id"],
                district_id=place.id,
            )
            return f"/api/v1/applications/{application['id']}"

        first, rival = await apply("A1"), await apply("A1-bis")
        await api.act(first, "submit", admin)

        monkeypatch.setattr(application_repo, "live_in_district_slot", finds_nothing)
        refused = await api.act(rival, "submit", admin, expect=409)
        assert refused["rule"] == "district_live_application"
        assert refused["constraint"] == "application_one_live_per_district_key"
        assert (await api.read(rival, admin))["status"] == "draft"
        live = await session.scalar(
            select(func.count())
            .select_from(Application)
            .where(Application.district_slot_id == place.id)
        )
        assert live == 1
