"""The public register of funded projects (D.lgs. 33/2013 art. 26-27) and its exports.

Grants are made over HTTP by an officer, then their award instants are moved to known
days, so the counters always agree with the allocations.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.config import Settings
from app.core.domain import (
    ApplicationStage,
    ApplicationStatus,
    LegalNature,
    PartnershipForm,
    SelectionMethod,
)
from app.models import Allocation, Application, Call
from app.schemas.transparency import CSV_HEADER
from app.services import transparency as transparency_service
from tests.actors import Actor, make_organisation, tax_code
from tests.api.v1.flows import Api, allocate
from tests.statements import counting, queries
from tests.world import Budget, budget
from tests.world import partnership as formed_partnership

GRANTS = "/api/v1/transparency/grants"
STANDARD = Path(__file__).parents[2] / "data" / "standards" / "360giving"
# The package schema names the grant schema by its 1.4.2 address; the file is 1.4.3.
PACKAGE_GRANT_REF = (
    "https://raw.githubusercontent.com/ThreeSixtyGiving/standard/1.4.2/schema/"
    "360-giving-schema.json"
)
PERSONAL_CODE = "RSSMRA85T10A562S"  # a valid codice fiscale of a natural person


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    """The 360Giving package schema as published, Draft 2020-12, formats checked, offline."""
    grant = json.loads((STANDARD / "360-giving-schema.json").read_text(encoding="utf-8"))
    package = json.loads((STANDARD / "360-giving-package-schema.json").read_text(encoding="utf-8"))
    grant_resource = DRAFT202012.create_resource(grant)
    registry: Registry[Any] = Registry().with_resources(
        [
            (grant["$id"], grant_resource),
            (PACKAGE_GRANT_REF, grant_resource),
            (package["$id"], DRAFT202012.create_resource(package)),
        ]
    )
    Draft202012Validator.check_schema(package)
    Draft202012Validator.check_schema(grant)
    return Draft202012Validator(
        package, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def errors_of(validator: Draft202012Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


async def project(
    session: AsyncSession,
    world: Budget,
    *,
    title: str,
    requested: int,
    organisation_id: uuid.UUID | None = None,
    partnership_id: uuid.UUID | None = None,
) -> Application:
    application = Application(
        id=uuid.uuid4(),
        call_id=world.call.id,
        measure_id=world.measure.id,
        applicant_organisation_id=organisation_id,
        partnership_id=partnership_id,
        title=title,
        description=f"Descrizione di {title}",
        total_cost=Decimal(requested),
        requested=Decimal(requested),
        stage=ApplicationStage.SINGLE,
        status=ApplicationStatus.APPROVED,
    )
    session.add(application)
    await session.flush()
    return application


async def grant(
    client: httpx.AsyncClient,
    session: AsyncSession,
    officer: Actor,
    application: Application,
    amount: str,
    awarded: str,
) -> str:
    """Grant over HTTP, then date the award (``awarded`` is an ISO instant)."""
    allocation_id = await allocate(client, officer, application.id, amount)
    await session.execute(
        update(Allocation)
        .where(Allocation.id == uuid.UUID(allocation_id))
        .values(granted_at=datetime.fromisoformat(awarded))
    )
    return allocation_id


@dataclass
class Register:
    world: Budget
    other: Budget
    entity: str  # a cooperative: legal-entity tax code
    person: str  # a sole trader: personal tax code
    partnership: str  # a partnership led by a consortium
    revoked: str
    elsewhere: str  # in another programme
    entity_code: str
    lead_code: str


@pytest.fixture
async def register(client: httpx.AsyncClient, session: AsyncSession, officer: Actor) -> Register:
    world = await budget(session, total=1_000_000, code="TR")
    await session.execute(
        update(Call)
        .where(Call.id == world.call.id)
        .values(selection_method=SelectionMethod.FIRST_COME)
    )
    entity_code, lead_code = tax_code(701), tax_code(702)
    coop = await make_organisation(session, name="Cooperativa Aurora", tax_code=entity_code)
    person = await make_organisation(
        session, name="Mario Rossi", tax_code=PERSONAL_CODE, nature=LegalNature.ENTERPRISE
    )
    lead = await make_organisation(session, name="Consorzio Monviso", tax_code=lead_code)
    partner = await make_organisation(session, name="Volontari Uniti", tax_code=tax_code(703))
    ats = await formed_partnership(
        session, lead, partner, form=PartnershipForm.ATS_FORMED, name="ATS Val Pellice"
    )
    a = await project(
        session, world, title="Orti sociali", requested=5_000, organisation_id=coop.id
    )
    b = await project(
        session, world, title="Bottega solidale", requested=3_000, organisation_id=person.id
    )
    c = await project(
        session, world, title="Welfare di valle", requested=90_000, partnership_id=ats.id
    )
    d = await project(session, world, title="Revocato", requested=7_000, organisation_id=coop.id)
    entity = await grant(client, session, officer, a, "1234.50", "2024-01-10T09:00:00+00:00")
    personal = await grant(client, session, officer, b, "3000.00", "2024-02-15T23:30:00+00:00")
    partnership = await grant(client, session, officer, c, "90000.00", "2024-03-20T08:00:00+00:00")
    revoked = await grant(client, session, officer, d, "7000.00", "2024-01-05T08:00:00+00:00")
    await Api(client).act(
        f"/api/v1/allocations/{revoked}", "revoke", officer, json={"reason": "rinuncia"}
    )
    other = await budget(session, total=500_000, code="TR2")
    e = await project(session, other, title="Altrove", requested=500, organisation_id=coop.id)
    elsewhere = await grant(client, session, officer, e, "500.00", "2024-04-01T08:00:00+00:00")
    return Register(
        world, other, entity, personal, partnership, revoked, elsewhere, entity_code, lead_code
    )


async def listed(client: httpx.AsyncClient, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"{GRANTS}?limit=100{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


class TestRegister:
    async def test_active_grants_are_published_with_what_the_law_asks(
        self, client: httpx.AsyncClient, register: Register, settings: Settings
    ) -> None:
        items = await listed(client)
        assert [i["id"] for i in items] == [
            register.entity,
            register.person,
            register.partnership,
            register.elsewhere,
        ]
        world = register.world
        assert items[0] == {
            "id": register.entity,
            "beneficiary_name": "Cooperativa Aurora",
            "beneficiary_tax_code": register.entity_code,
            "partnership_name": None,
            "amount": "1234.50",
            "amount_paid": "0.00",
            "currency": "EUR",
            "legal_basis": {
                "programme_code": "TR-PROG",
                "programme_name": "Prova",
                "legal_basis": "Prova",
                "measure_code": "TR-M",
                "measure_title": "Misura",
                "call_code": "TR-CALL",
                "call_title": "Bando",
            },
            "responsible_office": "Ufficio",
            "selection_method": "first_come",
            "award_date": "2024-01-10",
            "project_title": "Orti sociali",
            "cup": None,
            "programme_id": str(world.programme.id),
            "measure_id": str(world.measure.id),
            "call_id": str(world.call.id),
            "url": f"{settings.issuer}/api/v1/transparency/grants/{register.entity}",
        }

    async def test_the_record_link_serves_the_same_grant(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        items = await listed(client)
        path = httpx.URL(items[2]["url"]).path
        one = await client.get(path)
        assert one.status_code == 200
        assert one.json() == items[2]

    async def test_revoked_allocations_are_never_published(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        assert register.revoked not in {i["id"] for i in await listed(client)}
        revoked = await client.get(f"{GRANTS}/{register.revoked}")
        assert revoked.status_code == 404
        assert revoked.headers["content-type"] == "application/problem+json"
        unknown = await client.get(f"{GRANTS}/{uuid.uuid4()}")
        assert unknown.status_code == 404
        assert unknown.json()["rule"] == "not_found"
        exported = (await client.get(f"{GRANTS}.csv")).text
        assert register.revoked not in exported
        package = (await client.get(f"{GRANTS}.360giving.json")).text
        assert register.revoked not in package

    async def test_personal_tax_codes_never_appear_legal_entities_do(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        items = {i["id"]: i for i in await listed(client)}
        assert items[register.person]["beneficiary_name"] == "Mario Rossi"
        assert items[register.person]["beneficiary_tax_code"] is None
        assert items[register.entity]["beneficiary_tax_code"] == register.entity_code
        assert items[register.partnership]["beneficiary_tax_code"] == register.lead_code
        for path in (
            GRANTS,
            f"{GRANTS}/{register.person}",
            f"{GRANTS}.csv",
            f"{GRANTS}.360giving.json",
            f"/api/v1/programmes/{register.world.programme.id}/report",
        ):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert PERSONAL_CODE not in response.text.upper(), path
            assert PERSONAL_CODE.lower() not in response.text.lower(), path

    async def test_a_partnership_is_published_under_its_lead(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        body = (await client.get(f"{GRANTS}/{register.partnership}")).json()
        assert (body["beneficiary_name"], body["partnership_name"]) == (
            "Consorzio Monviso",
            "ATS Val Pellice",
        )

    async def test_anyone_may_read_and_a_bad_token_is_still_refused(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        """Anonymous reads are 200; a presented token is checked as on every public route
        (tests/api/test_public_routes.py)."""
        junk = {"Authorization": "Bearer not-a-token"}
        paths = (GRANTS, f"{GRANTS}/{register.entity}", f"{GRANTS}.csv", f"{GRANTS}.360giving.json")
        for path in paths:
            assert (await client.get(path)).status_code == 200, path
            assert (await client.get(path, headers=junk)).status_code == 401, path

    async def test_the_award_date_is_the_italian_day(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        """Granted at 23:30 UTC on 15 February: 00:30 on the 16th in Turin, the act's day."""
        body = (await client.get(f"{GRANTS}/{register.person}")).json()
        assert body["award_date"] == "2024-02-16"


class TestFilters:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("", ["entity", "person", "partnership", "elsewhere"]),
            ("&q=aurora", ["entity", "elsewhere"]),
            ("&q=MONVISO", ["partnership"]),
            ("&q=pellice", ["partnership"]),
            ("&q=%25", []),
            # "person" was granted at 23:30 UTC on 15 February: the 16th in Turin.
            ("&awarded_from=2024-02-16", ["person", "partnership", "elsewhere"]),
            ("&awarded_from=2024-02-17", ["partnership", "elsewhere"]),
            ("&awarded_to=2024-02-15", ["entity"]),
            ("&awarded_to=2024-02-16", ["entity", "person"]),
            ("&awarded_from=2024-02-17&awarded_to=2024-03-20", ["partnership"]),
            ("&min_amount=1234.50", ["entity", "person", "partnership"]),
            ("&min_amount=1234.51", ["person", "partnership"]),
            ("&max_amount=3000", ["entity", "person", "elsewhere"]),
            ("&min_amount=1000&max_amount=3000.00", ["entity", "person"]),
            (
                "&awarded_from=0001-01-01&awarded_to=9999-12-31",
                ["entity", "person", "partnership", "elsewhere"],
            ),
        ],
    )
    async def test_query_filters(
        self, client: httpx.AsyncClient, register: Register, query: str, expected: list[str]
    ) -> None:
        ids = [i["id"] for i in await listed(client, query)]
        assert ids == [getattr(register, name) for name in expected]

    async def test_programme_measure_and_call(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        other = register.other
        for name, value in (
            ("programme_id", other.programme.id),
            ("measure_id", other.measure.id),
            ("call_id", other.call.id),
        ):
            assert [i["id"] for i in await listed(client, f"&{name}={value}")] == [
                register.elsewhere
            ]
        mine = await listed(client, f"&call_id={register.world.call.id}")
        assert len(mine) == 3

    @pytest.mark.parametrize(
        "query",
        [
            "awarded_from=2024-03-01&awarded_to=2024-02-01",
            "min_amount=10&max_amount=9.99",
            "min_amount=1.001",
            "awarded_from=2024-13-01",
            "programme_id=nope",
            "q=a%00b",
            "awarded_to=0",
            "awarded_from=20240101",
        ],
    )
    async def test_bad_filters_are_422_problems(
        self, client: httpx.AsyncClient, query: str
    ) -> None:
        for path in (GRANTS, f"{GRANTS}.csv", f"{GRANTS}.360giving.json"):
            response = await client.get(f"{path}?{query}")
            assert response.status_code == 422, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"


class TestPagination:
    async def test_a_cursor_walks_the_register_in_award_order(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            url = f"{GRANTS}?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(url)).json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 2
        assert seen == [register.entity, register.person, register.partnership, register.elsewhere]

    async def test_the_cursor_keeps_the_filters_company(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        first = (await client.get(f"{GRANTS}?limit=1&q=aurora")).json()
        assert [i["id"] for i in first["items"]] == [register.entity]
        second = await client.get(f"{GRANTS}?limit=1&q=aurora&cursor={first['next_cursor']}")
        assert [i["id"] for i in second.json()["items"]] == [register.elsewhere]
        assert second.json()["next_cursor"] is None

    async def test_a_forged_cursor_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{GRANTS}?cursor=bm9wZQ")
        assert response.status_code == 422
        assert response.json()["rule"] == "invalid_input"


class TestQueryCost:
    async def test_one_statement_per_page_whatever_its_size(
        self, client: httpx.AsyncClient, register: Register, connection: AsyncConnection
    ) -> None:
        costs = []
        for limit in (1, 2, 100):
            with counting(connection) as statements:
                response = await client.get(f"{GRANTS}?limit={limit}&q=o")
            assert response.status_code == 200
            costs.append(len(queries(statements)))
        assert costs == [1, 1, 1], costs


class TestCsv:
    async def test_header_rows_decimal_point_and_iso_dates(
        self, client: httpx.AsyncClient, register: Register, settings: Settings
    ) -> None:
        response = await client.get(f"{GRANTS}.csv")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="wecare-grants.csv"'
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
        assert tuple(rows[0]) == CSV_HEADER
        records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        assert [r["id"] for r in records] == [
            register.entity,
            register.person,
            register.partnership,
            register.elsewhere,
        ]
        first = records[0]
        assert first["amount"] == "1234.50"
        assert first["award_date"] == "2024-01-10"
        assert first["beneficiary_tax_code"] == register.entity_code
        assert first["selection_method"] == "first_come"
        assert first["url"] == f"{settings.issuer}/api/v1/transparency/grants/{register.entity}"
        assert records[1]["beneficiary_tax_code"] == ""
        assert records[2]["partnership_name"] == "ATS Val Pellice"
        assert records[2]["amount"] == "90000.00"

    async def test_filters_apply_and_an_empty_export_keeps_its_header(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        rows = list(csv.reader(io.StringIO((await client.get(f"{GRANTS}.csv?q=pellice")).text)))
        assert [r[0] for r in rows[1:]] == [register.partnership]
        empty = await client.get(f"{GRANTS}.csv?awarded_from=2030-01-01")
        assert empty.status_code == 200
        assert list(csv.reader(io.StringIO(empty.text))) == [list(CSV_HEADER)]

    async def test_every_batch_is_streamed_once_in_order(
        self,
        client: httpx.AsyncClient,
        register: Register,
        connection: AsyncConnection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(transparency_service, "EXPORT_BATCH", 1)
        with counting(connection) as statements:
            response = await client.get(f"{GRANTS}.csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert [r[0] for r in rows[1:]] == [
            register.entity,
            register.person,
            register.partnership,
            register.elsewhere,
        ]
        # One keyset query per batch (each fetches a row more, to know whether one follows).
        assert len(queries(statements)) == 4


class Test360Giving:
    async def test_the_package_validates_against_the_standard(
        self,
        client: httpx.AsyncClient,
        register: Register,
        validator: Draft202012Validator,
        settings: Settings,
    ) -> None:
        response = await client.get(f"{GRANTS}.360giving.json")
        assert response.status_code == 200
        package = response.json()
        assert errors_of(validator, package) == []
        assert package["version"] == "1.4"
        assert package["license"] == "https://creativecommons.org/licenses/by/4.0/"
        assert package["publisher"]["name"] == "Regione Piemonte"
        grants = {g["id"]: g for g in package["grants"]}
        assert set(grants) == {
            f"360G-wecare-{a}"
            for a in (register.entity, register.person, register.partnership, register.elsewhere)
        }
        entity = grants[f"360G-wecare-{register.entity}"]
        assert entity["amountAwarded"] == 1234.5
        assert isinstance(entity["amountAwarded"], float)
        assert entity["awardDate"] == "2024-01-10"
        assert entity["currency"] == "EUR"
        assert entity["title"] == "Orti sociali"
        assert entity["description"] == "Descrizione di Orti sociali"
        assert entity["recipientOrganization"] == [
            {"id": f"IT-CF-{register.entity_code}", "name": "Cooperativa Aurora"}
        ]
        assert entity["fundingOrganization"] == [
            {"id": "IT-CF-80087670016", "name": "Regione Piemonte"}
        ]
        assert entity["grantProgramme"] == [{"code": "TR-CALL", "title": "Bando"}]
        assert entity["url"] == f"{settings.issuer}/api/v1/transparency/grants/{register.entity}"
        assert "plannedDates" not in entity  # the model holds no project dates
        person = grants[f"360G-wecare-{register.person}"]
        assert person["recipientOrganization"][0]["id"].startswith("360G-wecare-org-")
        partnership = grants[f"360G-wecare-{register.partnership}"]
        assert partnership["amountAwarded"] == 90000.0
        assert partnership["recipientOrganization"] == [
            {"id": f"IT-CF-{register.lead_code}", "name": "Consorzio Monviso"}
        ]

    async def test_amounts_are_the_exact_decimal_figures(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        package = (await client.get(f"{GRANTS}.360giving.json")).json()
        listed_amounts = {i["id"]: Decimal(i["amount"]) for i in await listed(client)}
        for g in package["grants"]:
            allocation_id = g["id"].removeprefix("360G-wecare-")
            assert Decimal(repr(g["amountAwarded"])) == listed_amounts[allocation_id]

    async def test_filters_and_download_url(
        self, client: httpx.AsyncClient, register: Register, validator: Draft202012Validator
    ) -> None:
        package = (await client.get(f"{GRANTS}.360giving.json?q=pellice")).json()
        assert [g["id"] for g in package["grants"]] == [f"360G-wecare-{register.partnership}"]
        assert package["downloadURL"].endswith(
            "/api/v1/transparency/grants.360giving.json?q=pellice"
        )
        assert errors_of(validator, package) == []

    @pytest.mark.parametrize(
        ("breakage", "path"),
        [
            ("drop awardDate", "grants/0"),
            ("amount as string", "grants/0/amountAwarded"),
            ("award date not a date", "grants/0/awardDate"),
            ("no recipient", "grants/0/recipientOrganization"),
            ("currency", "grants/0/currency"),
            ("issued not a date-time", "issued"),
            ("url not a URI", "grants/0/url"),
            ("no grants", "grants"),
        ],
    )
    async def test_a_broken_package_fails_validation(
        self,
        client: httpx.AsyncClient,
        register: Register,
        validator: Draft202012Validator,
        breakage: str,
        path: str,
    ) -> None:
        package = (await client.get(f"{GRANTS}.360giving.json")).json()
        first = package["grants"][0]
        if breakage == "drop awardDate":
            del first["awardDate"]
        elif breakage == "amount as string":
            first["amountAwarded"] = "1234.50"
        elif breakage == "award date not a date":
            first["awardDate"] = "10/01/2024"
        elif breakage == "no recipient":
            first["recipientOrganization"] = []
        elif breakage == "currency":
            first["currency"] = "EURO"
        elif breakage == "issued not a date-time":
            package["issued"] = "2024-01-10 10:00"
        elif breakage == "url not a URI":
            first["url"] = "not a uri"
        elif breakage == "no grants":
            package["grants"] = []
        errors = errors_of(validator, package)
        assert errors, breakage
        assert any(e.startswith(f"{path}:") for e in errors), errors

    async def test_no_grant_published_is_a_404_problem(
        self, client: httpx.AsyncClient, register: Register
    ) -> None:
        response = await client.get(f"{GRANTS}.360giving.json?awarded_from=2030-01-01")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert "at least one grant" in response.json()["detail"]

    async def test_an_empty_register_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{GRANTS}.360giving.json")
        assert response.status_code == 404
        assert response.json()["rule"] == "not_found"


class TestSelectionMethod:
    async def test_a_negotiated_call_is_published_as_such_and_not_as_an_open_call(
        self, client: httpx.AsyncClient, session: AsyncSession, register: Register
    ) -> None:
        await session.execute(
            update(Call)
            .where(Call.id == register.other.call.id)
            .values(selection_method=SelectionMethod.NEGOTIATED)
        )
        package = (await client.get(f"{GRANTS}.360giving.json")).json()
        open_call = {g["id"]: g["fromOpenCall"] for g in package["grants"]}
        assert open_call[f"360G-wecare-{register.elsewhere}"] == "No"
        assert open_call[f"360G-wecare-{register.entity}"] == "Yes"
        negotiated = (await client.get(f"{GRANTS}/{register.elsewhere}")).json()
        assert negotiated["selection_method"] == "negotiated"
