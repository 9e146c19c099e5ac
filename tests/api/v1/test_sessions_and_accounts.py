"""User sessions (login, refresh, logout, rate limit) and the accounts and clients admin API."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.db.session import Database
from app.main import create_app
from app.models.auth import LoginFailure, OAuthClient
from tests.actors import PASSWORD, Actor, make_organisation, user_actor

LOGIN = "/api/v1/auth/login"


@pytest.fixture
async def officer(session: AsyncSession, settings: Settings) -> Actor:
    return await user_actor(session, settings, Role.OFFICER, email="officer@example.org")


@pytest.fixture
async def admin(session: AsyncSession, settings: Settings) -> Actor:
    return await user_actor(session, settings, Role.ADMINISTRATOR)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


class TestLogin:
    async def test_login_gives_tokens_that_work(
        self, client: httpx.AsyncClient, officer: Actor
    ) -> None:
        response = await login(client, "Officer@Example.org ")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert "allocations:write" in body["scope"].split()
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["email"] == "officer@example.org"
        assert me.json()["role"] == "officer"

    async def test_wrong_password_and_unknown_email_look_the_same(
        self, client: httpx.AsyncClient, officer: Actor
    ) -> None:
        wrong = await login(client, "officer@example.org", "not the password")
        unknown = await login(client, "nobody@example.org", "not the password")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.headers["content-type"] == "application/problem+json"
        assert wrong.json()["detail"] == unknown.json()["detail"]
        assert wrong.json()["rule"] == "invalid_credentials"

    async def test_failed_logins_are_rate_limited_across_workers(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        database: Database,
        officer: Actor,
    ) -> None:
        for _ in range(settings.login_max_failures):
            assert (await login(client, "officer@example.org", "wrong")).status_code == 401
        # The failures survived their requests' rollbacks.
        count = await session.scalar(select(func.count()).select_from(LoginFailure))
        assert count == settings.login_max_failures
        other: FastAPI = create_app(settings, database)  # another worker
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://w2") as worker2:
            limited = await login(worker2, "officer@example.org")  # even the right password
        assert limited.status_code == 429
        assert limited.json()["rule"] == "too_many_login_attempts"
        assert 0 < int(limited.headers["retry-after"]) <= settings.login_failure_window_seconds

    async def test_one_failure_below_the_limit_still_logs_in(
        self, client: httpx.AsyncClient, settings: Settings, officer: Actor
    ) -> None:
        for _ in range(settings.login_max_failures - 1):
            await login(client, "officer@example.org", "wrong")
        assert (await login(client, "officer@example.org")).status_code == 200

    async def test_invalid_body_is_422_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.post(LOGIN, json={"email": "not-an-email", "password": "x"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "email"]


class TestRefreshAndLogout:
    async def test_refresh_rotates_and_a_replay_revokes_the_family(
        self, client: httpx.AsyncClient, officer: Actor
    ) -> None:
        first = (await login(client, "officer@example.org")).json()
        second = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert second.status_code == 200
        new_refresh = second.json()["refresh_token"]
        assert new_refresh != first["refresh_token"]
        replay = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert replay.status_code == 401
        # The replay cut the whole family off, the newest token included.
        after = await client.post("/api/v1/auth/refresh", json={"refresh_token": new_refresh})
        assert after.status_code == 401

    async def test_logout_revokes_access_and_refresh_tokens(
        self, client: httpx.AsyncClient, officer: Actor
    ) -> None:
        tokens = (await login(client, "officer@example.org")).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        out = await client.post(
            "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=bearer
        )
        assert out.status_code == 204
        assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 401
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401

    async def test_logout_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/v1/auth/logout", json={})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


class TestUsersApi:
    async def test_an_administrator_creates_an_applicant_with_memberships(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        organisation = await make_organisation(session, name="Coop", tax_code="02843860012")
        response = await client.post(
            "/api/v1/users",
            headers=admin.headers,
            json={
                "email": "new@example.org",
                "display_name": "New",
                "password": "twelve chars or more",
                "role": "applicant",
                "organisation_ids": [str(organisation.id)],
            },
        )
        assert response.status_code == 201
        assert response.json()["organisation_ids"] == [str(organisation.id)]
        assert "password" not in response.text
        duplicate = await client.post(
            "/api/v1/users",
            headers=admin.headers,
            json={
                "email": "NEW@example.org",
                "display_name": "Again",
                "password": "twelve chars or more",
                "role": "officer",
            },
        )
        assert duplicate.status_code == 409

    async def test_others_are_refused_with_the_right_challenge(
        self, client: httpx.AsyncClient, officer: Actor
    ) -> None:
        body = {
            "email": "x@example.org",
            "display_name": "X",
            "password": "p" * 12,
            "role": "officer",
        }
        anonymous = await client.post("/api/v1/users", json=body)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="wecare"'
        forbidden = await client.post("/api/v1/users", json=body, headers=officer.headers)
        assert forbidden.status_code == 403
        assert forbidden.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="users:admin"'
        )

    async def test_list_pages_with_a_cursor(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
    ) -> None:
        for role in (Role.OFFICER, Role.REVIEWER, Role.APPLICANT):
            await user_actor(session, settings, role)
        first = (await client.get("/api/v1/users?limit=2", headers=admin.headers)).json()
        assert len(first["items"]) == 2
        second = (
            await client.get(
                f"/api/v1/users?limit=2&cursor={first['next_cursor']}", headers=admin.headers
            )
        ).json()
        assert len(second["items"]) == 2
        assert second["next_cursor"] is None
        ids = [u["id"] for u in first["items"] + second["items"]]
        assert len(set(ids)) == 4
        bad = await client.get("/api/v1/users?cursor=%%%", headers=admin.headers)
        assert bad.status_code == 422


class TestClientsApi:
    async def test_register_shows_the_secret_once(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        created = await client.post(
            "/api/v1/clients",
            headers=admin.headers,
            json={"name": "Fondazione CRT", "scopes": ["allocations:read"]},
        )
        assert created.status_code == 201
        body = created.json()
        secret = body["client_secret"]
        assert len(secret) >= 43  # 256 bits, base64url
        stored = await session.scalar(
            select(OAuthClient.secret_hash).where(OAuthClient.client_id == body["client_id"])
        )
        assert stored is not None
        assert stored.startswith("$argon2id$")
        assert secret not in stored
        listed = await client.get("/api/v1/clients", headers=admin.headers)
        assert secret not in listed.text
        one = await client.get(f"/api/v1/clients/{body['id']}", headers=admin.headers)
        assert "client_secret" not in one.json()

    async def test_only_grantable_scopes(self, client: httpx.AsyncClient, admin: Actor) -> None:
        response = await client.post(
            "/api/v1/clients",
            headers=admin.headers,
            json={"name": "Greedy", "scopes": ["allocations:write"]},
        )
        assert response.status_code == 422
        assert "allocations:write" in response.json()["detail"]

    async def test_deactivate(self, client: httpx.AsyncClient, admin: Actor) -> None:
        body = (
            await client.post(
                "/api/v1/clients",
                headers=admin.headers,
                json={"name": "Short-lived", "scopes": ["allocations:read"]},
            )
        ).json()
        gone = await client.delete(f"/api/v1/clients/{body['id']}", headers=admin.headers)
        assert gone.status_code == 204
        token = await client.post(
            "/api/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": body["client_id"],
                "client_secret": body["client_secret"],
            },
        )
        assert token.status_code == 401
        missing = await client.delete(
            "/api/v1/clients/00000000-0000-4000-8000-000000000000", headers=admin.headers
        )
        assert missing.status_code == 404
