"""User sessions (login, refresh, logout, rate limit) and the accounts and clients admin API."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.errors import RefreshTokenReplayed, Unauthenticated
from app.core.security import client_secret_pepper, hash_client_secret
from app.db import migrations
from app.db.session import Database, create_engine
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.auth import LoginFailure, OAuthClient
from app.services import users as user_service
from app.services.users import create_user
from tests import ENGLISH
from tests.actors import PASSWORD, Actor, make_organisation, user_actor
from tests.conftest import BACKENDS, create_database
from tests.live import live_server

LOGIN = "/api/v1/auth/login"


@pytest.fixture
async def officer(session: AsyncSession, settings: Settings) -> Actor:
    return await user_actor(session, settings, Role.OFFICER, email="officer@example.org")


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
        assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]
        assert wrong.headers["www-authenticate"].startswith("Bearer")  # RFC 9110: every 401

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
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://w2"
        ) as worker2:
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

    async def test_a_long_email_is_throttled_and_audited_by_fingerprint(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """An address longer than audit_event.entity_id (64): the failure's audit event
        names the account by the SHA-256 of the address, so the failure is recorded (on
        PostgreSQL too) and the limit holds."""
        email = "a" * 60 + "@" + "b" * 30 + ".example.org"
        await user_actor(session, settings, Role.APPLICANT, email=email)
        for _ in range(settings.login_max_failures):
            wrong = await login(client, email.upper(), "wrong")
            assert wrong.status_code == 401, wrong.text
        assert (await login(client, email)).status_code == 429
        logged = list(
            await session.scalars(
                select(AuditEvent.entity_id).where(AuditEvent.action == "auth.login_failed")
            )
        )
        assert logged == [hashlib.sha256(email.encode()).hexdigest()] * settings.login_max_failures

    async def test_a_password_is_taken_as_typed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        """Spaces around a password are part of it (the CLI stores them so)."""
        password = " correct horse battery staple "
        await create_user(
            session,
            email="spaced@example.org",
            display_name="Spaced",
            password=password,
            role=Role.OFFICER,
            organisation_ids=[],
        )
        assert (await login(client, "spaced@example.org", password.strip())).status_code == 401
        assert (await login(client, "spaced@example.org", password)).status_code == 200

    async def test_invalid_body_is_422_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.post(LOGIN, json={"email": "not-an-email", "password": "x"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "email"]


class TestRefreshAndLogout:
    @pytest.mark.parametrize("body", [None, {}])
    async def test_logout_ends_the_session_without_its_refresh_token(
        self, client: httpx.AsyncClient, officer: Actor, body: dict[str, str] | None
    ) -> None:
        """The access token names its session ("sid"): logging out with it alone revokes
        the refresh token too, and every token the session later rotated to."""
        first = (await login(client, "officer@example.org")).json()
        rotated = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert rotated.status_code == 200
        tokens = rotated.json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        other = (await login(client, "officer@example.org")).json()  # another device
        out = await client.post("/api/v1/auth/logout", json=body, headers=bearer)
        assert out.status_code == 204, out.text
        assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 401
        again = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert again.status_code == 401
        # The other device's session is its own.
        kept = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert kept.status_code == 200

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

    async def test_a_replay_also_stops_the_session_s_access_tokens(
        self, client: httpx.AsyncClient, officer: Actor
    ) -> None:
        """A replayed refresh token means someone holds a copy: the session's access
        tokens (the first and the rotated one) stop at once, not at their expiry."""
        first = (await login(client, "officer@example.org")).json()
        second = (
            await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
            )
        ).json()
        other = (await login(client, "officer@example.org")).json()  # another session
        for tokens in (first, second, other):
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 200
        replay = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert replay.status_code == 401
        for tokens in (first, second):
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            refused = await client.get("/api/v1/users/me", headers=bearer)
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_token"
        bearer = {"Authorization": f"Bearer {other['access_token']}"}
        assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 200

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


@dataclass(frozen=True)
class Live:
    backend: str
    base: str
    database: Database
    settings: Settings


@pytest.fixture(scope="module", params=BACKENDS)
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    """A fresh database and ``wecare serve`` with two workers on it, for races that the
    test's single transaction cannot show."""
    backend = str(request.param)
    tmp_path = tmp_path_factory.mktemp(f"sessions-{backend}")
    url, drop = await create_database(backend, tmp_path)
    settings = Settings(database_url=url)
    database = Database(create_engine(settings))
    try:
        await migrations.upgrade(database.engine)
        with live_server(url, tmp_path, workers=2) as base:
            yield Live(backend, base, database, settings)
    finally:
        await database.dispose()
        await drop()  # type: ignore[misc]


async def _account(live: Live) -> str:
    email = f"officer-{uuid.uuid4().hex[:8]}@example.org"
    async with live.database.session(write=True) as session:
        await create_user(
            session,
            email=email,
            display_name="Officer",
            password=PASSWORD,
            role=Role.OFFICER,
            organisation_ids=[],
        )
    return email


class TestRaces:
    async def test_parallel_wrong_logins_get_no_more_guesses_than_the_limit(
        self, live: Live
    ) -> None:
        """Every attempt of one e-mail waits for the previous one to record its failure
        (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE)."""
        email = await _account(live)
        attempts = 12
        async with httpx.AsyncClient(headers=ENGLISH, base_url=live.base, timeout=60) as client:
            responses = await asyncio.gather(
                *(login(client, email, f"wrong {n}") for n in range(attempts))
            )
        statuses = sorted(response.status_code for response in responses)
        limit = live.settings.login_max_failures
        assert statuses == [401] * limit + [429] * (attempts - limit)

    async def test_parallel_refreshes_with_one_token_let_one_through(self, live: Live) -> None:
        email = await _account(live)
        async with httpx.AsyncClient(headers=ENGLISH, base_url=live.base, timeout=60) as client:
            tokens = (await login(client, email)).json()
            body = {"refresh_token": tokens["refresh_token"]}
            responses = await asyncio.gather(
                *(client.post("/api/v1/auth/refresh", json=body) for _ in range(2))
            )
            assert sorted(r.status_code for r in responses) == [200, 401]
            winner = next(r for r in responses if r.status_code == 200).json()
            # The loser was a replay: the family is revoked, the winner's new token too.
            after = await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]}
            )
            assert after.status_code == 401

    async def test_a_refresh_waiting_on_another_with_the_same_token_is_a_replay(
        self, live: Live
    ) -> None:
        """Deterministic interleaving: the second refresh reads the token while the first
        holds it unused-but-claimed, then must lose, not rotate a second time."""
        email = await _account(live)
        async with live.database.session(write=True) as session:
            pair = await user_service.login(
                session, live.settings, email=email, password=PASSWORD, address="test"
            )

        async def second_refresh() -> object:
            async with live.database.session(write=True) as session:
                try:
                    return await user_service.refresh(
                        session, live.settings, refresh_token=pair.refresh_token
                    )
                except RefreshTokenReplayed as replayed:
                    return replayed  # returned, not raised: the revocation commits

        async with live.database.session(write=True) as session:
            first = await user_service.refresh(
                session, live.settings, refresh_token=pair.refresh_token
            )
            second = asyncio.create_task(second_refresh())
            await asyncio.sleep(0.5)
            assert not second.done()  # waiting for the first transaction
        assert isinstance(await second, RefreshTokenReplayed)
        async with live.database.session(write=True) as session:
            with pytest.raises(Unauthenticated):
                await user_service.refresh(
                    session, live.settings, refresh_token=first.refresh_token
                )


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
        assert response.json()["password_change_required"] is True
        assert "twelve chars or more" not in response.text
        assert "password_hash" not in response.text
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
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
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
        # A keyed fast hash (the secret is 256 random bits): HMAC-SHA-256 under the pepper.
        assert stored == hash_client_secret(secret, client_secret_pepper(settings.secret))
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
