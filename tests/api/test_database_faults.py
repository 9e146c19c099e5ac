"""A database that is down, out of connections, locked or slow answers 503 with Retry-After
(problem+json, nothing changed), logged as one WARNING line without a traceback; real bugs
stay 500. Real faults: a closed port, a held lock, a held pool connection, a slow statement."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from app.core.config import Settings
from app.db.session import Database, create_engine
from app.main import create_app
from tests import ENGLISH
from tests.conftest import create_database, own_database

LOGIN = {"email": "officer@example.org", "password": "not-the-password"}


@asynccontextmanager
async def serving(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://t"
    ) as client:
        yield client


@asynccontextmanager
async def served_with(settings: Settings, **changes: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app on its own engine built from ``settings`` with ``changes`` (the database was
    migrated by an engine without them: a 200 ms statement timeout would not suit DDL)."""
    changed = settings.model_copy(update=changes)
    database = Database(create_engine(changed))
    try:
        async with serving(changed, database) as client:
            yield client
    finally:
        await database.dispose()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["type"] == "/problems/database_unavailable"
    assert body["rule"] == "database_unavailable"
    assert body["retry_after"] == int(response.headers["retry-after"])


def assert_one_line_each(caplog: pytest.LogCaptureFixture, requests: int) -> None:
    """One WARNING per refused request, and no traceback anywhere in the log."""
    warnings = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(warnings) == requests
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert all(r.exc_info is None for r in caplog.records), [
        r.getMessage() for r in caplog.records if r.exc_info
    ]
    assert "Traceback" not in caplog.text


async def test_a_database_on_a_closed_port_is_503_for_reads_and_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", db_pool_timeout_seconds=1
    )
    database = Database(create_engine(settings))
    caplog.set_level(logging.INFO)
    try:
        async with serving(settings, database) as client:
            read = await client.get("/api/v1/programmes")
            write = await client.post("/api/v1/auth/login", json=LOGIN)
    finally:
        await database.dispose()
    assert_unavailable(read)
    assert_unavailable(write)
    assert "X-Request-ID" in write.headers
    assert_one_line_each(caplog, 2)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_exhausted_pool_is_503(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pool_size 1, no overflow, the one connection held elsewhere: the request gives up
    after the pool timeout with 503 instead of a 500."""
    async with own_database(
        backend, tmp_path, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.2
    ) as (database, settings):
        if backend == "sqlite":  # create_engine leaves SQLite's pool unsized: size it here
            await database.dispose()
            database = Database(_bounded_sqlite(settings))
        try:
            async with database.engine.connect() as held:
                await held.execute(text("SELECT 1"))
                caplog.set_level(logging.INFO)
                async with serving(settings, database) as client:
                    response = await client.post("/api/v1/auth/login", json=LOGIN)
        finally:
            await database.dispose()
    assert_unavailable(response)
    assert "pool exhausted" in response.json()["detail"]
    assert_one_line_each(caplog, 1)


def _bounded_sqlite(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )


async def test_a_lock_held_beyond_lock_timeout_is_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another connection holds a lock the login needs; the login gives up after
    lock_timeout (not after the client's patience) and changes nothing."""
    async with (
        own_database("postgresql", tmp_path) as (database, settings),
        database.engine.connect() as holder,
    ):
        await holder.execute(text("LOCK TABLE login_failure IN ACCESS EXCLUSIVE MODE"))
        caplog.set_level(logging.INFO)
        async with served_with(settings, db_lock_timeout_ms=200) as client:
            started = asyncio.get_running_loop().time()
            response = await client.post("/api/v1/auth/login", json=LOGIN)
            waited = asyncio.get_running_loop().time() - started
        await holder.rollback()
    assert_unavailable(response)
    assert "lock timeout" in response.json()["detail"]
    assert waited < 5
    assert_one_line_each(caplog, 1)


async def test_a_statement_beyond_statement_timeout_is_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A slow statement (the programmes, behind a view that sleeps 2 s) is cancelled by the
    server after statement_timeout."""
    async with own_database("postgresql", tmp_path) as (database, settings):
        async with database.engine.begin() as conn:
            # Every read of the programmes list now takes 2 s in the server.
            await conn.execute(text("ALTER TABLE programme RENAME TO programme_data"))
            await conn.execute(
                text(
                    "CREATE VIEW programme AS SELECT p.* FROM programme_data p, "
                    "(SELECT pg_sleep(2)) AS slow"
                )
            )
        caplog.set_level(logging.INFO)
        async with served_with(settings, db_statement_timeout_ms=200) as client:
            response = await client.get("/api/v1/programmes")
    assert_unavailable(response)
    assert "statement timeout" in response.json()["detail"]
    assert_one_line_each(caplog, 1)


async def test_sqlite_busy_beyond_busy_timeout_is_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's lock timeout is busy_timeout: a writer that cannot start its transaction
    ("database is locked") answers 503 too."""
    async with own_database("sqlite", tmp_path, sqlite_busy_timeout_ms=100) as (
        database,
        settings,
    ):
        writer = database.engine.execution_options(wecare_write=True)
        async with writer.connect() as holder:
            await holder.begin()  # BEGIN IMMEDIATE: the write lock, until rollback
            caplog.set_level(logging.INFO)
            async with serving(settings, database) as client:
                response = await client.post("/api/v1/auth/login", json=LOGIN)
            await holder.rollback()
    assert_unavailable(response)
    assert "database is locked" in response.json()["detail"]
    assert_one_line_each(caplog, 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_database_that_was_never_migrated_is_503_naming_the_upgrade(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`wecare serve` on an empty database (it warns at start): every request answers 503
    with the operator's step instead of a 500 per missing table."""
    url, drop = await create_database(backend, tmp_path)
    settings = Settings(database_url=url)
    database = Database(create_engine(settings))
    caplog.set_level(logging.INFO)
    try:
        async with serving(settings, database) as client:
            read = await client.get("/api/v1/programmes")
            write = await client.post("/api/v1/auth/login", json=LOGIN)
    finally:
        await database.dispose()
        await drop()  # type: ignore[misc]
    for response in (read, write):
        assert_unavailable(response)
        assert "wecare db upgrade" in response.json()["detail"]
        assert int(response.headers["retry-after"]) == 30
    assert_one_line_each(caplog, 2)


async def test_a_real_bug_is_still_a_500_with_its_traceback(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """An OSError of our own (not the driver's socket) is a bug, not an outage."""
    app = create_app(settings, database)  # its own: the route below is added to it

    @app.get("/broken")
    async def broken() -> None:
        Path("/nonexistent/dir/file").read_text()  # noqa: ASYNC240 (the bug on purpose)

    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert any(r.exc_info for r in caplog.records)


async def test_too_many_clients_is_503(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL refuses the connection (53300, as "too many clients" does): a role
    limited to one connection, which another client already uses."""
    role = f"wecare_limited_{uuid.uuid4().hex[:8]}"
    async with own_database("postgresql", tmp_path) as (database, settings):
        async with database.engine.connect() as admin:
            await admin.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"))
            await admin.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
            await admin.commit()
        limited_url = make_url(settings.database_url).set(username=role)
        try:
            limited = settings.model_copy(
                update={"database_url": limited_url.render_as_string(False)}
            )
            other = create_async_engine(limited.database_url)
            async with other.connect() as holder:
                await holder.execute(text("SELECT 1"))
                caplog.set_level(logging.INFO)
                async with served_with(limited) as client:
                    response = await client.post("/api/v1/auth/login", json=LOGIN)
            await other.dispose()
        finally:
            async with database.engine.connect() as admin:
                await admin.execute(text(f"REASSIGN OWNED BY {role} TO CURRENT_USER"))
                await admin.execute(text(f"DROP OWNED BY {role}"))
                await admin.execute(text(f"DROP ROLE {role}"))
                await admin.commit()
    assert_unavailable(response)
    assert "too many connections" in response.json()["detail"]
    assert_one_line_each(caplog, 1)


async def test_a_pooled_connection_killed_by_the_server_is_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server ends the pooled connection (as a restart does): the next request on it
    answers 503, and the one after is served on a new connection."""
    async with own_database("postgresql", tmp_path) as (_, settings):
        changed = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
        database = Database(create_engine(changed))
        try:
            async with serving(changed, database) as client:
                assert (await client.get("/api/v1/programmes")).status_code == 200
                async with database.engine.connect() as conn:
                    pid = await conn.scalar(text("SELECT pg_backend_pid()"))
                killer = create_async_engine(settings.database_url)
                async with killer.connect() as admin:
                    await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await killer.dispose()
                caplog.set_level(logging.INFO)
                lost = await client.get("/api/v1/programmes")
                caplog.set_level(logging.CRITICAL)
                after = await client.get("/api/v1/programmes")
        finally:
            await database.dispose()
    assert_unavailable(lost)
    assert after.status_code == 200
    assert "Traceback" not in caplog.text
