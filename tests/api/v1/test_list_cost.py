"""Every list of the API costs a constant number of SQL statements, whatever the page size.

The lists are found in the app's OpenAPI (a 200 body with ``items`` and ``next_cursor``), so a
new list that is not arranged here fails the meta-test; each is filled with more rows than the
smallest page so that the sizes really differ."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core import clock
from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import (
    ApplicationStatus,
    DeclarationKind,
    DeMinimisRegulation,
    DocumentOwner,
    LegalNature,
    MemberRole,
    MemberStatus,
    NarrativeLanguage,
    PartnershipForm,
    PledgeStatus,
    ReportStatus,
)
from app.models import (
    Allocation,
    Document,
    Loan,
    LoanInstalment,
    MonitoringReport,
    Partnership,
    PartnershipMember,
    PaymentTerms,
    Pledge,
    ProjectSchedule,
    Ranking,
    Review,
    StateAidDeclaration,
    WebhookAttempt,
    WebhookDelivery,
)
from app.repositories import payments as payments_repo
from app.services.checkpoints import create_checkpoint
from app.services.clients import register_client
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.statements import counting, queries
from tests.world import (
    PAYMENT_TERMS,
    approved,
    budget,
    decree_kind,
    district,
    euros,
    funded,
    mixed,
)

ROWS = 6


@pytest.fixture
async def world(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> dict[str, Any]:
    """At least ROWS rows in every list, some of them written over HTTP (audit events)."""
    admin = await user_actor(session, settings, Role.ADMINISTRATOR)
    w = await budget(session, total=10_000_000, code="LC")
    for n in range(ROWS - 1):  # programmes, measures and calls
        await budget(session, total=1_000, code=f"LC{n}")
    for n in range(ROWS):
        await district(session, w, n)
    apps = [await approved(session, w, requested=1_000, n=n) for n in range(ROWS)]
    for application in apps:
        granted = await client.post(
            "/api/v1/allocations",
            json={"application_id": str(application.id), "amount": "1000.00"},
            headers=admin.headers,
        )
        assert granted.status_code == 201, granted.text
    reviewed = await approved(session, w, requested=1_000, n=99, status=ApplicationStatus.SUBMITTED)
    foundation = await make_organisation(
        session, name="Fondazione", tax_code=tax_code(880), nature=LegalNature.FOUNDATION
    )
    for n in range(ROWS):
        partnership = Partnership(
            id=uuid.uuid4(), name=f"ATS {n}", form=PartnershipForm.ATS_TO_BE_FORMED
        )
        session.add(partnership)
        await session.flush()
        session.add_all(
            [
                PartnershipMember(
                    partnership_id=partnership.id,
                    organisation_id=apps[n].applicant_organisation_id,
                    role=MemberRole.LEAD,
                    status=MemberStatus.ACCEPTED,
                ),
                # The foundation's invitations: each shows its partnership's lead.
                PartnershipMember(
                    partnership_id=partnership.id,
                    organisation_id=foundation.id,
                    role=MemberRole.PARTNER,
                    status=MemberStatus.INVITED,
                ),
            ]
        )
        reviewer = await user_actor(session, settings, Role.REVIEWER)
        session.add(Review(id=uuid.uuid4(), application_id=reviewed.id, reviewer_id=reviewer.id))
        session.add(
            Pledge(
                id=uuid.uuid4(),
                organisation_id=foundation.id,
                call_id=w.call.id,
                amount=euros(100_000 + n),
                status=PledgeStatus.ACTIVE,
            )
        )
        await register_client(
            session, settings=settings, name=f"Client {n}", scopes=["pledges:read"]
        )
        # The foundation's state-aid declarations (aid from other sources).
        session.add(
            StateAidDeclaration(
                id=uuid.uuid4(),
                organisation_id=foundation.id,
                kind=DeclarationKind.OTHER_AID,
                amount=euros(1_000 + n),
                granted_on=date(2025, 1, 1 + n),
                granting_body="Camera di commercio",
                regulation=DeMinimisRegulation.R2023_2831,
                declared_by="user:test",
            )
        )
    for _ in range(ROWS):  # each records an event, so the next signs another head
        await create_checkpoint(session, secret=settings.secret, issuer=settings.issuer)
    replaced = None
    for version in range(1, ROWS + 1):  # published versions, each correcting the last
        ranking = Ranking(
            id=uuid.uuid4(),
            call_id=w.call.id,
            version=version,
            replaces_id=replaced,
            decree_reference=f"DD {version}/2026",
            decree_date=date(2026, 1, version),
            published_at=datetime.now(UTC),
            published_by=admin.id,
            budget=euros(10_000),
            allocated=euros(0),
            grid={},
        )
        session.add(ranking)
        await session.flush()
        replaced = ranking.id
    await session.flush()
    made = {
        "admin": admin,
        "call_id": w.call.id,
        "application_id": reviewed.id,
        "organisation_id": foundation.id,
        "programme_id": w.programme.id,
        **await _after_the_grant(client, session, admin),
        **await _webhooks(client, session, admin),
        **await _documents(session, w.measure.id, w.call.id),
    }
    await _monitoring(session, made["allocation_id"])
    return made


async def _monitoring(session: AsyncSession, allocation_id: uuid.UUID) -> None:
    """More than ROWS funded projects' dates, and ROWS report revisions of the grant whose
    claims are listed."""
    today = clock.today()
    grants = list(await session.scalars(select(Allocation).order_by(Allocation.granted_at)))
    for grant in grants[: ROWS + 1]:
        session.add(
            ProjectSchedule(
                id=uuid.uuid4(),
                allocation_id=grant.id,
                starts_on=today - timedelta(days=100),
                planned_end_on=today - timedelta(days=1),
            )
        )
    for revision in range(1, ROWS + 1):
        session.add(
            MonitoringReport(
                id=uuid.uuid4(),
                allocation_id=allocation_id,
                period=1,
                revision=revision,
                period_start=today,
                period_end=today,
                final=False,
                figures={},
                milestones=[],
                narrative="-",
                narrative_language=NarrativeLanguage.IT,
                status=ReportStatus.PENDING,
                filed_by="test",
            )
        )
    await session.flush()


async def _documents(
    session: AsyncSession, measure_id: uuid.UUID, call_id: uuid.UUID
) -> dict[str, Any]:
    """ROWS documents of the call (their rows: the list reads no file)."""
    kind = await decree_kind(session, measure_id)
    for n in range(ROWS):
        session.add(
            Document(
                id=uuid.uuid4(),
                owner_type=DocumentOwner.CALL,
                owner_id=call_id,
                kind_id=kind.id,
                kind="decree",
                file_name=f"Determinazione {n}.pdf",
                storage_key=f"call/{call_id}/{n}.pdf",
                media_type="application/pdf",
                size_bytes=10,
                sha256=f"{n:064x}",
                uploaded_by="system",
                created_at=datetime.now(UTC) + timedelta(microseconds=n),
            )
        )
    await session.flush()
    return {"documents_owner": {"owner_type": "call", "owner_id": str(call_id)}}


async def _after_the_grant(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> dict[str, Any]:
    """A mixed grant with ROWS claims, payments and loan repayments; a revoked grant's
    recovery with ROWS receipts. Over HTTP, as the administrator (who acts for anyone)."""
    fund = await mixed(session, total=10_000_000, code="LCMIX")
    session.add(PaymentTerms(id=uuid.uuid4(), measure_id=fund.measure.id, **PAYMENT_TERMS))
    fund.call.advance_guarantee_required = False
    await session.flush()
    grant = await funded(session, grant=100_000, world=fund, accept=True, n=70)
    allocation = f"/api/v1/allocations/{grant.allocation.id}"
    loan = await session.scalar(select(Loan).where(Loan.allocation_id == grant.allocation.id))
    assert loan is not None
    loan.starts_on -= timedelta(days=800)  # instalments due, so repayments may be recorded
    for row in await session.scalars(
        select(LoanInstalment).where(LoanInstalment.loan_id == loan.id)
    ):
        row.due_on -= timedelta(days=800)
    await session.flush()
    day = clock.today().isoformat()
    for n in range(ROWS):
        claim = {
            "period_start": clock.day_of(grant.allocation.granted_at).isoformat(),
            "period_end": day,
            "lines": [
                {
                    "cost_category": "staff",
                    "amount": "10.00",
                    "document_reference": f"INV-LC-{n}-{k}",
                    "spent_on": day,
                }
                for k in range(2)
            ],
        }
        await _created(client, f"{allocation}/claims", admin, claim)
        payment = {
            "kind": "advance",
            "amount": "100.00",
            "paid_on": day,
            "treasury_reference": f"MAND-LC-{n}",
        }
        await _created(client, f"{allocation}/payments", admin, payment)
        repayment = {"instalment": n + 1, "amount": "1.00", "paid_on": day}
        await _created(client, f"{allocation}/loan/repayments", admin, repayment)
    revoked = await funded(session, grant=100_000, code="LCREV", accept=True, n=71)
    path = f"/api/v1/allocations/{revoked.allocation.id}"
    advance = {"kind": "advance", "amount": "3000.00", "paid_on": day}
    await _created(client, f"{path}/payments", admin, {**advance, "treasury_reference": "M-R"})
    revoke = await client.post(
        f"{path}/revoke",
        json={"reason": "Revoca dopo pagamento."},
        headers={**admin.headers, "If-Match": "*"},
    )
    assert revoke.status_code == 200, revoke.text
    (recovery,) = await payments_repo.recoveries_of(session, revoked.allocation.id)
    for n in range(ROWS):
        receipt = {"amount": "100.00", "received_on": day, "treasury_reference": f"REV-LC-{n}"}
        await _created(client, f"/api/v1/recoveries/{recovery.id}/receipts", admin, receipt)
    return {"allocation_id": grant.allocation.id, "recovery_id": recovery.id}


async def _webhooks(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> dict[str, Any]:
    """ROWS subscriptions of the administrator; the first with ROWS delivery attempts (as
    the worker logs them)."""
    made = []
    for n in range(ROWS):
        body = {"url": f"http://127.0.0.1:9/hook/{n}", "event_types": ["allocation.granted"]}
        made.append(await _created(client, "/api/v1/webhooks/subscriptions", admin, body))
    first = uuid.UUID(made[0])
    for n in range(ROWS):
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            subscription_id=first,
            sequence=n + 1,
            audit_seq=n + 1,
            event_type="allocation.granted",
            body="{}",
        )
        session.add(delivery)
        await session.flush()
        session.add(
            WebhookAttempt(
                id=uuid.uuid4(),
                delivery_id=delivery.id,
                subscription_id=first,
                sequence=n + 1,
                status_code=500,
                latency_ms=3,
            )
        )
    await session.flush()
    return {"subscription_id": first}


async def _created(client: httpx.AsyncClient, path: str, actor: Actor, body: dict[str, Any]) -> str:
    headers = {**actor.headers, "Idempotency-Key": uuid.uuid4().hex}
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, f"{path}: {response.text}"
    return str(response.json()["id"])


def list_paths(app: FastAPI) -> set[str]:
    """Every GET whose 200 body is a page (``items`` and ``next_cursor``)."""
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    found = set()
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        content = get["responses"].get("200", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        properties = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if {"items", "next_cursor"} <= set(properties):
            found.add(path)
    return found


LISTS = {
    "/api/v1/programmes",
    "/api/v1/measures",
    "/api/v1/calls",
    "/api/v1/calls/{call_id}/rankings",
    "/api/v1/districts",
    "/api/v1/organisations",
    "/api/v1/partnerships",
    "/api/v1/applications",
    "/api/v1/applications/{application_id}/reviews",
    "/api/v1/allocations",
    "/api/v1/organisations/{organisation_id}/pledges",
    "/api/v1/organisations/{organisation_id}/state-aid-declarations",
    "/api/v1/organisations/{organisation_id}/invitations",
    "/api/v1/transparency/grants",
    "/api/v1/audit-events",
    "/api/v1/audit/checkpoints",
    "/api/v1/users",
    "/api/v1/clients",
    "/api/v1/allocations/{allocation_id}/claims",
    "/api/v1/allocations/{allocation_id}/payments",
    "/api/v1/allocations/{allocation_id}/loan/repayments",
    "/api/v1/recoveries/{recovery_id}/receipts",
    "/api/v1/webhooks/subscriptions",
    "/api/v1/webhooks/subscriptions/{subscription_id}/attempts",
    "/api/v1/documents",
    "/api/v1/allocations/{allocation_id}/monitoring-reports",
    "/api/v1/project-dates",
}
# Lists that name their owner in the query string: the world's parameters for them.
OWNER_QUERIES = {"/api/v1/documents": "documents_owner"}


def test_every_list_is_measured(app: FastAPI) -> None:
    assert list_paths(app) == LISTS


async def test_queries_do_not_grow_with_the_page_size(
    client: httpx.AsyncClient, connection: AsyncConnection, world: dict[str, Any]
) -> None:
    """One world for all the lists (building it costs more than measuring them)."""
    wrong = []
    for template in sorted(LISTS):
        path = template.format(**world)
        costs, sizes = [], []
        for limit in (1, 3, 100):
            with counting(connection) as statements:
                owner = world[OWNER_QUERIES[template]] if template in OWNER_QUERIES else {}
                response = await client.get(
                    path, params={**owner, "limit": limit}, headers=world["admin"].headers
                )
            assert response.status_code == 200, f"{path}: {response.text}"
            sizes.append(len(response.json()["items"]))
            costs.append(len(queries(statements)))
        if sizes[0] != 1 or sizes[1] != 3 or sizes[2] < ROWS:
            wrong.append(f"{template}: page sizes {sizes} (arrange more rows)")
        if len(set(costs)) != 1:
            wrong.append(f"{template}: statements {costs} for limits 1, 3, 100")
    assert wrong == []
