"""HTTP hardening: nosniff everywhere, no-store on what a credential unlocked, HSTS in
production, and /docs and /redoc that production may switch off."""

from __future__ import annotations

import secrets

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.db.session import Database
from app.main import create_app
from tests import ENGLISH
from tests.actors import user_actor


def _client(settings: Settings, database: Database) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings, database), raise_app_exceptions=False)
    return httpx.AsyncClient(headers=ENGLISH, transport=transport, base_url="http://t")


async def test_every_response_is_nosniff(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/api/v1/programmes", "/nowhere", "/api/v1/users/me"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path


async def test_anonymous_public_reads_keep_their_caching(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/programmes")
    assert response.status_code == 200
    assert "cache-control" not in response.headers
    assert "strict-transport-security" not in response.headers  # development


async def test_a_response_to_credentials_is_no_store(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    actor = await user_actor(session, settings, Role.OFFICER)
    for path in ("/api/v1/users/me", "/api/v1/programmes"):
        response = await client.get(path, headers=actor.headers)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
    refused = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer forged"})
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"


async def test_production_adds_hsts(settings: Settings, database: Database) -> None:
    production = settings.model_copy(
        update={"environment": "production", "secret_key": SecretStr(secrets.token_urlsafe(32))}
    )
    async with _client(production, database) as client:
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


@pytest.mark.one_backend("sqlite")
async def test_docs_can_be_switched_off(settings: Settings, database: Database) -> None:
    """/docs, /redoc and their assets go; /openapi.json stays (the contract partners build
    their clients from, published in the repository anyway)."""
    async with _client(settings.model_copy(update={"docs_enabled": False}), database) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404
        assert (await client.get("/static/docs/swagger-ui.css")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200
