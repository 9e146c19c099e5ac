"""The full life of an FSE1 application (two stages, partnership, district) and of a FESR
line-2 application, over HTTP, with the budget figures checked at every step."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from tests.actors import Actor, user_actor
from tests.api.v1.flows import (
    Api,
    accept,
    applicant_for,
    fesr_call,
    invite,
    new_draft,
    programme,
    text,
    window,
)


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> dict[str, Actor]:
    return {
        "admin": await user_actor(session, settings, Role.ADMINISTRATOR),
        "officer": await user_actor(session, settings, Role.OFFICER),
    }


FSE1_LIKE = {
    "code": "DCS",
    "fund": "FSE",
    "title": text("Welfare territoriale", "Territorial welfare"),
    "objective": text("Obiettivo"),
    "beneficiaries": text("Partenariati territoriali"),
    "budget": "6400000.00",
    "max_funded_projects": 30,
    "one_per_district": True,
    "two_stage_submission": True,
    "phases": [
        {"code": "preliminary", "title": text("Progetto preliminare", "Preliminary project")},
        {"code": "executive", "title": text("Progetto esecutivo", "Executive project")},
    ],
    "eligibility": {
        "applicant_forms": ["partnership"],
        "legal_natures": [
            "social_services_body",
            "municipality",
            "health_authority",
            "third_sector_organisation",
        ],
        "lead_must_be_district_lead": True,
        "required_member_natures": ["third_sector_organisation"],
        "min_required_members": 1,
        "required_members_in_piemonte": True,
    },
}


async def test_fse1_application_from_partnership_to_revocation(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, people: dict[str, Actor]
) -> None:
    api = Api(client)
    admin, officer = people["admin"], people["officer"]
    prog = await programme(api, admin, total="10000000.00")
    measure = await api.call(
        "POST",
        "/api/v1/measures",
        admin,
        json={**FSE1_LIKE, "programme_id": prog["id"]},
        expect=201,
    )
    assert measure["calls_budget"] == "0.00"
    lead_user, lead = await applicant_for(
        api,
        session,
        settings,
        admin,
        "Consorzio Socio Assistenziale",
        1,
        legal_nature="social_services_body",
    )
    third_user, third = await applicant_for(
        api, session, settings, admin, "Associazione Volontari", 2
    )
    district = await api.call(
        "POST",
        "/api/v1/districts",
        admin,
        json={"code": "D-01", "name": "Distretto Uno", "lead_organisation_id": lead["id"]},
        expect=201,
    )
    pre_open, pre_close = window(-1)
    exe_open, exe_close = window(60)
    call = await api.call(
        "POST",
        "/api/v1/calls",
        officer,
        expect=201,
        json={
            "measure_id": measure["id"],
            "code": "DCS-2026",
            "title": text("Bando DCS"),
            "budget": "6400000.00",
            "phases": [
                {"kind": "preliminary", "opens_at": pre_open, "closes_at": pre_close},
                {"kind": "executive", "opens_at": exe_open, "closes_at": exe_close},
            ],
            "participation_limits": [
                {"legal_nature": "third_sector_organisation", "max_projects": 2}
            ],
        },
    )
    call_path = f"/api/v1/calls/{call['id']}"
    assert (await client.get(call_path)).status_code == 404  # a draft is not public
    call = await api.act(call_path, "publish", officer)
    assert call["status"] == "published"
    assert call["open_phase"] == "preliminary"

    partnership = await api.call(
        "POST",
        "/api/v1/partnerships",
        lead_user,
        expect=201,
        json={
            "name": "ATS Distretto Uno",
            "form": "ats_to_be_formed",
            "district_id": district["id"],
            "lead_organisation_id": lead["id"],
        },
    )
    # Another applicant's organisation is invited by its tax code, and joins when one of
    # its own users accepts: until then the partnership cannot submit.
    invited = await invite(api, partnership["id"], lead_user, third["tax_code"])
    assert (invited["organisation_id"], invited["status"]) == (third["id"], "invited")
    await accept(api, partnership["id"], third["id"], third_user)
    preliminary = await new_draft(
        api,
        lead_user,
        call["id"],
        title="Comunità che cura",
        description="Progetto preliminare",
        total_cost="500000.00",
        requested="450000.00",
        partnership_id=partnership["id"],
        district_id=district["id"],
    )
    assert (preliminary["stage"], preliminary["status"]) == ("preliminary", "draft")
    pre_path = f"/api/v1/applications/{preliminary['id']}"
    assert (await api.act(pre_path, "submit", lead_user))["status"] == "submitted"
    # Illegal moves are refused with the current and attempted states.
    refused = await api.act(pre_path, "approve", officer, expect=409)
    assert refused["rule"] == "illegal_transition"
    assert (refused["current_status"], refused["attempted"]) == ("submitted", "approve")
    await api.act(pre_path, "start-review", officer)
    assert (await api.act(pre_path, "admit-preliminary", officer))["status"] == "admitted"

    executive = await new_draft(
        api,
        lead_user,
        call["id"],
        title="Comunità che cura - esecutivo",
        description="Progetto esecutivo",
        total_cost="520000.00",
        requested="480000.00",
        partnership_id=partnership["id"],
        preliminary_id=preliminary["id"],
    )
    assert executive["stage"] == "executive"
    assert executive["district_id"] == district["id"]
    exe_path = f"/api/v1/applications/{executive['id']}"
    closed = await api.act(exe_path, "submit", lead_user, expect=409)
    assert closed["rule"] == "call_not_open"
    # The region opens the executive window now.
    now_open, now_close = window(-0.5)
    await api.patch(
        call_path,
        officer,
        {
            "phases": [
                {"kind": "preliminary", "opens_at": pre_open, "closes_at": now_open},
                {"kind": "executive", "opens_at": now_open, "closes_at": now_close},
            ]
        },
    )
    assert (await api.act(exe_path, "submit", lead_user))["status"] == "submitted"
    await api.act(exe_path, "start-review", officer)
    assert (await api.act(exe_path, "approve", officer))["status"] == "approved"

    over = await api.call(
        "POST",
        "/api/v1/allocations",
        officer,
        json={"application_id": executive["id"], "amount": "480000.01"},
        expect=422,
    )
    assert over["rule"] == "allocation_exceeds_request"
    allocation = await api.call(
        "POST",
        "/api/v1/allocations",
        officer,
        json={"application_id": executive["id"], "amount": "450000.00"},
        expect=201,
    )
    assert allocation["status"] == "active"
    assert allocation["district_id"] == district["id"]
    again = await api.call(
        "POST",
        "/api/v1/allocations",
        officer,
        json={"application_id": executive["id"], "amount": "1.00"},
        expect=409,
    )
    assert again["rule"] == "one_active_allocation"
    for path, allocated, funded in (
        (f"/api/v1/programmes/{prog['id']}", "450000.00", 1),
        (f"/api/v1/measures/{measure['id']}", "450000.00", 1),
        (call_path, "450000.00", 1),
    ):
        figures = await api.read(path)
        assert (figures["allocated"], figures["funded_projects"]) == (allocated, funded), path
    # Funded projects are public.
    public = (await client.get("/api/v1/allocations")).json()["items"]
    assert [a["id"] for a in public] == [allocation["id"]]

    revoked = await api.act(
        f"/api/v1/allocations/{allocation['id']}",
        "revoke",
        officer,
        json={"reason": "Rinuncia del beneficiario"},
    )
    assert revoked["status"] == "revoked"
    assert revoked["revocation_reason"] == "Rinuncia del beneficiario"
    figures = await api.read(f"/api/v1/measures/{measure['id']}")
    assert (figures["allocated"], figures["funded_projects"], figures["available"]) == (
        "0.00",
        0,
        "6400000.00",
    )
    assert (await client.get("/api/v1/allocations")).json()["items"] == []
    twice = await api.act(
        f"/api/v1/allocations/{allocation['id']}",
        "revoke",
        officer,
        json={"reason": "again"},
        expect=409,
    )
    assert twice["rule"] == "illegal_transition"


async def test_fesr_line_2_application(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, people: dict[str, Actor]
) -> None:
    api = Api(client)
    admin, officer = people["admin"], people["officer"]
    measure, call = await fesr_call(api, admin, officer, line=2, budget="1000000.00")
    assert [line["number"] for line in measure["lines"]] == [1, 2]
    user, company = await applicant_for(
        api,
        session,
        settings,
        admin,
        "Startup Sociale srl",
        3,
        legal_nature="enterprise",
        profit_status="profit",
        size_class="micro",
    )
    draft = {
        "call_id": call["id"],
        "applicant_organisation_id": company["id"],
        "title": "Teleassistenza",
        "description": "Servizi digitali per anziani",
        "total_cost": "100000.01",
        "requested": "80000.00",
        "thematic_area_code": "health-wellbeing",
    }
    too_big = await api.call("POST", "/api/v1/applications", user, json=draft, expect=201)
    refused = await api.act(f"/api/v1/applications/{too_big['id']}", "submit", user, expect=422)
    assert refused["rule"] == "eligibility"
    assert [v["rule"] for v in refused["violations"]] == ["line_max_project_cost"]
    await api.act(f"/api/v1/applications/{too_big['id']}", "withdraw", user)

    application = await api.call(
        "POST", "/api/v1/applications", user, json={**draft, "total_cost": "100000.00"}, expect=201
    )
    assert application["stage"] == "single"
    path = f"/api/v1/applications/{application['id']}"
    await api.act(path, "submit", user)
    await api.act(path, "start-review", officer)
    await api.act(path, "approve", officer)
    allocation = await api.call(
        "POST",
        "/api/v1/allocations",
        officer,
        json={"application_id": application["id"], "amount": "80000.00"},
        expect=201,
    )
    assert allocation["amount"] == "80000.00"
    figures = await api.read(f"/api/v1/calls/{call['id']}")
    assert (figures["allocated"], figures["available"]) == ("80000.00", "920000.00")
