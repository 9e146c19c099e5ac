"""Every mutating route writes exactly one audit event, naming the action, the entity, the
actor, the state before (None on a creation) and after.

The route table (tests/api/routes.py) names every POST/PATCH/PUT/DELETE route's event (or
the written reason why it has none); ARRANGE has a way to perform each as a caller allowed
to. A route missing from either fails the meta-test, so no change ships without its place
in the trail.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStage, ApplicationStatus, CallStatus, DocumentOwner
from app.models import Allocation, AuditEvent, AuditHead, DocumentKind, Measure
from tests.actors import (
    PASSWORD,
    TAX_CODES,
    Actor,
    client_actor,
    make_organisation,
    tax_code,
    user_actor,
)
from tests.api.routes import MUTATING, ROUTES, Event, app_routes
from tests.api.v1.flows import Api, declare_no_conflict, programme, text
from tests.world import (
    Budget,
    approved,
    budget,
    district,
    funded,
    mixed,
    open_window,
    scores,
    with_grid,
    with_indicators,
)


class World:
    """The callers and the data a case needs, made on demand in the test's transaction."""

    def __init__(self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings):
        self.client, self.session, self.settings = client, session, settings
        self._actors: dict[str, Actor] = {}
        self._budget: Budget | None = None
        self.applicant_org: uuid.UUID | None = None

    async def actor(self, name: str) -> Actor:
        if name not in self._actors:
            if name == "applicant":
                org = await make_organisation(
                    self.session, name="Cooperativa Alfa", tax_code=TAX_CODES[1]
                )
                self.applicant_org = org.id
                made = await user_actor(
                    self.session, self.settings, Role.APPLICANT, organisation_ids=[org.id]
                )
            else:
                made = await user_actor(self.session, self.settings, Role(name))
            self._actors[name] = made
        return self._actors[name]

    async def budget(self) -> Budget:
        """A programme, a measure and a published call with an open submission window."""
        if self._budget is None:
            self._budget = await budget(self.session, total=1_000_000)
            open_window(self.session, self._budget, days=30)
            await with_grid(self.session, self._budget.call)
            await self.session.flush()
        return self._budget

    async def etag(self, path: str, actor: Actor) -> dict[str, str]:
        response = await self.client.get(path, headers=actor.headers)
        assert response.status_code == 200, f"GET {path}: {response.text}"
        return {"If-Match": response.headers["etag"]}

    async def created(self, path: str, actor: Actor, body: dict[str, Any]) -> str:
        response = await self.client.post(path, json=body, headers=actor.headers)
        assert response.status_code == 201, f"POST {path}: {response.text}"
        made: str = response.json()["id"]
        return made

    async def application(self, status: ApplicationStatus, stage: ApplicationStage) -> str:
        """An application of the applicant's organisation, in ``status`` at ``stage``."""
        world = await self.budget()
        await self.actor("applicant")
        found = await approved(self.session, world, requested=1_000, status=status)
        await self.session.execute(
            update(type(found))
            .where(type(found).id == found.id)
            .values(applicant_organisation_id=self.applicant_org, stage=stage)
        )
        return str(found.id)


@dataclass
class Request:
    """One request as the case's caller, and the entity its event must name (None: the id
    of the created resource, read from the response)."""

    method: str
    path: str
    actor: Actor | None
    json: Any = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200
    entity_id: str | None = None
    actor_recorded: tuple[str, str] | None = None  # when the actor is not the bearer's user


# Each arrangement makes what the route needs, then describes the one request to count.


async def _programme_create(w: World) -> Request:
    admin = await w.actor("administrator")
    body = {
        "code": "AUD",
        "name_it": "Programma",
        "name_en": "Programme",
        "description_it": "Descrizione",
        "description_en": "Description",
        "responsible_office": "Direzione Coesione Sociale",
        "legal_basis": "D.G.R. di prova",
        "total_budget": "1000000.00",
    }
    return Request("POST", "/api/v1/programmes", admin, json=body, expect=201)


async def _new_programme(w: World) -> dict[str, Any]:
    made: dict[str, Any] = await programme(Api(w.client), await w.actor("administrator"), "AUD")
    return made


async def _programme_update(w: World) -> Request:
    admin = await w.actor("administrator")
    path = f"/api/v1/programmes/{(await _new_programme(w))['id']}"
    headers = await w.etag(path, admin)
    return Request("PATCH", path, admin, json={"name_en": "Renamed"}, headers=headers)


def _measure_body(programme_id: str) -> dict[str, Any]:
    return {
        "programme_id": programme_id,
        "code": "AUD-M",
        "fund": "FSE",
        "title": text("Misura"),
        "objective": text("Obiettivo"),
        "beneficiaries": text("Enti"),
        "budget": "100000.00",
        "eligibility": {"applicant_forms": ["organisation"]},
    }


async def _measure_create(w: World) -> Request:
    admin = await w.actor("administrator")
    body = _measure_body((await _new_programme(w))["id"])
    return Request("POST", "/api/v1/measures", admin, json=body, expect=201)


async def _new_measure(w: World) -> str:
    admin = await w.actor("administrator")
    body = _measure_body((await _new_programme(w))["id"])
    return await w.created("/api/v1/measures", admin, body)


async def _measure_update(w: World) -> Request:
    admin = await w.actor("administrator")
    path = f"/api/v1/measures/{await _new_measure(w)}"
    headers = await w.etag(path, admin)
    return Request("PATCH", path, admin, json={"title": text("Nuova")}, headers=headers)


def _call_body(measure_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "measure_id": measure_id,
        "code": "AUD-CALL",
        "title": text("Bando"),
        "budget": "1000.00",
        "phases": [
            {
                "kind": "submission",
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=30)).isoformat(),
            }
        ],
    }


async def _call_create(w: World) -> Request:
    officer = await w.actor("officer")
    body = _call_body(await _new_measure(w))
    return Request("POST", "/api/v1/calls", officer, json=body, expect=201)


async def _draft_call(w: World) -> str:
    officer = await w.actor("officer")
    return await w.created("/api/v1/calls", officer, _call_body(await _new_measure(w)))


async def _call_update(w: World) -> Request:
    officer = await w.actor("officer")
    path = f"/api/v1/calls/{await _draft_call(w)}"
    headers = await w.etag(path, officer)
    return Request("PATCH", path, officer, json={"title": text("Nuovo")}, headers=headers)


async def _call_publish(w: World) -> Request:
    officer = await w.actor("officer")
    path = f"/api/v1/calls/{await _draft_call(w)}"
    headers = await w.etag(path, officer)
    return Request("POST", f"{path}/publish", officer, headers=headers, entity_id=path[-36:])


async def _call_close(w: World) -> Request:
    officer = await w.actor("officer")
    call = (await w.budget()).call
    assert call.status is CallStatus.PUBLISHED
    path = f"/api/v1/calls/{call.id}"
    headers = await w.etag(path, officer)
    return Request("POST", f"{path}/close", officer, headers=headers, entity_id=str(call.id))


async def _district_create(w: World) -> Request:
    admin = await w.actor("administrator")
    lead = await make_organisation(w.session, name="Ente gestore", tax_code=tax_code(41))
    body = {"code": "D-AUD", "name": "Distretto", "lead_organisation_id": str(lead.id)}
    return Request("POST", "/api/v1/districts", admin, json=body, expect=201)


async def _district_update(w: World) -> Request:
    admin = await w.actor("administrator")
    found = await district(w.session, await w.budget(), 7)
    path = f"/api/v1/districts/{found.id}"
    headers = await w.etag(path, admin)
    return Request("PATCH", path, admin, json={"name": "Rinominato"}, headers=headers)


async def _organisation_create(w: World) -> Request:
    applicant = await w.actor("applicant")
    body = {
        "legal_name": "Cooperativa Nuova",
        "tax_code": tax_code(42),
        "legal_nature": "third_sector_organisation",
        "profit_status": "non_profit",
    }
    return Request("POST", "/api/v1/organisations", applicant, json=body, expect=201)


async def _organisation_update(w: World) -> Request:
    applicant = await w.actor("applicant")
    path = f"/api/v1/organisations/{w.applicant_org}"
    headers = await w.etag(path, applicant)
    return Request("PATCH", path, applicant, json={"legal_name": "Alfa Due"}, headers=headers)


async def _state_aid_declaration_create(w: World) -> Request:
    applicant = await w.actor("applicant")
    body = {"kind": "linked_undertaking", "linked_tax_code": tax_code(43)}
    path = f"/api/v1/organisations/{w.applicant_org}/state-aid-declarations"
    return Request("POST", path, applicant, json=body, expect=201)


async def _partnership_body(w: World) -> dict[str, Any]:
    await w.actor("applicant")
    return {
        "name": "ATS Audit",
        "form": "ats_to_be_formed",
        "lead_organisation_id": str(w.applicant_org),
    }


async def _partnership_create(w: World) -> Request:
    applicant = await w.actor("applicant")
    body = await _partnership_body(w)
    return Request("POST", "/api/v1/partnerships", applicant, json=body, expect=201)


async def _partnership_update(w: World) -> Request:
    applicant = await w.actor("applicant")
    made = await w.created("/api/v1/partnerships", applicant, await _partnership_body(w))
    path = f"/api/v1/partnerships/{made}"
    headers = await w.etag(path, applicant)
    return Request("PATCH", path, applicant, json={"name": "ATS Rinominata"}, headers=headers)


async def _partnership_invite(w: World) -> Request:
    applicant = await w.actor("applicant")
    made = await w.created("/api/v1/partnerships", applicant, await _partnership_body(w))
    await make_organisation(w.session, name="Partner", tax_code=tax_code(43))
    return Request(
        "POST",
        f"/api/v1/partnerships/{made}/members",
        applicant,
        json={"tax_code": tax_code(43)},
        expect=201,
        entity_id=made,
    )


async def _invitation(w: World) -> tuple[str, str, Actor]:
    """A partnership of the applicant's, its invitation path, and a user of the invited."""
    applicant = await w.actor("applicant")
    made = await w.created("/api/v1/partnerships", applicant, await _partnership_body(w))
    partner = await make_organisation(w.session, name="Partner", tax_code=tax_code(43))
    invited = await user_actor(w.session, w.settings, Role.APPLICANT, organisation_ids=[partner.id])
    response = await w.client.post(
        f"/api/v1/partnerships/{made}/members",
        json={"tax_code": tax_code(43)},
        headers=applicant.headers,
    )
    assert response.status_code == 201, response.text
    return made, f"/api/v1/partnerships/{made}/members/{partner.id}", invited


async def _membership_accept(w: World) -> Request:
    made, path, invited = await _invitation(w)
    headers = await w.etag(path, invited)
    return Request("POST", f"{path}/accept", invited, json={}, headers=headers, entity_id=made)


async def _membership_decline(w: World) -> Request:
    made, path, invited = await _invitation(w)
    headers = await w.etag(path, invited)
    return Request(
        "POST", f"{path}/decline", invited, json={}, headers=headers, expect=204, entity_id=made
    )


async def _application_create(w: World) -> Request:
    applicant = await w.actor("applicant")
    world = await w.budget()
    body = {
        "call_id": str(world.call.id),
        "applicant_organisation_id": str(w.applicant_org),
        "title": "Progetto",
        "description": "Descrizione",
        "total_cost": "2000.00",
        "requested": "1000.00",
    }
    return Request("POST", "/api/v1/applications", applicant, json=body, expect=201)


def _application_update(w: World) -> Awaitable[Request]:
    return _application_request(w, None, ApplicationStatus.DRAFT, ApplicationStage.SINGLE)


async def _application_request(
    w: World, action: str | None, status: ApplicationStatus, stage: ApplicationStage
) -> Request:
    """PATCH (``action`` None) or a lifecycle action on an application in ``status``."""
    application_id = await w.application(status, stage)
    region = action not in (None, "submit", "withdraw")
    actor = await w.actor("officer" if region else "applicant")
    path = f"/api/v1/applications/{application_id}"
    headers = await w.etag(path, actor)
    if action is None:
        return Request("PATCH", path, actor, json={"title": "Nuovo titolo"}, headers=headers)
    return Request("POST", f"{path}/{action}", actor, headers=headers, entity_id=application_id)


def _lifecycle(
    action: str, status: ApplicationStatus, stage: ApplicationStage = ApplicationStage.SINGLE
) -> Callable[[World], Awaitable[Request]]:
    def arrange(w: World) -> Awaitable[Request]:
        return _application_request(w, action, status, stage)

    return arrange


async def _allocation_grant(w: World) -> Request:
    officer = await w.actor("officer")
    application = await approved(w.session, await w.budget(), requested=1_000, n=5)
    body = {"application_id": str(application.id), "amount": "1000.00"}
    return Request("POST", "/api/v1/allocations", officer, json=body, expect=201)


async def _allocation_revoke(w: World) -> Request:
    officer = await w.actor("officer")
    application = await approved(w.session, await w.budget(), requested=1_000, n=6)
    body = {"application_id": str(application.id), "amount": "1000.00"}
    made = await w.created("/api/v1/allocations", officer, body)
    path = f"/api/v1/allocations/{made}"
    headers = await w.etag(path, officer)
    return Request(
        "POST",
        f"{path}/revoke",
        officer,
        json={"reason": "rinuncia"},
        headers=headers,
        entity_id=made,
    )


def _allocation_record(segment: str, body: dict[str, str]) -> Callable[[World], Awaitable[Request]]:
    async def make(w: World) -> Request:
        officer = await w.actor("officer")
        application = await approved(w.session, await w.budget(), requested=1_000, n=6)
        grant = {"application_id": str(application.id), "amount": "1000.00"}
        made = await w.created("/api/v1/allocations", officer, grant)
        path = f"/api/v1/allocations/{made}"
        headers = await w.etag(path, officer)
        return Request(
            "POST", f"{path}/{segment}", officer, json=body, headers=headers, entity_id=made
        )

    return make


async def _loan_repay(w: World) -> Request:
    officer = await w.actor("officer")
    world = await mixed(w.session, total=1_000_000, code="AUDMIX")
    application = await approved(w.session, world, requested=1_000, n=7)
    body = {"application_id": str(application.id), "amount": "1000.00"}
    made = await w.created("/api/v1/allocations", officer, body)
    repayment = {"instalment": 1, "amount": "1.00", "paid_on": str(clock.today())}
    return Request(
        "POST",
        f"/api/v1/allocations/{made}/loan/repayments",
        officer,
        json=repayment,
        headers={"Idempotency-Key": "audit-repay"},
        expect=201,
    )


async def _funded_for_applicant(w: World, *, accept: bool, n: int) -> str:
    """A grant (on a measure with full payment terms) whose beneficiary is the applicant's
    organisation; its funding path."""
    await w.actor("applicant")
    grant = await funded(w.session, code=f"AUDPAY{n}", accept=accept, n=40 + n)
    grant.application.applicant_organisation_id = w.applicant_org
    await w.session.flush()
    return f"/api/v1/allocations/{grant.allocation.id}"


_CLAIM = {
    "period_start": clock.today().isoformat(),
    "period_end": clock.today().isoformat(),
    "lines": [
        {
            "cost_category": "staff",
            "amount": "100.00",
            "document_reference": "INV-1",
            "spent_on": clock.today().isoformat(),
        }
    ],
}


async def _allocation_accept(w: World) -> Request:
    applicant = await w.actor("applicant")
    path = await _funded_for_applicant(w, accept=False, n=1)
    headers = await w.etag(f"{path}/funding", applicant)
    body = {"accepted_on": clock.today().isoformat()}
    return Request(
        "POST",
        f"{path}/funding/accept",
        applicant,
        json=body,
        headers=headers,
        entity_id=path.rsplit("/", 1)[1],
    )


async def _claim_create(w: World) -> Request:
    applicant = await w.actor("applicant")
    path = await _funded_for_applicant(w, accept=True, n=2)
    return Request("POST", f"{path}/claims", applicant, json=_CLAIM, expect=201)


async def _submitted_claim(w: World, n: int, *, submit: bool) -> str:
    applicant = await w.actor("applicant")
    path = await _funded_for_applicant(w, accept=True, n=n)
    claim = f"/api/v1/claims/{await w.created(f'{path}/claims', applicant, _CLAIM)}"
    if submit:
        response = await w.client.post(
            f"{claim}/submit", headers={**applicant.headers, **await w.etag(claim, applicant)}
        )
        assert response.status_code == 200, response.text
    return claim


async def _claim_submit(w: World) -> Request:
    applicant = await w.actor("applicant")
    claim = await _submitted_claim(w, 3, submit=False)
    headers = await w.etag(claim, applicant)
    return Request(
        "POST", f"{claim}/submit", applicant, headers=headers, entity_id=claim.rsplit("/", 1)[1]
    )


async def _claim_line_check(w: World) -> Request:
    officer = await w.actor("officer")
    claim = await _submitted_claim(w, 4, submit=True)
    read = await w.client.get(f"{claim}/lines/1", headers=officer.headers)
    return Request(
        "POST",
        f"{claim}/lines/1/check",
        officer,
        json={"outcome": "accepted"},
        headers={"If-Match": read.headers["etag"]},
        entity_id=read.json()["id"],
    )


async def _payment_create(w: World) -> Request:
    officer = await w.actor("officer")
    path = await _funded_for_applicant(w, accept=True, n=5)
    body = {
        "kind": "advance",
        "amount": "100.00",
        "paid_on": clock.today().isoformat(),
        "treasury_reference": "MAND-AUD-1",
    }
    return Request("POST", f"{path}/payments", officer, json=body, expect=201)


async def _allocation_reduce(w: World) -> Request:
    officer = await w.actor("officer")
    path = await _funded_for_applicant(w, accept=True, n=6)
    headers = await w.etag(path, officer)
    return Request(
        "POST",
        f"{path}/reduce",
        officer,
        json={"amount": "500.00", "reason": "in parte"},
        headers=headers,
        entity_id=path.rsplit("/", 1)[1],
    )


async def _recovery_receive(w: World) -> Request:
    """A paid grant revoked: its recovery, and an amount recovered on it."""
    officer = await w.actor("officer")
    path = await _funded_for_applicant(w, accept=True, n=7)
    body = {
        "kind": "advance",
        "amount": "100.00",
        "paid_on": clock.today().isoformat(),
        "treasury_reference": "MAND-AUD-REC",
    }
    await w.created(f"{path}/payments", officer, body)
    revoked = await w.client.post(
        f"{path}/revoke",
        json={"reason": "rinuncia"},
        headers={**officer.headers, **await w.etag(path, officer)},
    )
    assert revoked.status_code == 200, revoked.text
    funding = await w.client.get(f"{path}/funding", headers=officer.headers)
    (recovery,) = funding.json()["recoveries"]
    receipt = {
        "amount": "40.00",
        "received_on": clock.today().isoformat(),
        "treasury_reference": "REV-AUD-1",
    }
    return Request(
        "POST", f"/api/v1/recoveries/{recovery}/receipts", officer, json=receipt, expect=201
    )


async def _indicator_targets_set(w: World) -> Request:
    applicant = await w.actor("applicant")
    application_id = await w.application(ApplicationStatus.DRAFT, ApplicationStage.SINGLE)
    measure = (await w.budget()).measure
    await with_indicators(w.session, measure)
    body = {"figures": {f"{measure.code}-VISITS": {"total": 10}}}
    return Request(
        "PUT",
        f"/api/v1/applications/{application_id}/indicator-targets",
        applicant,
        json=body,
        entity_id=application_id,
    )


def _project_dates() -> dict[str, str]:
    today = clock.today()
    return {
        "starts_on": today.isoformat(),
        "planned_end_on": (today + timedelta(days=90)).isoformat(),
    }


async def _project_dates_set(w: World) -> Request:
    officer = await w.actor("officer")
    path = await _funded_for_applicant(w, accept=False, n=8)
    return Request(
        "PUT",
        f"{path}/project-dates",
        officer,
        json=_project_dates(),
        entity_id=path.rsplit("/", 1)[1],
    )


async def _monitored(w: World, n: int) -> tuple[str, dict[str, Any]]:
    """A grant of the applicant's on a measure with indicators, its dates recorded: its path
    and a report's body."""
    officer = await w.actor("officer")
    path = await _funded_for_applicant(w, accept=False, n=n)
    allocation = await w.session.get(Allocation, uuid.UUID(path.rsplit("/", 1)[1]))
    assert allocation is not None
    measure = await w.session.get(Measure, allocation.measure_id)
    assert measure is not None
    await with_indicators(w.session, measure)
    dates = await w.client.put(
        f"{path}/project-dates", json=_project_dates(), headers=officer.headers
    )
    assert dates.status_code == 200, dates.text
    people = {"under_18": 1, "adult": 1, "over_65": 1}
    body = {
        "period": 1,
        "figures": {
            f"{measure.code}-VISITS": {"total": 2},
            f"{measure.code}-PEOPLE": {"total": 3, "breakdowns": {"age_band": people}},
            f"{measure.code}-KEPT": {"total": 0},
        },
        "narrative": "Avviato.",
        "narrative_language": "it",
    }
    return path, body


async def _report_file(w: World) -> Request:
    applicant = await w.actor("applicant")
    path, body = await _monitored(w, 9)
    return Request("POST", f"{path}/monitoring-reports", applicant, json=body, expect=201)


async def _report_check(w: World) -> Request:
    applicant, officer = await w.actor("applicant"), await w.actor("officer")
    path, body = await _monitored(w, 10)
    report = await w.created(f"{path}/monitoring-reports", applicant, body)
    target = f"/api/v1/monitoring-reports/{report}"
    return Request(
        "POST",
        f"{target}/check",
        officer,
        json={"outcome": "accepted"},
        headers=await w.etag(target, officer),
        entity_id=report,
    )


async def _login_body(w: World) -> tuple[Actor, dict[str, str]]:
    email = f"login-{uuid.uuid4().hex[:6]}@example.org"
    user = await user_actor(w.session, w.settings, Role.OFFICER, email=email)
    return user, {"email": email, "password": PASSWORD}


async def _login(w: World) -> Request:
    user, body = await _login_body(w)
    # Anonymous caller: the event names the user who logged in.
    return Request(
        "POST",
        "/api/v1/auth/login",
        None,
        json=body,
        entity_id=str(user.id),
        actor_recorded=("user", str(user.id)),
    )


async def _refresh(w: World) -> Request:
    user, body = await _login_body(w)
    tokens = (await w.client.post("/api/v1/auth/login", json=body)).json()
    return Request(
        "POST",
        "/api/v1/auth/refresh",
        None,
        json={"refresh_token": tokens["refresh_token"]},
        entity_id=str(user.id),
        actor_recorded=("user", str(user.id)),
    )


async def _logout(w: World) -> Request:
    officer = await w.actor("officer")
    return Request(
        "POST", "/api/v1/auth/logout", officer, json={}, expect=204, entity_id=str(officer.id)
    )


async def _password_change(w: World) -> Request:
    user, body = await _login_body(w)
    change = {"current_password": body["password"], "new_password": "another passphrase, longer"}
    return Request("POST", "/api/v1/auth/password", user, json=change, entity_id=str(user.id))


async def _user_create(w: World) -> Request:
    admin = await w.actor("administrator")
    body = {
        "email": "nuovo@example.org",
        "display_name": "Nuovo",
        "password": "a long passphrase of 12+ characters",
        "role": "officer",
    }
    return Request("POST", "/api/v1/users", admin, json=body, expect=201)


async def _user_update(w: World) -> Request:
    admin = await w.actor("administrator")
    officer = await w.actor("officer")
    path = f"/api/v1/users/{officer.id}"
    headers = await w.etag(path, admin)
    return Request("PATCH", path, admin, json={"display_name": "Rinominato"}, headers=headers)


async def _user_set_language(w: World) -> Request:
    applicant = await w.actor("applicant")
    return Request(
        "PATCH", "/api/v1/users/me", applicant, json={"language": "en"}, entity_id=str(applicant.id)
    )


async def _notification_preferences_update(w: World) -> Request:
    officer = await w.actor("officer")
    body = {"opted_out": ["new_claim"]}
    path = "/api/v1/users/me/notification-preferences"
    return Request("PUT", path, officer, json=body, entity_id=str(officer.id))


async def _checkpoint_create(w: World) -> Request:
    admin = await w.actor("administrator")
    # The checkpoint is named by the sequence number it signs: the head before the request.
    head = await w.session.scalar(select(AuditHead.seq))
    return Request("POST", "/api/v1/audit/checkpoints", admin, expect=201, entity_id=str(head))


async def _client_create(w: World) -> Request:
    admin = await w.actor("administrator")
    body = {"name": "Fondazione", "scopes": ["allocations:read"]}
    return Request("POST", "/api/v1/clients", admin, json=body, expect=201)


async def _client_deactivate(w: World) -> Request:
    admin = await w.actor("administrator")
    partner = await client_actor(w.session, w.settings, scopes=["allocations:read"])
    return Request(
        "DELETE",
        f"/api/v1/clients/{partner.id}",
        admin,
        expect=204,
        entity_id=str(partner.id),
    )


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    jti: str = claims["jti"]
    return jti


async def _token_revoke(w: World) -> Request:
    partner = await client_actor(w.session, w.settings, scopes=["allocations:read"])
    assert partner.token
    assert partner.client_id
    assert partner.client_secret
    basic = base64.b64encode(f"{partner.client_id}:{partner.client_secret}".encode()).decode()
    return Request(
        "POST",
        "/api/v1/oauth/revoke",
        None,
        form={"token": partner.token},
        headers={"Authorization": f"Basic {basic}"},
        entity_id=_jti(partner.token),
        actor_recorded=("client", partner.client_id),
    )


async def _reviewed(w: World, status: ApplicationStatus) -> tuple[str, str]:
    """An application in ``status`` with the reviewer assigned: (reviews path, review id)."""
    officer, reviewer = await w.actor("officer"), await w.actor("reviewer")
    reviews = f"/api/v1/applications/{await w.application(status, ApplicationStage.SINGLE)}/reviews"
    return reviews, await w.created(reviews, officer, {"reviewer_id": str(reviewer.id)})


async def _review_assign(w: World) -> Request:
    officer, reviewer = await w.actor("officer"), await w.actor("reviewer")
    application = await w.application(ApplicationStatus.SUBMITTED, ApplicationStage.SINGLE)
    path = f"/api/v1/applications/{application}/reviews"
    return Request("POST", path, officer, json={"reviewer_id": str(reviewer.id)}, expect=201)


async def _review_declare(w: World) -> Request:
    reviews, review = await _reviewed(w, ApplicationStatus.SUBMITTED)
    reviewer = await w.actor("reviewer")
    headers = await w.etag(f"{reviews}/{review}", reviewer)
    body = {"no_conflict_of_interest": True}
    return Request(
        "POST", f"{reviews}/{review}/declare-no-conflict", reviewer, json=body, headers=headers
    )


async def _review_score(w: World) -> Request:
    reviews, review = await _reviewed(w, ApplicationStatus.UNDER_REVIEW)
    reviewer = await w.actor("reviewer")
    await declare_no_conflict(Api(w.client), reviewer, f"{reviews}/{review}")
    headers = await w.etag(f"{reviews}/{review}", reviewer)
    return Request("POST", f"{reviews}/{review}/score", reviewer, json=scores(), headers=headers)


async def _review_unassign(w: World) -> Request:
    reviews, review = await _reviewed(w, ApplicationStatus.SUBMITTED)
    officer = await w.actor("officer")
    headers = await w.etag(f"{reviews}/{review}", officer)
    return Request(
        "DELETE", f"{reviews}/{review}", officer, headers=headers, expect=204, entity_id=review
    )


async def _ranking_publish(w: World) -> Request:
    """The call's ranking (no application to rank yet: an empty version 1 is still a
    decision on the record)."""
    world, officer = await w.budget(), await w.actor("officer")
    ranking = f"/api/v1/calls/{world.call.id}/ranking"
    headers = await w.etag(ranking, officer)
    body = {"decree_reference": "DD 1/2026", "decree_date": "2026-12-01"}
    return Request("POST", f"{ranking}/publish", officer, json=body, headers=headers, expect=201)


async def _ranking_allocate(w: World) -> Request:
    """A run down the call's published version 1 (empty: the run's event is still one)."""
    world, officer = await w.budget(), await w.actor("officer")
    ranking = f"/api/v1/calls/{world.call.id}/ranking"
    headers = await w.etag(ranking, officer)
    body = {"decree_reference": "DD 1/2026", "decree_date": "2026-12-01"}
    published = await w.client.post(
        f"{ranking}/publish", json=body, headers={**officer.headers, **headers}
    )
    assert published.status_code == 201, published.text
    path = f"/api/v1/calls/{world.call.id}/rankings/1/allocate"
    return Request("POST", path, officer, expect=201, entity_id=published.json()["id"])


async def _foundation(w: World) -> tuple[Actor, str, dict[str, Any]]:
    """A foundation's client, its pledges path, and a pledge body for a published call."""
    from app.core.domain import LegalNature

    foundation = await make_organisation(
        w.session, name="Fondazione", tax_code=tax_code(77), nature=LegalNature.FOUNDATION
    )
    partner = await client_actor(
        w.session,
        w.settings,
        scopes=["pledges:read", "pledges:write"],
        organisation_id=foundation.id,
    )
    body = {"call_id": str((await w.budget()).call.id), "amount": "50000.00"}
    return partner, f"/api/v1/organisations/{foundation.id}/pledges", body


def _as_client(partner: Actor) -> tuple[str, str]:
    assert partner.client_id is not None
    return ("client", partner.client_id)


async def _pledge_create(w: World) -> Request:
    partner, pledges, body = await _foundation(w)
    return Request(
        "POST", pledges, partner, json=body, expect=201, actor_recorded=_as_client(partner)
    )


async def _pledge(w: World) -> tuple[Actor, str]:
    partner, pledges, body = await _foundation(w)
    return partner, f"{pledges}/{await w.created(pledges, partner, body)}"


async def _pledge_update(w: World) -> Request:
    partner, path = await _pledge(w)
    headers = await w.etag(path, partner)
    return Request(
        "PATCH",
        path,
        partner,
        json={"amount": "60000.00"},
        headers=headers,
        actor_recorded=_as_client(partner),
    )


async def _pledge_withdraw(w: World) -> Request:
    partner, path = await _pledge(w)
    headers = await w.etag(path, partner)
    return Request(
        "POST",
        f"{path}/withdraw",
        partner,
        json={"reason": "Fondi spostati."},
        headers=headers,
        actor_recorded=_as_client(partner),
    )


HOOKS = "/api/v1/webhooks/subscriptions"
HOOK_BODY = {"url": "https://127.0.0.1:9/hook", "event_types": ["call.published"]}


async def _webhook_create(w: World) -> Request:
    partner = await client_actor(w.session, w.settings, scopes=["webhooks:write"])
    return Request(
        "POST", HOOKS, partner, json=HOOK_BODY, expect=201, actor_recorded=_as_client(partner)
    )


async def _webhook(w: World) -> tuple[Actor, str]:
    admin = await w.actor("administrator")
    return admin, f"{HOOKS}/{await w.created(HOOKS, admin, HOOK_BODY)}"


async def _webhook_update(w: World) -> Request:
    admin, path = await _webhook(w)
    headers = await w.etag(path, admin)
    return Request("PATCH", path, admin, json={"status": "disabled"}, headers=headers)


async def _webhook_delete(w: World) -> Request:
    admin, path = await _webhook(w)
    headers = await w.etag(path, admin)
    entity = path.rsplit("/", 1)[1]
    return Request("DELETE", path, admin, headers=headers, expect=204, entity_id=entity)


async def _webhook_rotate(w: World) -> Request:
    admin, path = await _webhook(w)
    headers = await w.etag(path, admin)
    return Request("POST", f"{path}/rotate-secret", admin, json={}, headers=headers)


async def _webhook_replay(w: World) -> Request:
    admin, path = await _webhook(w)
    headers = await w.etag(path, admin)
    return Request("POST", f"{path}/replay", admin, json={"from_sequence": 1}, headers=headers)


DOCS = "/api/v1/documents"
PDF = b"%PDF-1.7\n" + b"0" * 100


async def _document_target(w: World) -> tuple[Actor, str]:
    """A draft application of the applicant's, whose measure allows a PDF annex."""
    application = await w.application(ApplicationStatus.DRAFT, ApplicationStage.SINGLE)
    world = await w.budget()
    w.session.add(
        DocumentKind(
            id=uuid.uuid4(),
            measure_id=world.measure.id,
            owner_type=DocumentOwner.APPLICATION,
            code="annex",
            ordinal=1,
            title_it="Allegato",
            title_en="Annex",
            required=False,
            media_types=["application/pdf"],
        )
    )
    await w.session.flush()
    query = f"owner_type=application&owner_id={application}&kind=annex"
    return await w.actor("applicant"), query


async def _document_upload(w: World) -> Request:
    applicant, query = await _document_target(w)
    files = {"file": ("allegato.pdf", PDF)}
    return Request("POST", f"{DOCS}?{query}", applicant, files=files, expect=201)


async def _document_delete(w: World) -> Request:
    applicant, query = await _document_target(w)
    made = await w.client.post(
        f"{DOCS}?{query}", files={"file": ("a.pdf", PDF)}, headers=applicant.headers
    )
    assert made.status_code == 201, made.text
    path = f"{DOCS}/{made.json()['id']}"
    headers = await w.etag(path, applicant)
    return Request(
        "DELETE", path, applicant, headers=headers, expect=204, entity_id=made.json()["id"]
    )


S, PRE = ApplicationStatus, ApplicationStage.PRELIMINARY
ARRANGE: dict[str, Callable[[World], Awaitable[Request]]] = {
    "programme.create": _programme_create,
    "programme.update": _programme_update,
    "measure.create": _measure_create,
    "measure.update": _measure_update,
    "call.create": _call_create,
    "call.update": _call_update,
    "call.publish": _call_publish,
    "call.close": _call_close,
    "district.create": _district_create,
    "district.update": _district_update,
    "organisation.create": _organisation_create,
    "organisation.update": _organisation_update,
    "state_aid_declaration.create": _state_aid_declaration_create,
    "partnership.create": _partnership_create,
    "partnership.update": _partnership_update,
    "partnership.invite": _partnership_invite,
    "partnership.accept": _membership_accept,
    "partnership.decline": _membership_decline,
    "application.create": _application_create,
    "application.update": _application_update,
    "application.submit": _lifecycle("submit", S.DRAFT),
    "application.withdraw": _lifecycle("withdraw", S.SUBMITTED),
    "application.start-review": _lifecycle("start-review", S.SUBMITTED),
    "application.approve": _lifecycle("approve", S.UNDER_REVIEW),
    "application.reject": _lifecycle("reject", S.UNDER_REVIEW),
    "application.admit-preliminary": _lifecycle("admit-preliminary", S.UNDER_REVIEW, PRE),
    "application.reject-preliminary": _lifecycle("reject-preliminary", S.UNDER_REVIEW, PRE),
    "allocation.grant": _allocation_grant,
    "allocation.revoke": _allocation_revoke,
    "allocation.record_cup": _allocation_record("cup", {"cup": "C11G06000000001"}),
    "allocation.record_rna_cor": _allocation_record("rna-cor", {"rna_cor": "1234567"}),
    "loan.repay": _loan_repay,
    "allocation.accept": _allocation_accept,
    "claim.create": _claim_create,
    "claim.submit": _claim_submit,
    "claim_line.check": _claim_line_check,
    "payment.create": _payment_create,
    "allocation.reduce": _allocation_reduce,
    "recovery.receive": _recovery_receive,
    "auth.login": _login,
    "auth.refresh": _refresh,
    "auth.logout": _logout,
    "user.password_change": _password_change,
    "user.create": _user_create,
    "user.update": _user_update,
    "user.set_language": _user_set_language,
    "notification_preferences.update": _notification_preferences_update,
    "client.create": _client_create,
    "audit_checkpoint.create": _checkpoint_create,
    "client.deactivate": _client_deactivate,
    "token.revoke": _token_revoke,
    "review.assign": _review_assign,
    "review.declare_no_conflict": _review_declare,
    "review.score": _review_score,
    "review.unassign": _review_unassign,
    "ranking.publish": _ranking_publish,
    "ranking.allocate": _ranking_allocate,
    "pledge.create": _pledge_create,
    "pledge.update": _pledge_update,
    "pledge.withdraw": _pledge_withdraw,
    "webhook_subscription.create": _webhook_create,
    "webhook_subscription.update": _webhook_update,
    "webhook_subscription.delete": _webhook_delete,
    "webhook_subscription.rotate_secret": _webhook_rotate,
    "webhook_subscription.replay": _webhook_replay,
    "document.upload": _document_upload,
    "document.delete": _document_delete,
    "application.set_indicator_targets": _indicator_targets_set,
    "allocation.set_project_dates": _project_dates_set,
    "monitoring_report.file": _report_file,
    "monitoring_report.check": _report_check,
}
# Every change's event and the changes that write none, as tests/api/routes.py lists them.
CASES: dict[tuple[str, str], Event] = {k: r.event for k, r in ROUTES.items() if r.event}
EXEMPT: dict[tuple[str, str], str] = {k: r.no_event for k, r in ROUTES.items() if r.no_event}
# Events that carry no entity snapshot at all (a session is not an entity's state).
NO_STATE = frozenset({"auth.login", "auth.refresh", "auth.logout", "token.revoke"})
# Events of a deletion: the state before, nothing after.
DELETIONS = frozenset({"review.unassign", "webhook_subscription.delete", "document.delete"})


def test_every_mutating_route_has_a_case_or_a_reason(app: FastAPI) -> None:
    mutating = {route for route in app_routes(app) if route[0] in MUTATING}
    missing = sorted(mutating - set(CASES) - set(EXEMPT))
    assert missing == [], "give these routes an event (or a no_event reason) in ROUTES"
    assert sorted((set(CASES) | set(EXEMPT)) - mutating) == [], "routes the app no longer has"
    assert set(CASES).isdisjoint(EXEMPT)
    actions = sorted(event.action for event in CASES.values())
    assert sorted(ARRANGE) == actions, "an arrangement (ARRANGE) for each event, and no other"


async def _events_after(session: AsyncSession, seq: int) -> list[AuditEvent]:
    found = await session.scalars(
        select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
    )
    return list(found)


async def _last_seq(session: AsyncSession) -> int:
    events = await session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    return events.first() or 0


@pytest.mark.parametrize(("method", "template"), sorted(CASES), ids=lambda v: str(v))
async def test_the_route_writes_exactly_one_event(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    method: str,
    template: str,
) -> None:
    case = CASES[(method, template)]
    request = await ARRANGE[case.action](World(client, session, settings))
    assert request.method == method
    before = await _last_seq(session)

    headers = {**(request.actor.headers if request.actor else {}), **request.headers}
    response = await client.request(
        request.method,
        request.path,
        json=request.json,
        data=request.form,
        files=request.files,
        headers=headers,
    )

    assert response.status_code == request.expect, response.text
    events = await _events_after(session, before)
    assert [(e.action, e.entity_type) for e in events] == [(case.action, case.entity_type)]
    (event,) = events
    entity_id = request.entity_id or response.json()["id"]
    assert event.entity_id == entity_id
    if request.actor_recorded is not None:
        assert (event.actor_type, event.actor_id) == request.actor_recorded
    else:
        assert request.actor is not None
        assert (event.actor_type, event.actor_id) == ("user", str(request.actor.id))
    if case.action in NO_STATE:
        assert (event.before, event.after) == (None, None)
        return
    if case.action in DELETIONS:
        assert event.after is None
        assert json.loads(event.before or "null")["id"] == entity_id
        return
    after = json.loads(event.after or "null")
    assert isinstance(after, dict)
    assert after.get("id", entity_id) == entity_id
    if case.creates:
        assert event.before is None
    else:
        previous = json.loads(event.before or "null")
        assert isinstance(previous, dict)
        assert previous != after, "an update whose before equals its after"
