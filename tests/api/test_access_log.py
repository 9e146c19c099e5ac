"""The access log: one structured line per request, with the request's id, its route
template, its caller and its figures; application lines carry the same id."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.logging import get_logger
from app.db.session import Database
from app.main import create_app
from tests import ENGLISH
from tests.actors import Actor, client_actor
from tests.observability import json_lines, records_of, rendered

PROBE_REQUEST_ID = "probe-request-0001"


def probe_app(settings: Settings, database: Database, log_format: str) -> FastAPI:
    """The app, plus a route that logs as application code does (standard and structlog)."""
    app = create_app(settings.model_copy(update={"log_format": log_format}), database)

    @app.get("/probe/log")
    async def log_inside() -> dict[str, str]:
        logging.getLogger("app.probe").warning("a standard record inside the request")
        get_logger("app.probe").info("a structured event inside the request", figure=3)
        return {"logged": "yes"}

    return app


async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        yield client


@pytest.fixture
async def json_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_of(probe_app(settings, database, "json")):
        yield client


@pytest.fixture
async def text_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_of(probe_app(settings, database, "text")):
        yield client


async def test_one_json_line_per_request_with_every_field(
    json_client: httpx.AsyncClient, officer: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    call_id = uuid.uuid4()
    before = datetime.now(UTC)
    response = await json_client.get(f"/api/v1/calls/{call_id}", headers=officer.headers)
    assert response.status_code == 404
    records = records_of(caplog, "app.access")
    assert len(records) == 1
    (line,) = json_lines(records)
    assert set(line) == {
        "time",
        "level",
        "logger",
        "event",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "principal_kind",
        "principal_id",
        "client",
    }
    logged_at = datetime.fromisoformat(line["time"])
    assert logged_at.utcoffset() == timedelta(0)
    assert before <= logged_at <= datetime.now(UTC)
    assert line["time"].endswith("Z")
    assert line["level"] == "info"
    assert line["logger"] == "app.access"
    assert line["event"] == "request"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/calls/{call_id}"  # the template, not the path
    assert str(call_id) not in json.dumps(line)
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert 0 < line["duration_ms"] < 60_000
    assert line["principal_kind"] == "user"
    assert line["principal_id"] == str(officer.id)
    assert line["client"] == "127.0.0.1"  # the ASGI test client's peer
    assert officer.token is not None
    assert officer.token not in rendered(records[0], "json")


async def test_a_client_is_named_by_its_client_id_and_never_by_its_secret(
    json_client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    partner = await client_actor(session, settings, scopes=["pledges:read"])
    caplog.set_level(logging.INFO)
    response = await json_client.get("/api/v1/auth/whoami", headers=partner.headers)
    assert response.status_code == 200
    records = records_of(caplog, "app.access")
    (line,) = json_lines(records)
    assert line["principal_kind"] == "client"
    assert line["principal_id"] == partner.client_id
    assert line["route"] == "/api/v1/auth/whoami"
    text = rendered(records[0], "json")
    assert partner.token is not None
    assert partner.token not in text
    assert partner.client_secret is not None
    assert partner.client_secret not in text


async def test_an_anonymous_request_to_no_route_has_no_template(
    json_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await json_client.get("/api/v1/no-such-thing/12345")
    assert response.status_code == 404
    (line,) = json_lines(records_of(caplog, "app.access"))
    assert line["route"] is None
    assert line["principal_kind"] == "anonymous"
    assert line["principal_id"] is None
    assert line["request_id"] == response.headers["x-request-id"]


async def test_application_lines_carry_the_request_id(
    json_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await json_client.get("/probe/log", headers={"X-Request-ID": PROBE_REQUEST_ID})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == PROBE_REQUEST_ID
    standard, structured = json_lines(records_of(caplog, "app.probe"))
    (access,) = json_lines(records_of(caplog, "app.access"))
    assert standard["event"] == "a standard record inside the request"
    assert standard["level"] == "warning"
    assert structured["event"] == "a structured event inside the request"
    assert structured["figure"] == 3
    assert standard["request_id"] == structured["request_id"] == PROBE_REQUEST_ID
    assert access["request_id"] == PROBE_REQUEST_ID
    assert access["route"] == "/probe/log"


async def test_the_text_form_is_one_readable_line(
    text_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await text_client.get("/probe/log", headers={"X-Request-ID": PROBE_REQUEST_ID})
    assert response.status_code == 200
    (record,) = records_of(caplog, "app.access")
    line = rendered(record, "text")
    assert "\n" not in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    # "2026-12-06T18:00:00.000000Z [info     ] request   [app.access] client=... route=..."
    stamp, level, rest = line.split(" ", 2)
    assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0)
    assert level == "[info"
    for part in (
        "request",
        "[app.access]",
        "method=GET",
        "route=/probe/log",
        "status=200",
        f"request_id={PROBE_REQUEST_ID}",
        "principal_kind=anonymous",
        "client=127.0.0.1",
    ):
        assert part in rest, line
    (standard, _) = records_of(caplog, "app.probe")
    assert f"request_id={PROBE_REQUEST_ID}" in rendered(standard, "text")


async def test_a_mounted_app_is_its_mount_and_a_path_placeholder(
    json_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert (await json_client.get("/static/docs/swagger-ui.css")).status_code == 200
    assert (await json_client.get("/openapi.json")).status_code == 200
    routes = [line["route"] for line in json_lines(records_of(caplog, "app.access"))]
    assert routes == ["/static/docs/{path}", "/openapi.json"]
