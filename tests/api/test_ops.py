"""Liveness, readiness and offline documentation."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.api import ops
from app.core.auth import Role
from app.core.config import Settings
from app.db.session import Database, create_engine
from app.main import create_app
from app.services import keys
from tests import ENGLISH
from tests.actors import PASSWORD, user_actor


async def _get(app_settings: Settings, path: str) -> httpx.Response:
    database = Database(create_engine(app_settings))
    app = create_app(app_settings, database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://t"
        ) as client:
            return await client.get(path)
    finally:
        await database.dispose()


class TestHealth:
    async def test_healthz(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_on_a_migrated_database(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

    async def test_readyz_on_an_unmigrated_database_is_503(self, tmp_path: Path) -> None:
        response = await _get(
            Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3"), "/readyz"
        )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "migration head" in response.json()["detail"]

    async def test_readyz_on_an_unreachable_database_is_503(self) -> None:
        settings = Settings(
            database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", db_pool_timeout_seconds=1
        )
        response = await _get(settings, "/readyz")
        assert response.status_code == 503
        assert response.json()["rule"] == "not_ready"

    async def test_readyz_gives_up_on_a_silent_database(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A dropped host answers nothing; the probe answers 503 within its bound."""

        async def silent(_: Database) -> bool:
            await asyncio.sleep(60)
            return True

        monkeypatch.setattr(ops, "_database_ready", silent)
        monkeypatch.setattr(ops, "READINESS_TIMEOUT_SECONDS", 0.05)
        response = await asyncio.wait_for(client.get("/readyz"), 5)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["rule"] == "not_ready"
        assert "did not answer" in response.json()["detail"]

    async def test_readyz_is_503_when_the_signing_key_does_not_decrypt(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """WECARE_SECRET_KEY changed without rotating: every login would fail."""
        await keys.rotate_signing_key(session, secret=settings.secret)
        assert (await client.get("/readyz")).status_code == 200
        stale = await keys.rotate_signing_key(session, secret="the-secret-before-it-changed-" * 2)
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["rule"] == "not_ready"
        assert response.json()["kid"] == stale.kid
        assert "WECARE_SECRET_KEY" in response.json()["detail"]
        await keys.rotate_signing_key(session, secret=settings.secret)  # the documented fix
        assert (await client.get("/readyz")).status_code == 200

    async def test_a_login_with_an_undecryptable_signing_key_is_503_not_500(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """The same misconfiguration at the login: a problem with Retry-After, not a traceback."""
        await user_actor(session, settings, Role.OFFICER, email="officer@example.org")
        await keys.rotate_signing_key(session, secret="the-secret-before-it-changed-" * 2)
        body = {"email": "officer@example.org", "password": PASSWORD}
        refused = await client.post("/api/v1/auth/login", json=body)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "60"
        assert refused.json()["rule"] == "signing_key_unavailable"
        await keys.rotate_signing_key(session, secret=settings.secret)  # the documented fix
        assert (await client.post("/api/v1/auth/login", json=body)).status_code == 200


class TestOfflineDocs:
    async def test_docs_and_redoc_use_only_local_assets(self, client: httpx.AsyncClient) -> None:
        for page in ("/docs", "/redoc"):
            response = await client.get(page)
            assert response.status_code == 200
            html = response.text
            assert not re.search(r"(src|href)=\"https?://", html), f"{page} loads a remote asset"
            assert "fonts.googleapis" not in html
            for asset in re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", html):
                if asset.startswith("/static/"):
                    assert (await client.get(asset)).status_code == 200, asset
            assert "/openapi.json" in html

    async def test_openapi_json_is_served(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        assert response.json()["info"]["title"] == "WECARE funding API"
