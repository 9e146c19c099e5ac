"""GET /metrics: protected, out of the public contract, and counting what it says it counts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.metrics import create_metrics_app
from app.core.auth import Role
from app.core.config import Settings
from app.core.metrics import POOL_IN_USE, POOL_OVERFLOW, POOL_WAITING, forget_dead_workers
from app.db.session import Database, create_engine
from app.main import create_app
from tests import ENGLISH
from tests.actors import PASSWORD, Actor, client_actor, user_actor
from tests.api.v1.flows import grant, problem
from tests.observability import METRICS_TOKEN, moved, parse_samples, scrape, value
from tests.world import approved, budget

GRANTS = "wecare_grants_total"


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    """The service with WECARE_METRICS=bearer."""
    metered = settings.model_copy(
        update={"metrics": "bearer", "metrics_token": SecretStr(METRICS_TOKEN)}
    )
    return create_app(metered, database)


class TestProtection:
    @pytest.mark.parametrize(
        ("authorization", "error"),
        [
            (None, None),
            ("Bearer not-the-metrics-token-at-all-000000", "invalid_token"),
            (f"Basic {METRICS_TOKEN}", "invalid_token"),
        ],
    )
    async def test_without_the_token_it_is_a_401_problem(
        self, client: httpx.AsyncClient, authorization: str | None, error: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        body = problem(await client.get("/metrics", headers=headers), 401, "unauthenticated")
        assert body.get("error") == error
        assert "wecare_" not in str(body)

    async def test_an_access_token_is_not_the_metrics_token(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """No role reads the metrics with its access token, an administrator's included."""
        admin = await user_actor(session, settings, Role.ADMINISTRATOR)
        partner = await client_actor(session, settings, scopes=["pledges:read"])
        for caller in (admin, partner):
            body = problem(
                await client.get("/metrics", headers=caller.headers), 401, "unauthenticated"
            )
            assert body["error"] == "invalid_token"

    async def test_with_the_token_it_is_the_exposition(self, client: httpx.AsyncClient) -> None:
        samples = await scrape(client)
        assert value(samples, "wecare_db_pool_in_use") >= 0
        assert any(name == "wecare_audit_chain_length" for name, _ in samples)

    async def test_it_is_not_in_the_public_openapi_document(self, app: FastAPI) -> None:
        assert "/metrics" not in app.openapi()["paths"]

    async def test_off_by_default(self, settings: Settings, database: Database) -> None:
        assert Settings().metrics == "off"
        default = create_app(settings, database)
        transport = httpx.ASGITransport(app=default)
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://t"
        ) as client:
            response = await client.get("/metrics", headers={"Authorization": "Bearer x"})
        assert_not_found(response)

    def test_bearer_mode_needs_a_strong_token(self) -> None:
        with pytest.raises(ValidationError, match="WECARE_METRICS_TOKEN"):
            Settings(metrics="bearer")
        with pytest.raises(ValidationError, match="WECARE_METRICS_TOKEN"):
            Settings(metrics="bearer", metrics_token=SecretStr("short"))
        with pytest.raises(ValidationError, match="WECARE_METRICS_TOKEN"):
            Settings(metrics="bearer", metrics_token=SecretStr("a" * 40))
        assert Settings(metrics="bearer", metrics_token=SecretStr(METRICS_TOKEN)).metrics_token


class TestCounts:
    async def test_a_grant_and_a_refused_grant_move_their_counters_by_one(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await budget(session, total=10_000, call_budget=1_500)
        first = await approved(session, world, requested=1_000, n=1)
        second = await approved(session, world, requested=1_000, n=2)
        before = await scrape(client)
        assert (await grant(client, officer, first.id, "1000.00")).status_code == 201
        problem(await grant(client, officer, second.id, "1000.00"), 409, "call_budget_cap")
        after = await scrape(client)
        assert moved(before, after, GRANTS) == {
            (GRANTS, frozenset({("outcome", "accepted"), ("rule", "")})): 1.0,
            (GRANTS, frozenset({("outcome", "refused"), ("rule", "call_budget_cap")})): 1.0,
        }
        route = "/api/v1/allocations"
        requests = "wecare_http_requests_total"
        assert moved(before, after, requests) == {
            (requests, frozenset({("method", "POST"), ("route", route), ("status", "201")})): 1,
            (requests, frozenset({("method", "POST"), ("route", route), ("status", "409")})): 1,
            # the first scrape, counted once it was answered
            (requests, frozenset({("method", "GET"), ("route", "/metrics"), ("status", "200")})): 1,
        }
        count = "wecare_http_request_duration_seconds_count"
        assert (
            value(after, count, method="POST", route=route)
            - value(before, count, method="POST", route=route)
            == 2
        )
        buckets = [
            labels
            for name, labels in after
            if name == "wecare_http_request_duration_seconds_bucket" and ("route", route) in labels
        ]
        assert buckets, "the latency histogram is labelled by the route template"
        # The accepted grant held the counters' locks once; the refusal, decided from the
        # grant's read, took none.
        held = "wecare_grant_critical_section_seconds_count"
        assert value(after, held) - value(before, held) == 1

    async def test_tokens_issued_and_failed_logins(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        await user_actor(session, settings, Role.OFFICER, email="metrics@example.org")
        partner = await client_actor(session, settings, scopes=["pledges:read"])
        assert partner.client_id is not None
        assert partner.client_secret is not None
        before = await scrape(client)
        login = {"email": "metrics@example.org", "password": PASSWORD}
        assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
        wrong = {**login, "password": "not the password"}
        problem(await client.post("/api/v1/auth/login", json=wrong), 401, "invalid_credentials")
        token = await client.post(
            "/api/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner.client_id, partner.client_secret),
        )
        assert token.status_code == 200, token.text
        after = await scrape(client)
        issued = "wecare_tokens_issued_total"
        assert moved(before, after, issued) == {
            (issued, frozenset({("grant", "password")})): 1,
            (issued, frozenset({("grant", "client_credentials")})): 1,
        }
        failures = "wecare_login_failures_total"
        assert moved(before, after, failures) == {
            (failures, frozenset({("rule", "invalid_credentials")})): 1
        }

    async def test_the_audit_chain_and_its_newest_checkpoint(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        admin = await user_actor(session, settings, Role.ADMINISTRATOR)
        head = await client.get("/api/v1/audit-events/head", headers=admin.headers)
        assert head.status_code == 200
        samples = await scrape(client)
        assert value(samples, "wecare_audit_chain_length") == head.json()["seq"]
        made = await client.post("/api/v1/audit/checkpoints", headers=admin.headers)
        assert made.status_code == 201, made.text
        samples = await scrape(client)
        head = await client.get("/api/v1/audit-events/head", headers=admin.headers)
        length = value(samples, "wecare_audit_chain_length")
        assert length == head.json()["seq"]
        # The checkpoint signed the head before its own audit event was appended.
        assert value(samples, "wecare_audit_events_since_checkpoint") == (
            length - made.json()["seq"]
        )
        assert 0 <= value(samples, "wecare_audit_checkpoint_age_seconds") < 60


def pool_figures() -> tuple[float, float, float]:
    """This process's in use, waiting and overflow (the gauges the exposition reports)."""
    return (POOL_IN_USE._value.get(), POOL_WAITING._value.get(), POOL_OVERFLOW._value.get())


def since(base: tuple[float, float, float]) -> tuple[float, float, float]:
    now = pool_figures()
    return (now[0] - base[0], now[1] - base[1], now[2] - base[2])


class TestPool:
    async def test_connections_in_use(self, settings: Settings) -> None:
        engine = create_engine(settings)
        base = pool_figures()
        try:
            first = await engine.connect()
            second = await engine.connect()
            assert since(base)[0] == 2
            await first.close()
            assert since(base)[0] == 1
            await second.close()
            assert since(base) == (0, 0, 0)
        finally:
            await engine.dispose()

    @pytest.mark.one_backend("postgresql")  # SQLite's pool keeps SQLAlchemy's sizes
    async def test_waiting_and_overflow(self, settings: Settings) -> None:
        """One pooled connection and one of overflow: a third caller waits."""
        small = settings.model_copy(
            update={"db_pool_size": 1, "db_max_overflow": 1, "db_pool_timeout_seconds": 10}
        )
        engine = create_engine(small)
        base = pool_figures()
        try:
            first = await engine.connect()
            second = await engine.connect()
            assert since(base) == (2, 0, 1)
            third = asyncio.create_task(engine.connect().start())
            for _ in range(250):
                if since(base)[1] == 1:
                    break
                await asyncio.sleep(0.02)
            assert since(base) == (2, 1, 1), "the third caller waits for a connection"
            await first.close()
            connection = await asyncio.wait_for(third, timeout=10)
            assert since(base) == (2, 0, 1)
            await connection.close()
            await second.close()
            assert since(base) == (0, 0, 0)
        finally:
            await engine.dispose()


class TestOwnPort:
    @pytest.fixture
    async def port_client(self, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        app = create_metrics_app(settings.model_copy(update={"metrics": "port"}))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                headers=ENGLISH, transport=transport, base_url="http://metrics"
            ) as client,
        ):
            yield client

    async def test_the_metrics_port_serves_them_without_a_token(
        self, port_client: httpx.AsyncClient
    ) -> None:
        samples = await scrape(port_client, headers={})
        assert any(name == "wecare_db_pool_in_use" for name, _ in samples)

    async def test_the_metrics_port_serves_nothing_else(
        self, port_client: httpx.AsyncClient
    ) -> None:
        assert_not_found(await port_client.get("/api/v1/programmes"))
        assert_not_found(await port_client.get("/openapi.json"))


PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)


@pytest.fixture(scope="module")
def metered_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """One app for every generated example (building one costs a second or more; a refused
    scrape touches neither the app's state nor its database)."""
    metered = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('metrics')}/unused.sqlite3",
        metrics="bearer",
        metrics_token=SecretStr(METRICS_TOKEN),
    )
    return create_app(metered)


@hypothesis_settings(max_examples=40, deadline=None, derandomize=True)
@given(
    authorization=st.one_of(
        st.text(PRINTABLE, max_size=80),
        st.text(PRINTABLE, max_size=60).map(lambda token: f"Bearer {token}"),
        st.text(PRINTABLE, max_size=20).map(lambda tail: f"Bearer {METRICS_TOKEN}{tail}x"),
    ),
    query=st.dictionaries(st.text(PRINTABLE, min_size=1, max_size=8), st.text(max_size=20)),
)
def test_any_other_authorization_is_a_401_problem(
    metered_app: FastAPI, authorization: str, query: dict[str, str]
) -> None:
    """Generated headers and query strings: never a 5xx, never the metrics."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=metered_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://t"
        ) as client:
            return await client.get(
                "/metrics", headers={"Authorization": authorization}, params=query
            )

    response = asyncio.run(call())
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "wecare_" not in response.text


def test_parse_samples_reads_labels() -> None:
    samples = parse_samples('# TYPE x counter\nx_total{a="b"} 2.0\n')
    assert value(samples, "x_total", a="b") == 2.0
    assert value(samples, "x_total", a="c") == 0.0


def test_the_gauges_of_a_dead_worker_are_forgotten(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    for name in (
        f"gauge_livesum_{dead_pid}.db",
        f"gauge_livesum_{os.getpid()}.db",
        f"counter_{dead_pid}.db",
    ):
        (tmp_path / name).touch()
    assert forget_dead_workers(tmp_path) == [dead_pid]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{dead_pid}.db",  # what it counted happened
        f"gauge_livesum_{os.getpid()}.db",
    ]
