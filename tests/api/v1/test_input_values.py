"""Bad values in JSON bodies, over HTTP: a clear 422 (or 409) problem that names the field,
and nothing written. Types are tested on their own in tests/services/test_money_and_identity.py;
these prove the API uses them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Allocation, Organisation
from tests.actors import Actor
from tests.world import approved, budget


def organisation(**more: Any) -> dict[str, Any]:
    return {
        "legal_name": "Cooperativa Sociale Esempio",
        "tax_code": "02843860012",
        "legal_nature": "social_enterprise",
        "profit_status": "non_profit",
        **more,
    }


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1000.001", "more than two decimals"),
        ("-1.00", "negative"),
        ("1e3", None),
        ("100000000000.01", None),
        (1000.5, None),
        ("NaN", None),
    ],
)
async def test_bad_amounts_are_refused_with_the_field_named(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Actor,
    amount: object,
    message: str | None,
) -> None:
    world = await budget(session, total=1_000_000)
    application = await approved(session, world, requested=5_000)
    response = await client.post(
        "/api/v1/allocations",
        json={"application_id": str(application.id), "amount": amount},
        headers=admin.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["loc"][-1] for e in errors] == ["amount"]
    if message is not None:
        assert message in errors[0]["message"]
    assert await session.scalar(select(func.count()).select_from(Allocation)) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tax_code", "80087670017"),  # wrong check digit
        ("tax_code", "RSSMRA85T10A562X"),  # a person's code with a wrong check character
        ("tax_code", "8008767001"),  # too short
        ("vat_number", "02843860013"),
        ("vat_number", "IT0284386001"),
    ],
)
async def test_bad_identifiers_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor, field: str, value: str
) -> None:
    body = organisation(**{field: value})
    response = await client.post("/api/v1/organisations", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["errors"]] == [field]
    assert await session.scalar(select(func.count()).select_from(Organisation)) == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"tax_code": "80087670016"}, {"tax_code": " 800 876 700 16 "}),
        (
            {"tax_code": "80087670016", "vat_number": "02843860012"},
            {"tax_code": "12345670017", "vat_number": "it 02843860012"},
        ),
    ],
)
async def test_an_organisation_is_registered_once(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Actor,
    first: dict[str, str],
    second: dict[str, str],
) -> None:
    """The same tax code or VAT number, however spaced or prefixed, is the same organisation."""
    created = await client.post(
        "/api/v1/organisations", json=organisation(**first), headers=admin.headers
    )
    assert created.status_code == 201, created.text
    again = await client.post(
        "/api/v1/organisations", json=organisation(**second), headers=admin.headers
    )
    assert again.status_code == 409, again.text
    assert again.json()["rule"] == "organisation_exists"
    assert await session.scalar(select(func.count()).select_from(Organisation)) == 1


@pytest.mark.parametrize("value", [0, 1, "true", "yes", "off", None])
async def test_booleans_are_json_booleans(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor, value: object
) -> None:
    """Pydantic alone would read 0, "yes" or "off" as booleans; the schema says boolean."""
    body = organisation(accompaniment_experience=value)
    response = await client.post("/api/v1/organisations", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["errors"]] == ["accompaniment_experience"]
    assert await session.scalar(select(func.count()).select_from(Organisation)) == 0


@pytest.mark.parametrize(("value", "status"), [("30", 422), (True, 422), (30.0, 201), (30, 201)])
async def test_integers_are_json_integers(
    client: httpx.AsyncClient, admin: Actor, value: object, status: int
) -> None:
    """ "30" and true are not integers in JSON Schema; 30.0 is."""
    programme = await client.post(
        "/api/v1/programmes",
        json={
            "code": "INT",
            "name_it": "Programma",
            "name_en": "Programme",
            "description_it": "-",
            "description_en": "-",
            "responsible_office": "Ufficio",
            "legal_basis": "Prova",
            "total_budget": "1000000.00",
        },
        headers=admin.headers,
    )
    assert programme.status_code == 201, programme.text
    measure = {
        "programme_id": programme.json()["id"],
        "code": "INT-M",
        "fund": "FSE",
        "title": {"it": "Misura", "en": "Measure"},
        "objective": {"it": "-", "en": "-"},
        "beneficiaries": {"it": "-", "en": "-"},
        "budget": "1000.00",
        "max_funded_projects": value,
        "eligibility": {"applicant_forms": ["organisation"]},
    }
    response = await client.post("/api/v1/measures", json=measure, headers=admin.headers)
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["max_funded_projects"] == 30
