"""Dry runs of a submission and of a grant (README "Dry runs"), on both databases.

Each rule the real action applies is reported with its figures, all at once; a dry run
writes nothing (every row of every table and the audit head unchanged); the real action
after a dry run behaves as without it; a caller who may not act is refused alike.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus, LegalNature
from app.models import Allocation, Application, AuditEvent, CallParticipationLimit
from app.models import Measure as MeasureRow
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import Api, accept, grant, new_draft, new_partnership, problem
from tests.fingerprint import audit_head, fingerprint
from tests.world import approved, budget, district, open_window

DRY = "?dry_run=true"


async def dry_grant(
    client: httpx.AsyncClient,
    officer: Actor,
    application_id: object,
    amount: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/allocations{DRY}",
        json={"application_id": str(application_id), "amount": amount},
        headers={**officer.headers, **(headers or {})},
    )
    assert response.status_code == 200, response.text
    assert "Idempotent-Replayed" not in response.headers
    body: dict[str, Any] = response.json()
    assert body["dry_run"] is True
    return body


def rules(report: dict[str, Any]) -> list[str]:
    return [finding["rule"] for finding in report["violations"]]


def cap(report: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["caps"] if c["cap"] == kind)
    return found


def as_problem(finding: dict[str, Any]) -> dict[str, Any]:
    """The problem body the real action would answer with, as the finding reports it."""
    return {
        "type": finding["type"],
        "title": finding["title"],
        "status": finding["status"],
        "detail": finding["detail"],
        "rule": finding["rule"],
        **finding["figures"],
    }


def without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "instance"}


class TestGrantDryRun:
    async def test_the_call_cap_fits_at_available_and_not_a_cent_more(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, call_budget=100_000)
        first = await approved(session, world, requested=60_000, n=1)
        second = await approved(session, world, requested=60_000, n=2)
        assert (await grant(client, officer, first.id, "60000.00")).status_code == 201

        fits = await dry_grant(client, officer, second.id, "40000.00")
        assert fits["would_succeed"] is True
        assert fits["violations"] == []
        assert cap(fits, "call_budget") == {
            "cap": "call_budget",
            "code": "T-CALL",
            "budget": "100000.00",
            "allocated": "60000.00",
            "available": "40000.00",
            "requested": "40000.00",
            "fits": True,
            "max_projects": None,
            "funded_projects": None,
            "district_id": None,
            "allocation_id": None,
        }
        programme = cap(fits, "programme_budget")
        assert (programme["budget"], programme["allocated"], programme["available"]) == (
            "1000000.00",
            "60000.00",
            "940000.00",
        )
        assert programme["fits"] is True
        assert cap(fits, "measure_budget")["available"] == "940000.00"
        assert cap(fits, "measure_projects")["funded_projects"] == 1

        over = await dry_grant(client, officer, second.id, "40000.01")
        assert over["would_succeed"] is False
        assert rules(over) == ["call_budget_cap"]
        assert cap(over, "call_budget")["fits"] is False
        assert cap(over, "programme_budget")["fits"] is True
        assert over["violations"][0]["figures"] == {
            "cap": "100000.00",
            "allocated": "60000.00",
            "requested": "40000.01",
            "available": "40000.00",
        }
        # The real grant answers with exactly the problem the dry run reported first.
        refused = problem(
            await grant(client, officer, second.id, "40000.01"), 409, "call_budget_cap"
        )
        assert without_instance(refused) == as_problem(over["violations"][0])
        assert (await grant(client, officer, second.id, "40000.00")).status_code == 201

    async def test_every_refusal_at_once_with_its_figures(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(
            session, total=1_000_000, call_budget=10_000, max_projects=1, one_per_district=True
        )
        here = await district(session, world, 1)
        funded = await approved(session, world, requested=10_000, district=here, n=1)
        rival = await approved(
            session,
            world,
            requested=5_000,
            district=here,
            n=2,
            status=ApplicationStatus.UNDER_REVIEW,
        )
        allocation_id = (await grant(client, officer, funded.id, "10000.00")).json()["id"]
        report = await dry_grant(client, officer, rival.id, "5000.01")
        assert rules(report) == [
            "illegal_transition",
            "allocation_exceeds_request",
            "district_already_funded",
            "measure_project_cap",
            "call_budget_cap",
        ]
        figures = {f["rule"]: f["figures"] for f in report["violations"]}
        assert figures["illegal_transition"] == {
            "current_status": "under_review",
            "attempted": "grant",
        }
        assert figures["allocation_exceeds_request"] == {
            "requested": "5000.00",
            "amount": "5000.01",
        }
        assert figures["district_already_funded"] == {
            "district_id": str(here.id),
            "allocation_id": allocation_id,
        }
        assert figures["measure_project_cap"] == {"cap": 1, "funded_projects": 1}
        assert figures["call_budget_cap"]["available"] == "0.00"
        assert cap(report, "district_project") == {
            "cap": "district_project",
            "code": "T-M",
            "district_id": str(here.id),
            "allocation_id": allocation_id,
            "fits": False,
            "budget": None,
            "allocated": None,
            "available": None,
            "requested": None,
            "max_projects": None,
            "funded_projects": None,
        }
        assert cap(report, "measure_projects")["fits"] is False
        # The grant refuses with the first of them, exactly as reported.
        real = await grant(client, officer, rival.id, "5000.01")
        body = problem(real, 409, "illegal_transition")
        assert without_instance(body) == as_problem(report["violations"][0])
        # An application already funded: the one-active-allocation rule, with its figures.
        again = await dry_grant(client, officer, funded.id, "1.00")
        assert "one_active_allocation" in rules(again)
        first = again["violations"][rules(again).index("one_active_allocation")]
        assert first["figures"] == {"allocation_id": allocation_id}

    async def test_writes_nothing_and_keys_are_not_shared_with_the_real_grant(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=1_000_000, call_budget=100_000)
        app = await approved(session, world, requested=50_000)
        key = {"Idempotency-Key": "dry-then-real"}
        before, head = await fingerprint(session), await audit_head(session)
        for amount in ("50000.00", "50000.01", "100000.00"):
            await dry_grant(client, officer, app.id, amount, headers=key)
        assert await fingerprint(session) == before
        assert await audit_head(session) == head
        # The real grant with the dry runs' key acts (a dry run stored nothing to replay).
        real = await client.post(
            "/api/v1/allocations",
            json={"application_id": str(app.id), "amount": "50000.00"},
            headers={**officer.headers, **key},
        )
        assert real.status_code == 201, real.text
        assert "Idempotent-Replayed" not in real.headers
        assert (await audit_head(session))[0] == head[0] + 1
        # And a dry run with the real grant's key is judged afresh, never a replay of it.
        after = await dry_grant(client, officer, app.id, "50000.00", headers=key)
        assert rules(after) == ["one_active_allocation"]
        replay = await client.post(
            "/api/v1/allocations",
            json={"application_id": str(app.id), "amount": "50000.00"},
            headers={**officer.headers, **key},
        )
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert await session.scalar(select(func.count()).select_from(Allocation)) == 1

    async def test_refused_like_the_grant_for_who_may_not_grant(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=1_000)
        body = {"application_id": str(app.id), "amount": "1000.00"}
        for role in (Role.APPLICANT, Role.REVIEWER):
            actor = await user_actor(session, settings, role)
            real = await client.post("/api/v1/allocations", json=body, headers=actor.headers)
            dry = await client.post(f"/api/v1/allocations{DRY}", json=body, headers=actor.headers)
            assert real.status_code == dry.status_code == 403
            assert without_instance(real.json()) == without_instance(dry.json())
        missing = {"application_id": str(uuid.uuid4()), "amount": "1.00"}
        officer = await user_actor(session, settings, Role.OFFICER)
        dry = await client.post(f"/api/v1/allocations{DRY}", json=missing, headers=officer.headers)
        problem(dry, 404, "not_found")


async def _submission_world(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> tuple[Api, str, str, Any]:
    """A district call (partnerships led by the district's lead body, one third-sector
    member, at most one project per third-sector organisation) where one application of the
    district is live, and a rival draft that breaks every submission rule: its lead is no
    district lead, its third-sector member has not accepted and is at its limit."""
    world = await budget(session, total=1_000_000, one_per_district=True)
    await session.execute(
        update(MeasureRow).values(
            applicant_forms=["partnership"],
            lead_must_be_district_lead=True,
            required_member_natures=["third_sector_organisation"],
            min_required_members=1,
        )
    )
    window = open_window(session, world)
    session.add(
        CallParticipationLimit(
            id=uuid.uuid4(),
            call_id=world.call.id,
            legal_nature=LegalNature.THIRD_SECTOR_ORGANISATION,
            max_projects=1,
        )
    )
    place = await district(session, world, 1)
    third = await make_organisation(session, name="Volontari", tax_code=tax_code(300))
    outsider = await make_organisation(session, name="Comune", tax_code=tax_code(301))
    api = Api(client)
    live = await new_partnership(
        api, admin, place.lead_organisation_id, name="Live", partners=[third.id]
    )
    await accept(api, live["id"], str(third.id), admin, reason="Lettera firmata.")
    first = await new_draft(
        api,
        admin,
        world.call.id,
        title="Live",
        total_cost="1000.00",
        partnership_id=live["id"],
        district_id=place.id,
    )
    await api.act(f"/api/v1/applications/{first['id']}", "submit", admin)
    rival = await new_partnership(api, admin, outsider.id, name="Rival", partners=[third.id])
    draft = await new_draft(
        api,
        admin,
        world.call.id,
        title="Rival",
        total_cost="1000.00",
        partnership_id=rival["id"],
        district_id=place.id,
    )
    return api, f"/api/v1/applications/{draft['id']}", str(third.id), window


class TestSubmissionDryRun:
    async def test_every_rule_at_once_with_its_figures(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        api, path, third, window = await _submission_world(client, session, admin)
        now = datetime.now(UTC)
        window.opens_at, window.closes_at = now - timedelta(days=2), now - timedelta(hours=1)
        await session.flush()
        await api.read(path, admin)
        report = await api.call(
            "POST", f"{path}/submit{DRY}", admin, headers={"If-Match": api.etags[path]}
        )
        assert report["would_succeed"] is False
        assert report["caps"] == []
        assert rules(report) == [
            "call_not_open",
            "partnership_member_not_accepted",
            "eligibility",
            "district_live_application",
            "participation_limit",
        ]
        figures = {f["rule"]: f["figures"] for f in report["violations"]}
        assert figures["call_not_open"] == {
            "call_status": "published",
            "open_phase": None,
            "next_opening": None,
        }
        assert figures["partnership_member_not_accepted"] == {"pending_organisation_ids": [third]}
        assert [v["rule"] for v in figures["eligibility"]["violations"]] == [
            "eligibility_district_lead"
        ]
        assert figures["eligibility"]["project_value"] == "1000.00"
        assert figures["participation_limit"] == {
            "organisation_id": third,
            "cap": 1,
            "taken": 1,
        }
        assert "district_id" in figures["district_live_application"]
        real = await api.act(path, "submit", admin, expect=409)
        assert without_instance(real) == as_problem(report["violations"][0])

    async def test_if_match_is_required_and_a_stale_one_is_reported(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        api, path, _, _ = await _submission_world(client, session, admin)
        await api.read(path, admin)
        missing = await client.post(f"{path}/submit{DRY}", headers=admin.headers)
        problem(missing, 428, "precondition_required")
        stale = await api.call(
            "POST", f"{path}/submit{DRY}", admin, headers={"If-Match": '"stale"'}
        )
        assert rules(stale)[0] == "precondition_failed"
        assert stale["violations"][0]["figures"] == {"current_etag": api.etags[path]}
        current = await api.call(
            "POST", f"{path}/submit{DRY}", admin, headers={"If-Match": api.etags[path]}
        )
        assert "precondition_failed" not in rules(current)
        assert rules(current)[0] == "partnership_member_not_accepted"

    async def test_writes_nothing_and_the_submission_after_it_is_unchanged(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, settings: Settings
    ) -> None:
        world = await budget(session, total=1_000_000)
        open_window(session, world)
        applicant_org = await make_organisation(session, name="Coop", tax_code=tax_code(310))
        user = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[applicant_org.id]
        )
        api = Api(client)
        draft = await new_draft(
            api,
            user,
            world.call.id,
            title="Progetto",
            total_cost="1000.00",
            applicant_organisation_id=applicant_org.id,
        )
        path = f"/api/v1/applications/{draft['id']}"
        await api.read(path, user)
        etag = api.etags[path]
        before, head = await fingerprint(session), await audit_head(session)
        stale = await api.call("POST", f"{path}/submit{DRY}", user, headers={"If-Match": '"x"'})
        assert stale["would_succeed"] is False
        assert rules(stale) == ["precondition_failed"]
        await api.call("POST", f"{path}/submit{DRY}", user, expect=428)
        ok = await api.call("POST", f"{path}/submit{DRY}", user, headers={"If-Match": etag})
        assert ok == {"dry_run": True, "would_succeed": True, "violations": [], "caps": []}
        assert await fingerprint(session) == before
        assert await audit_head(session) == head
        # The submission after the dry runs: the ETag it read still holds, one event.
        submitted = await api.call("POST", f"{path}/submit", user, headers={"If-Match": etag})
        assert submitted["status"] == "submitted"
        assert (await audit_head(session))[0] == head[0] + 1
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "application.submit")
        )
        assert event is not None
        assert str(event.entity_id) == draft["id"]
        # A dry run of a submitted application: the state machine's refusal, with figures.
        late = await api.call("POST", f"{path}/submit{DRY}", user, headers={"If-Match": etag})
        assert rules(late)[:2] == ["precondition_failed", "illegal_transition"]
        assert late["violations"][1]["figures"]["current_status"] == "submitted"

    async def test_refused_like_the_submission_for_who_may_not_submit(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, settings: Settings
    ) -> None:
        api, path, _, _ = await _submission_world(client, session, admin)
        await api.read(path, admin)
        etag = {"If-Match": api.etags[path]}
        stranger_org = await make_organisation(session, name="Altro", tax_code=tax_code(320))
        callers = [
            await user_actor(session, settings, Role.OFFICER),
            await user_actor(session, settings, Role.REVIEWER),
            await user_actor(session, settings, Role.APPLICANT, organisation_ids=[stranger_org.id]),
        ]
        for actor in callers:
            real = await client.post(f"{path}/submit", headers={**actor.headers, **etag})
            dry = await client.post(f"{path}/submit{DRY}", headers={**actor.headers, **etag})
            assert real.status_code == dry.status_code
            assert real.status_code in (403, 404)
            assert without_instance(real.json()) == without_instance(dry.json())
        draft = await session.get(Application, uuid.UUID(path.rsplit("/", 1)[1]))
        assert draft is not None
        assert draft.status is ApplicationStatus.DRAFT


class TestTheFlagElsewhere:
    async def test_a_route_without_dry_runs_acts_on_dry_run_true(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        # Only the routes that declare dry_run read it (app.api.deps.is_dry_run); elsewhere
        # it is an unknown parameter, ignored, and the request acts in a writing transaction.
        world = await budget(session, total=1_000_000)
        open_window(session, world)
        org = await make_organisation(session, name="Coop", tax_code=tax_code(330))
        body = {
            "call_id": str(world.call.id),
            "applicant_organisation_id": str(org.id),
            "title": "Progetto",
            "description": "-",
            "total_cost": "1000.00",
            "requested": "1000.00",
        }
        made = await client.post(f"/api/v1/applications{DRY}", json=body, headers=admin.headers)
        assert made.status_code == 201, made.text
        stored = await session.get(Application, uuid.UUID(made.json()["id"]))
        assert stored is not None
        assert stored.status is ApplicationStatus.DRAFT
