"""A partner foundation's integration, done the way a partner would: Authlib's OAuth2 client
against the real server running two worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from app.core.config import Settings
from app.db.session import Database, create_engine
from app.services.clients import register_client
from tests import ENGLISH
from tests.conftest import BACKENDS, migrated_database
from tests.live import live_server


@pytest.fixture(scope="module", params=BACKENDS)
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, Database]]:
    """One server per backend for the module (a copy of the run's migrated template): each
    test registers a client of its own and revokes only its own token, so the tests share
    it without seeing each other; two workers start once, not once per test."""
    tmp_path = tmp_path_factory.mktemp(f"partner-{request.param}")
    url, drop = await migrated_database(request.param, tmp_path)
    database = Database(create_engine(Settings(database_url=url)))
    try:
        with live_server(url, tmp_path, workers=2) as base:
            yield base, database
    finally:
        await database.dispose()
        await drop()  # type: ignore[misc]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_authlib_client_credentials_against_the_running_server(
    live: tuple[str, Database], auth_method: str
) -> None:
    base, database = live
    async with database.session(write=True) as session:
        registered = await register_client(
            session,
            settings=Settings(),  # the server's secret: the development one, as here
            name="Fondazione Compagnia di San Paolo",
            scopes=["allocations:read"],
        )
    async with httpx.AsyncClient(
        headers=ENGLISH,
    ) as plain:
        metadata = (await plain.get(f"{base}/.well-known/oauth-authorization-server")).json()
    async with AsyncOAuth2Client(
        client_id=registered.client.client_id,
        client_secret=registered.secret,
        scope="allocations:read",
        token_endpoint_auth_method=auth_method,
    ) as oauth:
        token = await oauth.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        # Several requests, so that both workers verify the token.
        for _ in range(6):
            me = await oauth.get(f"{base}/api/v1/auth/whoami")
            assert me.status_code == 200
            assert me.json()["kind"] == "client"
            assert me.json()["scopes"] == ["allocations:read"]
        revoked = await oauth.revoke_token(
            metadata["revocation_endpoint"], token=token["access_token"]
        )
        assert revoked.status_code == 200
        for _ in range(6):
            refused = await oauth.get(f"{base}/api/v1/auth/whoami")
            assert refused.status_code == 401
