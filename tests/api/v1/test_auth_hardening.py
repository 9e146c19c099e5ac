"""Issue 12, items 2 and 4: client secrets by HMAC, password hashing off the event loop and
bounded, throttling by client address (never by a forgeable header), refusals answered late.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.auth import Role
from app.core.config import Settings
from app.core.errors import PasswordHashingBusy
from app.db import migrations
from app.db.session import Database, create_engine
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.auth import OAuthClient
from app.services import passwords
from tests import ENGLISH
from tests.actors import PASSWORD, Actor, client_actor, user_actor
from tests.conftest import create_database
from tests.live import live_server
from tests.oauth import TOKEN, basic, count_client_secret_checks

LOGIN = "/api/v1/auth/login"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address`` (the socket peer the server sees)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4321))
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        yield client


def app_with(settings: Settings, database: Database, **changes: object) -> FastAPI:
    return create_app(settings.model_copy(update=changes), database)


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


@pytest.fixture
async def officer(session: AsyncSession, settings: Settings) -> str:
    await user_actor(session, settings, Role.OFFICER, email="owner@example.org")
    return "owner@example.org"


class TestClientSecrets:
    async def test_an_argon2_secret_is_checked_once_and_rewritten_as_hmac(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A client registered before HMAC keeps working: its first successful use checks
        the argon2 hash (off the loop) and stores the HMAC instead, audited; a wrong secret
        rewrites nothing; later uses never run argon2."""
        partner = await client_actor(session, settings, scopes=["allocations:read"])
        assert partner.client_id
        assert partner.client_secret
        await session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == partner.client_id)
            .values(secret_hash=security.hash_secret(partner.client_secret))
        )
        form = {"grant_type": "client_credentials"}
        wrong = await client.post(TOKEN, data=form, headers=basic(partner.client_id, "wrong"))
        assert wrong.status_code == 401
        stored = await session.scalar(
            select(OAuthClient.secret_hash).where(OAuthClient.client_id == partner.client_id)
        )
        assert stored is not None
        assert stored.startswith("$argon2id$")

        headers = basic(partner.client_id, partner.client_secret)
        assert (await client.post(TOKEN, data=form, headers=headers)).status_code == 200
        session.expire_all()
        stored = await session.scalar(
            select(OAuthClient.secret_hash).where(OAuthClient.client_id == partner.client_id)
        )
        pepper = security.client_secret_pepper(settings.secret)
        assert stored == security.hash_client_secret(partner.client_secret, pepper)
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "client.secret_rehash")
            )
        )
        assert [(e.actor_type, e.actor_id) for e in events] == [("client", partner.client_id)]

        checked = count_client_secret_checks(monkeypatch)  # argon2 now fails the test
        assert (await client.post(TOKEN, data=form, headers=headers)).status_code == 200
        assert checked == [partner.client_secret]

    def test_the_pepper_is_the_server_secret_s_own(self) -> None:
        """Another server secret, another pepper: a stolen table of hashes is useless
        without the secret, and the hash names its scheme."""
        first = security.client_secret_pepper("a" * 32)
        second = security.client_secret_pepper("b" * 32)
        assert first != second
        assert len(first) == 32
        stored = security.hash_client_secret("s", first)
        assert stored.startswith("hmac-sha256$")
        assert len(stored) == len("hmac-sha256$") + 64
        assert security.verify_client_secret("s", stored, first)
        assert not security.verify_client_secret("s", stored, second)
        assert not security.verify_client_secret("t", stored, first)
        assert not security.verify_client_secret("s", None, first)


@pytest.fixture
def held_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """argon2 verifications block until the event is set (5 s at most, then fail)."""
    release = threading.Event()
    original = security.verify_secret

    def held(secret: str, secret_hash: str | None) -> bool:
        assert release.wait(5), "the held verification was never released"
        return original(secret, secret_hash)

    monkeypatch.setattr(security, "verify_secret", held)
    yield release
    release.set()


class TestPasswordHashing:
    async def test_verification_runs_in_a_thread_a_bounded_number_at_once(
        self, settings: Settings, held_hashing: threading.Event
    ) -> None:
        """With one slot: a verification in progress leaves the event loop free, the next
        one waits at most password_hash_wait_seconds and is refused with a Retry-After."""
        bounded = settings.model_copy(
            update={"password_hash_concurrency": 1, "password_hash_wait_seconds": 0.2}
        )
        first = asyncio.create_task(passwords.verify_password(bounded, "x", None))
        ticks = 0
        for _ in range(5):  # the loop runs while the first verification is held
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 5
        assert not first.done()
        started = time.monotonic()
        with pytest.raises(PasswordHashingBusy) as busy:
            await passwords.verify_password(bounded, "x", None)
        assert time.monotonic() - started >= 0.2
        assert busy.value.retry_after == 1
        held_hashing.set()
        assert await first is False  # no hash: checked against the dummy, and failed
        assert await passwords.verify_password(bounded, "x", None) is False  # slot free again

    async def test_a_login_beyond_the_bound_is_503_with_retry_after(
        self,
        settings: Settings,
        database: Database,
        officer: str,
        held_hashing: threading.Event,
    ) -> None:
        app = app_with(
            settings, database, password_hash_concurrency=1, password_hash_wait_seconds=0.1
        )
        bounded = app.state.settings
        holder = asyncio.create_task(passwords.verify_password(bounded, "x", None))
        await asyncio.sleep(0.05)
        async with client_at(app, OWNER) as client:
            busy = await login(client, officer, PASSWORD)
        assert busy.status_code == 503, busy.text
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.json()["rule"] == "password_hashing_busy"
        assert busy.headers["retry-after"] == "1"
        held_hashing.set()
        await holder
        async with client_at(app, OWNER) as client:
            assert (await login(client, officer, PASSWORD)).status_code == 200


class TestLoginThrottle:
    async def test_a_guessing_address_is_stopped_and_the_owner_still_logs_in(
        self, settings: Settings, database: Database, officer: str
    ) -> None:
        """The N-th wrong password from an address is answered 401, the next attempt from
        it 429 (even with the right password); the owner, elsewhere, logs in."""
        app = app_with(settings, database)
        async with client_at(app, ATTACKER) as attacker:
            for _ in range(settings.login_max_failures):
                assert (await login(attacker, officer, "guess")).status_code == 401
            refused = await login(attacker, officer, PASSWORD)
        assert refused.status_code == 429
        assert refused.json()["rule"] == "too_many_login_attempts"
        assert 0 < int(refused.headers["retry-after"]) <= settings.login_failure_window_seconds
        async with client_at(app, OWNER) as owner:
            assert (await login(owner, officer, PASSWORD)).status_code == 200

    async def test_spraying_across_e_mails_is_capped_per_address(
        self, settings: Settings, database: Database, officer: str
    ) -> None:
        """One wrong password per e-mail, for many e-mails: the cap per address counts them
        all. The cap-th failure is still 401, the next attempt 429, for any e-mail."""
        cap = 4
        app = app_with(settings, database, login_max_failures_per_address=cap)
        async with client_at(app, ATTACKER) as attacker:
            for n in range(cap):
                wrong = await login(attacker, f"user{n}@example.org", "Summer2026!")
                assert wrong.status_code == 401, n
            refused = await login(attacker, officer, PASSWORD)
        assert refused.status_code == 429
        assert "from this address" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        async with client_at(app, OWNER) as owner:
            assert (await login(owner, officer, PASSWORD)).status_code == 200

    async def test_a_refused_login_is_answered_late(
        self, settings: Settings, database: Database, officer: str
    ) -> None:
        app = app_with(settings, database, auth_failure_delay_seconds=0.3)
        async with client_at(app, ATTACKER) as attacker:
            started = time.monotonic()
            assert (await login(attacker, officer, "guess")).status_code == 401
            assert time.monotonic() - started >= 0.3


class TestClientAuthThrottle:
    async def test_failed_client_authentications_are_capped_per_address(
        self, settings: Settings, database: Database, partner: Actor
    ) -> None:
        cap = 3
        app = app_with(settings, database, client_auth_max_failures_per_address=cap)
        assert partner.client_id
        assert partner.client_secret
        form = {"grant_type": "client_credentials"}
        right = basic(partner.client_id, partner.client_secret)
        async with client_at(app, ATTACKER) as attacker:
            for n in range(cap):
                wrong = await attacker.post(TOKEN, data=form, headers=basic(f"wcc_x{n}", "x"))
                assert wrong.status_code == 401, n
            refused = await attacker.post(TOKEN, data=form, headers=right)
            revoke = await attacker.post("/api/v1/oauth/revoke", data={"token": "t"}, headers=right)
        assert refused.status_code == revoke.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["rule"] == "too_many_client_auth_failures"
        assert int(refused.headers["retry-after"]) > 0
        async with client_at(app, OWNER) as elsewhere:
            assert (await elsewhere.post(TOKEN, data=form, headers=right)).status_code == 200


@pytest.fixture
async def partner(session: AsyncSession, settings: Settings) -> Actor:
    return await client_actor(session, settings, scopes=["allocations:read"])


@pytest.mark.parametrize(
    ("trusted", "forwarded", "limited"),
    [
        ("", ["198.51.100.1", "198.51.100.2", "198.51.100.3"], True),
        ("127.0.0.1", ["198.51.100.1", "198.51.100.2", "198.51.100.3"], False),
        ("127.0.0.1", ["198.51.100.9"] * 3, True),
    ],
    ids=["forged-header-ignored", "trusted-proxy-distinct-clients", "trusted-proxy-one-client"],
)
async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: str, forwarded: list[str], limited: bool
) -> None:
    """On the real server (uvicorn): by default a forged X-Forwarded-For never moves a
    caller to another address, so varying it does not escape the throttle; behind a
    trusted proxy, each forwarded client is throttled on its own."""
    url, drop = await create_database("sqlite", tmp_path)
    engine = create_engine(Settings(database_url=url))
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
    environment = {
        "WECARE_CLIENT_AUTH_MAX_FAILURES_PER_ADDRESS": "2",
        "WECARE_AUTH_FAILURE_DELAY_SECONDS": "0",
        "WECARE_TRUSTED_PROXIES": trusted,
    }
    try:
        with live_server(url, tmp_path, environment=environment) as base:
            async with httpx.AsyncClient(headers=ENGLISH, base_url=base, timeout=30) as client:
                statuses = [
                    (
                        await client.post(
                            TOKEN,
                            data={"grant_type": "client_credentials"},
                            headers={**basic("wcc_nobody", "x"), "X-Forwarded-For": address},
                        )
                    ).status_code
                    for address in forwarded
                ]
    finally:
        await drop()  # type: ignore[misc]
    assert statuses == ([401, 401, 429] if limited else [401, 401, 401])


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies="10.0.0.0/8, 127.0.0.1").trusted_proxies == [  # type: ignore[arg-type]
        "10.0.0.0/8",
        "127.0.0.1",
    ]
    for bad in ("*", "proxy.internal", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="WECARE_TRUSTED_PROXIES"):
            Settings(trusted_proxies=bad)  # type: ignore[arg-type]
