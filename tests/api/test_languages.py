"""Italian and English over HTTP: every response says its language (Content-Language) and
that it depends on Accept-Language (Vary); problems carry title and detail in that language,
Italian by default, while type, rule and the figures never change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.actors import Actor, tax_code
from tests.api.v1.flows import Api, organisation
from tests.api.v1.test_dry_runs import DRY, _submission_world

ITALIAN = {"Accept-Language": "it"}
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
async def bare(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no Accept-Language (the suite's client asks for English)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert "accept-language" not in client.headers
        yield client


def assert_language(response: httpx.Response, language: str) -> None:
    assert response.headers["content-language"] == language
    vary = [v.strip().lower() for v in response.headers.get("vary", "").split(",")]
    assert "accept-language" in vary


def same_but_words(italian: dict[str, Any], english: dict[str, Any]) -> None:
    """Everything but title and detail is identical in both languages."""
    assert italian["title"] != english["title"]
    assert italian["detail"] != english["detail"]
    strip = ("title", "detail")
    assert {k: v for k, v in italian.items() if k not in strip} == {
        k: v for k, v in english.items() if k not in strip
    }


class TestDefaultIsItalian:
    async def test_a_problem_without_the_header_is_italian(
        self, bare: httpx.AsyncClient, admin: Actor
    ) -> None:
        ident = uuid.uuid4()
        response = await bare.get(f"/api/v1/programmes/{ident}", headers=admin.headers)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert_language(response, "it")
        body = response.json()
        assert body["type"] == "/problems/not_found"
        assert body["rule"] == "not_found"
        assert body["title"] == "Risorsa non trovata"
        assert body["detail"] == f"Programma {ident} inesistente."

    async def test_a_success_without_the_header_is_italian(
        self, bare: httpx.AsyncClient, admin: Actor
    ) -> None:
        response = await bare.get("/api/v1/programmes", headers=admin.headers)
        assert response.status_code == 200
        assert_language(response, "it")

    async def test_the_suite_client_asks_for_english(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        response = await client.get("/api/v1/programmes", headers=admin.headers)
        assert_language(response, "en")


class TestRefusalsInBothLanguages:
    async def test_not_found(self, client: httpx.AsyncClient, admin: Actor) -> None:
        ident = uuid.uuid4()
        path = f"/api/v1/programmes/{ident}"
        italian = await client.get(path, headers={**admin.headers, **ITALIAN})
        english = await client.get(path, headers={**admin.headers, **ENGLISH})
        assert_language(italian, "it")
        assert_language(english, "en")
        assert english.json()["title"] == "Resource not found"
        assert english.json()["detail"] == f"No programme {ident}."
        same_but_words(italian.json(), english.json())

    async def test_a_conflict(self, client: httpx.AsyncClient, admin: Actor) -> None:
        api = Api(client)
        await organisation(api, admin, "Coop Lingue", tax_code(41))
        body = {
            "legal_name": "Coop Lingue bis",
            "tax_code": tax_code(41),
            "legal_nature": "third_sector_organisation",
            "profit_status": "non_profit",
        }
        answers = {
            language: await client.post(
                "/api/v1/organisations",
                json=body,
                headers={**admin.headers, "Accept-Language": language},
            )
            for language in ("it", "en")
        }
        for language, response in answers.items():
            assert response.status_code == 409
            assert_language(response, language)
        italian, english = answers["it"].json(), answers["en"].json()
        assert italian["rule"] == english["rule"] == "organisation_exists"
        assert english["title"] == "An organisation with this tax code or VAT number already exists"
        assert italian["title"] == (
            "Esiste già un'organizzazione con questo codice fiscale o partita IVA"
        )
        same_but_words(italian, english)

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        italian = await client.get("/api/v1/users/me", headers=ITALIAN)
        english = await client.get("/api/v1/users/me")
        assert italian.status_code == english.status_code == 401
        assert italian.headers["www-authenticate"] == english.headers["www-authenticate"]
        assert italian.json()["title"] == "Autenticazione richiesta"
        assert english.json()["title"] == "Authentication required"
        same_but_words(italian.json(), english.json())

    async def test_a_validation_error(self, client: httpx.AsyncClient, admin: Actor) -> None:
        italian = await client.post(
            "/api/v1/organisations", json={}, headers={**admin.headers, **ITALIAN}
        )
        english = await client.post("/api/v1/organisations", json={}, headers=admin.headers)
        assert italian.status_code == english.status_code == 422
        assert italian.json()["title"] == "La richiesta non è valida"
        assert italian.json()["detail"].startswith("Dati non validi: body.")
        assert english.json()["detail"].startswith("Invalid input: body.")
        same_but_words(italian.json(), english.json())

    async def test_http_errors(self, client: httpx.AsyncClient) -> None:
        italian = await client.delete("/healthz", headers=ITALIAN)
        assert italian.status_code == 405
        assert_language(italian, "it")
        assert italian.json()["title"] == "Metodo non consentito"
        assert italian.json()["detail"] == "DELETE non è consentito su /healthz."
        missing = await client.get("/nothing-here", headers=ITALIAN)
        assert missing.json()["title"] == "Risorsa non trovata"
        assert missing.json()["detail"] == "Nessuna risorsa è servita all'indirizzo /nothing-here."
        assert (await client.get("/nothing-here")).json()["title"] == "Not Found"

    async def test_a_dry_run_reports_in_the_negotiated_language(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        api, path, _third, window = await _submission_world(client, session, admin)
        now = datetime.now(UTC)
        window.opens_at, window.closes_at = now - timedelta(days=2), now - timedelta(hours=1)
        await session.flush()
        await api.read(path, admin)
        reports = {}
        for language in ("it", "en"):
            headers = {**admin.headers, "If-Match": api.etags[path], "Accept-Language": language}
            response = await client.post(f"{path}/submit{DRY}", headers=headers)
            assert response.status_code == 200
            assert_language(response, language)
            reports[language] = response.json()
        italian, english = reports["it"]["violations"], reports["en"]["violations"]
        assert [f["rule"] for f in italian] == [f["rule"] for f in english]
        by_rule = {f["rule"]: f for f in italian}
        assert by_rule["call_not_open"]["title"] == "Il bando non accetta domande in questo momento"
        eligibility = by_rule["eligibility"]
        assert eligibility["title"] == "Il richiedente o il progetto non è ammissibile"
        # The eligibility refusal's own list of violations is translated too.
        assert eligibility["figures"]["violations"] == [
            {
                "rule": "eligibility_district_lead",
                "detail": "Il capofila deve essere l'ente capofila del distretto di coesione "
                "sociale della domanda.",
            }
        ]
        assert eligibility["detail"] == eligibility["figures"]["violations"][0]["detail"]
        for it_finding, en_finding in zip(italian, english, strict=True):
            assert it_finding["figures"].keys() == en_finding["figures"].keys()
            assert it_finding["type"] == en_finding["type"]
            assert it_finding["status"] == en_finding["status"]


class TestNegotiationOverHttp:
    @pytest.mark.parametrize(
        ("header", "language"),
        [
            ("it-IT,it;q=0.9,en;q=0.8", "it"),
            ("en-GB,en;q=0.9", "en"),
            ("en-US", "en"),
            ("fr-FR, de;q=0.8", "it"),
            ("it;q=0, en;q=0.1", "en"),
            ("it;q=0, *", "en"),
            ("*", "it"),
            ("en;q=0", "it"),
            ("garbage;;;q=x", "it"),
            ("ñ, ü;q=é", "it"),
        ],
    )
    async def test_language_and_status(
        self, client: httpx.AsyncClient, header: str, language: str
    ) -> None:
        headers = {b"accept-language": header.encode()}
        response = await client.get("/nothing-here", headers=headers)
        assert response.status_code == 404  # never a 406 or a 5xx: the header only chooses
        assert_language(response, language)
        ok = await client.get("/healthz", headers=headers)
        assert ok.status_code == 200
        assert_language(ok, language)
