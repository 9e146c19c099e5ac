"""Schemathesis over every operation of the app, in process, with a fixed seed.

The bar: no server error and no unhandled exception on any generated input, and responses
that match the OpenAPI document (status codes, content types, headers, schemas). Requests
carry an administrator's token so that the deepest paths are reached; the database is a
fresh SQLite file, migrated and seeded with the WECARE programme and one row of every
resource before the first case. Random ids only ever reach a 404 and random If-Match values
a 412, so about half of the cases (chosen from the generated values, so the run stays
deterministic) address the existing rows, and half of those carry the resource's current
ETag: the generated bodies then reach the services' rules and writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import missing_required_header, positive_data_acceptance
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import FIRST_PARTY_CLIENT_ID, ROLE_SCOPES, Principal, Role
from app.core.config import Settings
from app.core.domain import (
    ApplicationStatus,
    DeclarationKind,
    DocumentOwner,
    Instrument,
    LegalNature,
    MemberRole,
    MemberStatus,
    PartnershipForm,
    PaymentKind,
    PledgeStatus,
)
from app.core.storage import storage_for
from app.db import migrations
from app.db.session import Database, create_engine
from app.main import create_app
from app.models import (
    Document,
    Partnership,
    PartnershipMember,
    PaymentTerms,
    Pledge,
    Ranking,
    Review,
    StateAidDeclaration,
)
from app.repositories import payments as payments_repo
from app.schemas.application import AllocationCreate
from app.schemas.payment import AcceptanceRequest, ClaimCreate, ClaimLineCreate, PaymentCreate
from app.schemas.webhook import WebhookSubscriptionCreate
from app.services import payments, webhooks
from app.services.allocations import grant_allocation, revoke_allocation
from app.services.checkpoints import create_checkpoint
from app.services.clients import register_client
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from app.services.tokens import issue_token
from app.services.users import create_user
from tests import ENGLISH
from tests.actors import make_organisation, tax_code
from tests.world import (
    GRID,
    MIXED_TERMS,
    PAYMENT_TERMS,
    approved,
    budget,
    decree_kind,
    district,
    euros,
    first_come_in_line,
    project_code,
    with_grid,
)

EXAMPLES_PER_OPERATION = 15
# Logging out revokes the token it is called with: each logout case gets a token of its own,
# or every case after it would only meet 401s (as happened until this was noticed).
LOGOUT = "/api/v1/auth/logout"
SPARE_TOKENS = 3 * EXAMPLES_PER_OPERATION
_SPARE: list[str] = []
# positive_data_acceptance: a request the document allows must be accepted (2xx, or 401,
# 403, 404, 409, 429). What may still refuse one is listed here, each for a reason the
# document cannot state. Validation that JSON Schema cannot express: cross-field rules
# (value_error: an end before its start, requested above the total cost) and check digits
# (a tax code or VAT number of the right form whose control character is wrong).
# And a string of whitespace only ("\u0085"): it meets minLength, but request bodies strip
# their strings (app.schemas.common.Input), and empty it is too short; a schema-valid body can
# be refused with string_too_short for no other reason.
BEYOND_JSON_SCHEMA = {"value_error", "invalid_tax_code", "invalid_vat_number", "string_too_short"}
# Rules of the programme that answer 422 to well-formed data: they judge it against the
# rows it names, which a schema cannot know.
RULES_ON_THE_DATA = {
    # the project against its measure: district, legal nature, amounts per line
    "eligibility",
    # a grant above what its application asked for
    "allocation_exceeds_request",
    # the user named as a reviewer holds another role
    "not_a_reviewer",
    # an Idempotency-Key already used with another body
    "idempotency_key_reused",
    # a repayment's value date against its loan's start and today
    "repayment_date_out_of_range",
    # the region answers an invitation for an organisation only with a reason: the body is
    # optional for the organisation's own users, and a schema cannot vary by caller
    "reason_required",
    # after the grant (issue 16): a claim's cost categories and dates against its measure
    # and project, a date against the grant and today, a cut against its line
    "unknown_cost_category",
    "outside_project_period",
    "date_out_of_range",
    "cut_not_below_amount",
    # a webhook URL against where the service calls (no private, loopback in production,
    # link-local or metadata address): a schema names the scheme, not what a host is
    "webhook_url_refused",
}


def excused(response: httpx.Response | Any) -> str | None:
    """Why a refusal of data the document allows is not the document's fault, or None."""
    if response.status_code == 412:
        # A generated If-Match is a well-formed entity tag, not the current one (half of
        # the cases that address a real row send the current one: _aim_at_the_world).
        return "stale If-Match"
    if response.status_code != 422:
        return None
    body = response.json()
    rule = body.get("rule")
    if rule == "validation_error":
        kinds = {error["type"] for error in body["errors"]}
        return "beyond JSON Schema" if kinds <= BEYOND_JSON_SCHEMA else None
    if rule == "invalid_input" and {"min_amount", "max_amount"} <= body.keys():
        # A range whose two bounds are each valid, the minimum above the maximum.
        return "a cross-field rule"
    if rule == "invalid_input" and {"requested", "total_cost"} <= body.keys():
        # A draft's change whose request, each field valid, exceeds its total cost.
        return "a cross-field rule"
    if rule == "invalid_input" and body.get("parameter") == "cursor":
        # The document gives a cursor's form (unpadded base64url); only the list's own
        # cursors name a position in it, and no pattern can tell them apart.
        return "a cursor of the right form that the list never issued"
    return rule if rule in RULES_ON_THE_DATA else None


_DIRECTORY = Path(tempfile.mkdtemp(prefix="wecare-fuzz-"))
SETTINGS = Settings(
    database_url=f"sqlite+aiosqlite:///{_DIRECTORY / 'fuzz.sqlite3'}",
    document_dir=_DIRECTORY / "documents",
    auth_failure_delay_seconds=0,  # refused credentials are answered at once
)
# The synchronous test client runs each request on a new event loop: no connection pooling.
APP = create_app(SETTINGS, Database(create_engine(SETTINGS, pooled=False)))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Every case carries an administrator's token (below): a generated Authorization header
# would be replaced by it, and a "bad" one then accepted (negative_data_rejection).
schema.config.generation.update(with_security_parameters=False)


async def _world(session: Any) -> dict[str, str]:
    """One row of every resource, consistent with each other: their ids by path parameter."""
    w = await budget(session, total=10_000_000, code="FUZZ")
    # A mixed instrument: the allocation below has a loan, so its schedule and repayments
    # reach a row (and its revocation meets loan_repaid_in_part once one is recorded).
    w.measure.instrument = Instrument.MIXED
    w.measure.loan_terms = dict(MIXED_TERMS)
    area = await district(session, w, 1)
    funded = await approved(session, w, requested=50_000, n=1)
    reviewed = await approved(
        session, w, requested=50_000, n=2, status=ApplicationStatus.UNDER_REVIEW
    )
    officer = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)
    allocation = await grant_allocation(
        session,
        data=AllocationCreate(application_id=funded.id, amount="40000.00"),  # type: ignore[arg-type]
        principal=officer,
    )
    # After the grant (issue 16): full payment terms, the grant accepted, a submitted claim
    # and an advance, so that the funding, claim, line and payment paths reach rows.
    allocation.cup = project_code()  # payments require the project's CUP
    session.add(PaymentTerms(id=uuid.uuid4(), measure_id=w.measure.id, **PAYMENT_TERMS))
    w.call.advance_guarantee_required = False
    await session.flush()
    admin = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)
    today = clock.today()
    await payments.accept_grant(
        session, allocation, data=AcceptanceRequest(accepted_on=today), principal=admin
    )
    claim = await payments.file_claim(
        session,
        allocation,
        data=ClaimCreate(
            period_start=today,
            period_end=today,
            lines=[
                ClaimLineCreate(
                    cost_category="staff",
                    amount=Decimal("1000.00"),
                    document_reference="INV-1",
                    spent_on=today,
                )
            ],
        ),
        principal=admin,
    )
    await payments.submit_claim(session, claim, principal=admin)
    payment = await payments.make_payment(
        session,
        allocation,
        data=PaymentCreate(
            kind=PaymentKind.ADVANCE,
            amount=Decimal("100.00"),
            paid_on=today,
            treasury_reference="MAND-FUZZ-1",
        ),
        principal=officer,
    )
    # Revocation after payment: a second grant, accepted, paid and revoked, so that its
    # recovery's read and receipts reach a row.
    repaid = await approved(session, w, requested=10_000, n=3)
    second = await grant_allocation(
        session,
        data=AllocationCreate(application_id=repaid.id, amount="10000.00"),  # type: ignore[arg-type]
        principal=officer,
    )
    second.cup = project_code()
    await payments.accept_grant(
        session, second, data=AcceptanceRequest(accepted_on=today), principal=admin
    )
    await payments.make_payment(
        session,
        second,
        data=PaymentCreate(
            kind=PaymentKind.ADVANCE,
            amount=Decimal("1000.00"),
            paid_on=today,
            treasury_reference="MAND-FUZZ-2",
        ),
        principal=officer,
    )
    await revoke_allocation(session, second, reason="Revoca dopo pagamento.", principal=admin)
    (recovery,) = await payments_repo.recoveries_of(session, second.id)
    reviewer = await create_user(
        session,
        email="reviewer@example.org",
        display_name="Reviewer",
        password="p" * 16,
        role=Role.REVIEWER,
        organisation_ids=[],
    )
    await with_grid(session, w.call)  # scores reach the grid's checks
    review = Review(
        id=uuid.uuid4(),
        application_id=reviewed.id,
        reviewer_id=reviewer.id,
        conflict_declared_at=datetime.now(UTC),
    )
    foundation = await make_organisation(
        session, name="Fondazione", tax_code=tax_code(990), nature=LegalNature.FOUNDATION
    )
    partnership = Partnership(id=uuid.uuid4(), name="ATS", form=PartnershipForm.ATS_FORMED)
    pledge = Pledge(
        id=uuid.uuid4(),
        organisation_id=foundation.id,
        call_id=w.call.id,
        amount=euros(1_000_000),
        status=PledgeStatus.ACTIVE,
    )
    # A published version of the call's ranking (none ranked yet), so its reads reach a row.
    ranking = Ranking(
        id=uuid.uuid4(),
        call_id=w.call.id,
        version=1,
        decree_reference="DD 1/2026",
        decree_date=date(2026, 12, 1),
        published_at=datetime.now(UTC),
        budget=w.call.budget,
        allocated=w.call.allocated,
        grid=GRID,
    )
    # A declaration of the foundation's, so the declaration's read reaches a row.
    declaration = StateAidDeclaration(
        id=uuid.uuid4(),
        organisation_id=foundation.id,
        kind=DeclarationKind.LINKED_UNDERTAKING,
        linked_tax_code=tax_code(991),
        declared_by="user:fuzz",
    )
    session.add_all([review, partnership, pledge, ranking, declaration])
    await session.flush()
    session.add(
        PartnershipMember(
            partnership_id=partnership.id,
            organisation_id=foundation.id,
            role=MemberRole.LEAD,
            status=MemberStatus.ACCEPTED,
        )
    )
    partner = await register_client(
        session,
        settings=SETTINGS,
        name="Fondazione",
        scopes=["pledges:read"],
        organisation_id=foundation.id,
    )
    hook = await webhooks.create_subscription(
        session,
        Principal(kind="client", id=partner.client.id, scopes=frozenset({"webhooks:write"})),
        settings=SETTINGS,
        data=WebhookSubscriptionCreate(
            url="https://127.0.0.1:9/hook", event_types=["call.published"]
        ),
    )
    # A signed checkpoint, so that the newest is a 200 and the list has a page to walk.
    await create_checkpoint(session, secret=SETTINGS.secret, issuer=SETTINGS.issuer)
    in_line = await first_come_in_line(session)  # submissions reach the reservations and list
    decree = await _decree(session, w.measure.id, w.call.id)
    await session.flush()
    ids = {
        "programme_id": w.programme.id,
        "measure_id": w.measure.id,
        "call_id": w.call.id,
        "district_id": area.id,
        "organisation_id": foundation.id,
        "partnership_id": partnership.id,
        "application_id": in_line.id,
        "review_id": review.id,
        "allocation_id": allocation.id,
        "pledge_id": pledge.id,
        "declaration_id": declaration.id,
        "user_id": reviewer.id,
        "client_id": partner.client.id,
        "version": ranking.version,
        "claim_id": claim.id,
        "line_number": 1,
        "payment_id": payment.id,
        "recovery_id": recovery.id,
        "subscription_id": hook.id,
        "document_id": decree.id,
    }
    return {name: str(value) for name, value in ids.items()}


async def _decree(session: AsyncSession, measure_id: uuid.UUID, call_id: uuid.UUID) -> Document:
    """A call's decree, stored, so that reads and downloads reach a real file."""
    kind = await decree_kind(session, measure_id)
    data = b"%PDF-1.7\n" + b"0" * 4000
    document = Document(
        id=uuid.uuid4(),
        owner_type=DocumentOwner.CALL,
        owner_id=call_id,
        kind_id=kind.id,
        kind=kind.code,
        file_name="Determinazione n. 1.pdf",
        storage_key=f"call/{call_id}/decree.pdf",
        media_type="application/pdf",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by="system",
        created_at=datetime.now(UTC),
    )
    session.add(document)
    writer = await storage_for(SETTINGS).writer(document.storage_key, document.media_type)
    await writer.write(data)
    await writer.commit()
    return document


async def _prepare() -> tuple[str, dict[str, str]]:
    """Migrate, seed, create an administrator and the world; return its token and the ids."""
    database = Database(create_engine(SETTINGS))
    try:
        await migrations.upgrade(database.engine)
        async with database.session(write=True) as session:
            await load_reference_data(session, read_reference_file(WECARE_FILE))
            admin = await create_user(
                session,
                email="fuzz@example.org",
                display_name="Fuzz",
                password="p" * 16,
                role=Role.ADMINISTRATOR,
                organisation_ids=[],
            )
            issued = await issue_token(
                session,
                SETTINGS,
                subject=str(admin.id),
                client_id=FIRST_PARTY_CLIENT_ID,
                scopes=ROLE_SCOPES[Role.ADMINISTRATOR],
            )
            ids = await _world(session)
            for _ in range(SPARE_TOKENS):
                spare = await issue_token(
                    session,
                    SETTINGS,
                    subject=str(admin.id),
                    client_id=FIRST_PARTY_CLIENT_ID,
                    scopes=ROLE_SCOPES[Role.ADMINISTRATOR],
                )
                _SPARE.append(spare.access_token)
        return issued.access_token, ids
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def prepared() -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    # Its own thread and event loop: the test session's loop may be running.
    with ThreadPoolExecutor(1) as pool:
        token, ids = pool.submit(asyncio.run, _prepare()).result()
    yield {"Authorization": f"Bearer {token}"}, ids
    shutil.rmtree(_DIRECTORY, ignore_errors=True)


def _takes_if_match(case: schemathesis.Case[Any]) -> bool:
    parameters = case.operation.definition.raw.get("parameters", [])
    return any(p.get("in") == "header" and p.get("name") == "If-Match" for p in parameters)


def _aim_at_the_world(
    case: schemathesis.Case[Any], headers: dict[str, str], ids: dict[str, str]
) -> None:
    """For about half of the cases, the existing rows instead of random ids, and for about
    half of those the resource's current ETag instead of a random If-Match."""
    params = dict(case.path_parameters or {})
    if not params or not set(params) <= set(ids):
        return
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).digest()
    if digest[0] % 2:
        return
    case.path_parameters = {name: ids[name] for name in params}
    if not case.headers or "If-Match" not in case.headers or digest[1] % 2:
        return
    path = case.formatted_path
    if case.method.upper() == "POST":  # an action: its resource is the path above it
        path = path.rsplit("/", 1)[0]
    etag = asyncio.run(_current_etag(path, headers))
    if etag is not None:
        case.headers["If-Match"] = etag


async def _current_etag(path: str, headers: dict[str, str]) -> str | None:
    transport = httpx.ASGITransport(app=APP)  # no lifespan: the app stays up
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        read = await client.get(path, headers=headers)
    etag: str | None = read.headers.get("etag")
    return etag


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_holds_under_generated_input(
    case: schemathesis.Case[Any], prepared: tuple[dict[str, str], dict[str, str]]
) -> None:
    admin_headers, ids = prepared
    if case.path == LOGOUT:
        admin_headers = {"Authorization": f"Bearer {_SPARE.pop()}"}
    _aim_at_the_world(case, admin_headers, ids)
    # missing_required_header expects 400/401/403/406/415/422 when a required header is left
    # out; the one required header here is If-Match, whose absence is 428 Precondition
    # Required (RFC 6585), asserted below instead.
    response = case.call_and_validate(
        headers=admin_headers, excluded_checks=[positive_data_acceptance, missing_required_header]
    )
    if case.headers is not None and "If-Match" not in case.headers and _takes_if_match(case):
        assert response.status_code >= 400, "a change without If-Match went through"
    if excused(response) is None:
        case.validate_response(response, checks=[positive_data_acceptance])
