"""Every error the service can return is application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from app.core.config import Settings
from app.core.errors import Conflict
from app.main import create_app
from tests import ENGLISH

PROBLEM = "application/problem+json"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=10)
    amount: int


class Boom(RuntimeError):
    pass


@pytest.fixture
async def probe(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app (no database use) with routes that fail in each way the handlers must cover."""
    app: FastAPI = create_app(settings.model_copy(update={"max_body_bytes": 2048}))

    @app.post("/probe/echo")
    async def echo(payload: Payload) -> Payload:
        return payload

    @app.get("/probe/crash")
    async def crash() -> None:
        raise Boom("secret internal detail")

    @app.get("/probe/conflict")
    async def conflict() -> None:
        raise Conflict("Budget exhausted.", cap="100.00", requested="150.00")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        yield client


ORIGIN = "https://frontend.example.org"


@pytest.fixture
async def cors_probe(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app that allows one browser origin, with a route that crashes."""
    app: FastAPI = create_app(settings.model_copy(update={"cors_origins": [ORIGIN]}))

    @app.get("/probe/crash")
    async def crash() -> None:
        raise Boom("secret internal detail")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        yield client


def _preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str)
        assert body[member]
    return body


class TestHttpErrors:
    async def test_unknown_path_is_404_problem(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/nope"), 404)
        assert body["instance"] == "/nope"

    async def test_wrong_method_is_405_problem_with_allow(self, probe: httpx.AsyncClient) -> None:
        response = await probe.delete("/healthz")
        assert_problem(response, 405)
        assert "GET" in response.headers["allow"]


class TestValidation:
    async def test_field_errors_are_listed(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/probe/echo", json={"name": "x" * 11, "amount": "lots"})
        body = assert_problem(response, 422)
        assert body["rule"] == "validation_error"
        locs = {tuple(e["loc"]) for e in body["errors"]}  # type: ignore[attr-defined]
        assert locs == {("body", "name"), ("body", "amount")}

    async def test_unknown_field_is_refused(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/probe/echo", json={"name": "a", "amount": 1, "extra": 1})
        body = assert_problem(response, 422)
        assert body["errors"][0]["type"] == "extra_forbidden"  # type: ignore[index]

    async def test_malformed_json_is_problem(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post(
            "/probe/echo", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(response, 422)


class TestDomainErrors:
    async def test_domain_error_carries_rule_and_figures(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/probe/conflict"), 409)
        assert body["rule"] == "conflict"
        assert body["type"] == "/problems/conflict"
        assert (body["cap"], body["requested"]) == ("100.00", "150.00")


class TestBodyLimit:
    async def test_declared_oversized_body_is_413(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/probe/echo", content=b"x" * 4096)
        assert_problem(response, 413)

    async def test_streamed_oversized_body_is_413(self, probe: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * 1024

        response = await probe.post(
            "/probe/echo", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)

    async def test_body_under_the_limit_passes(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/probe/echo", json={"name": "ok", "amount": 1})
        assert response.status_code == 200


class TestServerError:
    async def test_500_is_problem_without_traceback_and_logged_with_request_id(
        self, probe: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR, logger="app.request"):
            response = await probe.get("/probe/crash")
        body = assert_problem(response, 500)
        request_id = response.headers["x-request-id"]
        assert request_id in str(body["detail"])
        assert "Traceback" not in response.text
        assert "secret internal detail" not in response.text
        records = [r for r in caplog.records if r.name == "app.request"]
        assert records
        assert records[0].exc_info is not None
        assert getattr(records[0], "request_id", None) == request_id or request_id in (
            caplog.text + str(records[0].__dict__)
        )


class TestCors:
    async def test_a_refused_preflight_is_a_problem(self, cors_probe: httpx.AsyncClient) -> None:
        response = await cors_probe.options(
            "/api/v1/programmes", headers=_preflight("https://evil.example.com")
        )
        body = assert_problem(response, 400)
        assert "Disallowed CORS origin" in str(body["detail"])
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["x-request-id"]

    async def test_an_allowed_preflight_is_unchanged(self, cors_probe: httpx.AsyncClient) -> None:
        response = await cors_probe.options("/api/v1/programmes", headers=_preflight(ORIGIN))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == "OK"
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["x-request-id"]

    async def test_a_500_is_readable_from_an_allowed_origin(
        self, cors_probe: httpx.AsyncClient
    ) -> None:
        """The browser hides a response without Access-Control-Allow-Origin from the page."""
        response = await cors_probe.get("/probe/crash", headers={"Origin": ORIGIN})
        body = assert_problem(response, 500)
        assert response.headers["access-control-allow-origin"] == ORIGIN
        request_id = response.headers["x-request-id"]
        assert request_id in str(body["detail"])
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


class TestRequestId:
    async def test_every_response_has_one(self, probe: httpx.AsyncClient) -> None:
        first = await probe.get("/healthz")
        second = await probe.get("/nope")
        assert len(first.headers["x-request-id"]) >= 8
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async def test_a_safe_incoming_id_is_echoed(self, probe: httpx.AsyncClient) -> None:
        response = await probe.get("/healthz", headers={"X-Request-ID": "frontend-1234abcd"})
        assert response.headers["x-request-id"] == "frontend-1234abcd"

    async def test_an_unsafe_incoming_id_is_replaced(self, probe: httpx.AsyncClient) -> None:
        response = await probe.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert response.headers["x-request-id"] != "bad id\twith spaces"


async def test_a_nul_character_is_bad_input_on_both_databases(client: httpx.AsyncClient) -> None:
    """PostgreSQL refuses NUL in text; that is the caller's error, never a 500."""
    response = await client.get("/api/v1/programmes", params={"q": "a\x00b"})
    assert response.status_code in (200, 422)
    assert response.status_code < 500
    if response.status_code == 422:
        assert response.headers["content-type"] == "application/problem+json"
