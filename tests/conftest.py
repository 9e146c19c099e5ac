"""Fixtures: every database test runs on SQLite and on PostgreSQL.

Each backend gets a fresh database built by ``alembic upgrade head`` (never create_all),
dropped at the end of the run. Each test runs inside an outer transaction that is rolled
back, with the app's sessions joining it through SAVEPOINTs.

Set WECARE_TEST_REQUIRE_POSTGRES=1 (CI does) to make an unreachable PostgreSQL a failure
rather than a skip; WECARE_TEST_POSTGRES_URL points at the server (any database on it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.core import security
from app.core.auth import Role
from app.core.config import Settings
from app.db import migrations
from app.db.session import Database, create_engine
from app.main import create_app
from app.repositories import consistency
from app.services.keys import PublicKeyCache
from tests import ENGLISH
from tests.actors import Actor, user_actor

POSTGRES_URL = os.environ.get(
    "WECARE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("WECARE_TEST_REQUIRE_POSTGRES", "") not in ("", "0", "false")
BACKENDS = ["sqlite", "postgresql"]

_DEVELOPER_ENVIRONMENT: dict[str, str] = {}


def developer_variables(environ: Mapping[str, str]) -> list[str]:
    """The service's settings exported in the shell (WECARE_*), not the test knobs."""
    return [n for n in environ if n.startswith("WECARE_") and not n.startswith("WECARE_TEST_")]


def pytest_configure(config: pytest.Config) -> None:
    """Tests never read the developer's shell: an exported WECARE_DATABASE_URL or
    WECARE_ENVIRONMENT would change what ``Settings()`` builds (and what live servers
    inherit). A hook rather than a fixture: some test modules build settings on import."""
    for name in developer_variables(os.environ):
        _DEVELOPER_ENVIRONMENT[name] = os.environ.pop(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.one_backend("postgresql")``: a test whose subject does not depend on
    the database (who may call which route) runs on that backend only, not on both; the
    other variant is deselected (reported as such), not skipped."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("one_backend")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        if marker is not None and backend is not None and backend != marker.args[0]:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    _drop_templates()
    os.environ.update(_DEVELOPER_ENVIRONMENT)
    _DEVELOPER_ENVIRONMENT.clear()


def _unreachable(exc: BaseException) -> NoReturn:
    """Fail (WECARE_TEST_REQUIRE_POSTGRES) or skip: PostgreSQL did not answer."""
    message = f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}"
    if REQUIRE_POSTGRES:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def _admin_engine() -> AsyncEngine:
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, Exception) as exc:
        await engine.dispose()
        _unreachable(exc)
    return engine


async def on_server(statement: str) -> None:
    """Run one statement on the PostgreSQL server, outside any test transaction (CREATE and
    DROP of databases and roles)."""
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def server_or_skip(statement: str) -> None:
    """:func:`on_server` from synchronous code, failing or skipping as an unreachable server
    does."""
    try:
        asyncio.run(on_server(statement))
    except (OSError, Exception) as exc:
        _unreachable(exc)


async def create_database(backend: str, tmp_dir: Path) -> tuple[str, Callable[[], object]]:
    """Create an empty database; return its URL and an async dropper."""
    if backend == "sqlite":
        path = tmp_dir / f"wecare-{uuid.uuid4().hex[:8]}.sqlite3"

        async def drop_file() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 (test teardown)

        return f"sqlite+aiosqlite:///{path}", drop_file
    admin = await _admin_engine()
    name = f"wecare_test_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop_database() -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return make_url(POSTGRES_URL).set(database=name).render_as_string(False), drop_database


# One database per backend migrated once per run (by ``alembic upgrade head``, as every
# database here is); migrated databases are copies of it (CREATE DATABASE ... TEMPLATE, or a
# copy of the SQLite file): a migration costs a second or two, a copy a fraction of that,
# and the suite makes a hundred of them. Dropped at the end of the run.
_TEMPLATES: dict[str, str] = {}
_TEMPLATE_DIR = Path(tempfile.mkdtemp(prefix="wecare-templates-"))


async def _template(backend: str) -> str:
    """The migrated template's database name (PostgreSQL) or file (SQLite)."""
    if backend not in _TEMPLATES:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{_TEMPLATE_DIR / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
        else:
            name = f"wecare_template_{uuid.uuid4().hex[:12]}"
            await on_server(f'CREATE DATABASE "{name}"')
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
        engine = create_engine(Settings(database_url=url))
        try:
            await migrations.upgrade(engine)
        finally:
            await engine.dispose()  # no connection may stay: PostgreSQL copies an idle template
        _TEMPLATES[backend] = make_url(url).database or ""
    return _TEMPLATES[backend]


def _drop_templates() -> None:
    for backend, name in _TEMPLATES.items():
        if backend == "postgresql":
            try:
                asyncio.run(on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except (OSError, Exception) as exc:  # the run's outcome stands; say what is left
                print(f"could not drop the template database {name}: {exc}")  # noqa: T201
    _TEMPLATES.clear()
    shutil.rmtree(_TEMPLATE_DIR, ignore_errors=True)


async def migrated_database(backend: str, tmp_dir: Path) -> tuple[str, Callable[[], object]]:
    """:func:`create_database`, migrated to head: a copy of the run's migrated template."""
    if backend == "sqlite":
        template = await _template(backend)
        url, drop = await create_database(backend, tmp_dir)
        shutil.copyfile(template, make_url(url).database or "")
        return url, drop
    admin = await _admin_engine()  # first: an unreachable server fails or skips here
    template = await _template(backend)
    name = f"wecare_test_{uuid.uuid4().hex[:12]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    async def drop_database() -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return make_url(POSTGRES_URL).set(database=name).render_as_string(False), drop_database


@asynccontextmanager
async def own_database(
    backend: str, tmp_dir: Path, **settings: object
) -> AsyncIterator[tuple[Database, Settings]]:
    """A migrated database of the test's own, whose transactions really commit (not the
    shared, rolled-back test transaction): for races between connections that must see each
    other's commits, and for commits that must fail. Dropped afterwards."""
    url, drop = await migrated_database(backend, tmp_dir)
    configured = Settings(database_url=url, **settings)  # type: ignore[arg-type]
    database = Database(create_engine(configured))
    try:
        yield database, configured
    finally:
        await database.dispose()
        await drop()  # type: ignore[misc]


@pytest.fixture
async def postgres_scratch(tmp_path: Path) -> AsyncIterator[Database]:
    """:func:`own_database` on PostgreSQL (scripted lock interleavings need its row locks;
    SQLite's writers queue at BEGIN IMMEDIATE)."""
    async with own_database("postgresql", tmp_path) as (database, _):
        yield database


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database per backend, for the whole run."""
    url, drop = await migrated_database(request.param, tmp_path_factory.mktemp("db"))
    yield url
    await drop()  # type: ignore[misc]


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Keys are reloaded on every request so that rotation and retirement show at once.
    # Refused credential checks are answered at once (their delay has a test of its own).
    return Settings(
        database_url=database_url,
        max_body_bytes=64 * 1024,
        # Documents go to a directory of the run's own, never the checkout's ./var/.
        document_dir=tmp_path_factory.mktemp("documents"),
        signing_key_cache_seconds=0,
        auth_failure_delay_seconds=0,
    )


@pytest.fixture(autouse=True, scope="session")
def cheap_argon2() -> Iterator[None]:
    """argon2id at minimal cost in tests: hashing strength is argon2-cffi's business."""
    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    security._hasher = original


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(
    engine: AsyncEngine, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncConnection]:
    """The test's transaction; after the test, every counter must equal the sum of its rows
    (`wecare check`), unless the test is marked ``counters_may_disagree``."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        checked = request.node.get_closest_marker("counters_may_disagree") is None
        active = outer.is_active
        found = await consistency.differences(conn) if active and checked else []
        if outer.is_active:
            await outer.rollback()
        # Fail loudly rather than skip the check unseen when the test ended the transaction.
        assert active or not checked, (
            "the test's outer transaction ended before the after-test consistency check "
            "(something committed or rolled back the shared connection)"
        )
        assert not found, "counters disagree with their rows: " + "; ".join(map(str, found))


@pytest.fixture
def database(engine: AsyncEngine, connection: AsyncConnection) -> Database:
    return Database(engine, bind=connection)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """A session on the test's transaction, for arranging and asserting on the database."""
    async with database.session(write=True) as session:
        yield session


@pytest.fixture
async def admin(session: AsyncSession, settings: Settings) -> Actor:
    """An administrator with a token (a module may define its own)."""
    return await user_actor(session, settings, Role.ADMINISTRATOR)


@pytest.fixture
async def officer(session: AsyncSession, settings: Settings) -> Actor:
    """A regional officer with a token (a module may define its own)."""
    return await user_actor(session, settings, Role.OFFICER)


@pytest.fixture(scope="session")
def shared_app(settings: Settings, engine: AsyncEngine) -> FastAPI:
    """The run's app, per backend. Building one costs about 0.4 s of CPU (FastAPI builds
    every route's models, on the first request), more than most tests take: the suite
    spent a third of its time there. Each test lends it its own transaction (``app``)."""
    return create_app(settings, Database(engine))


@pytest.fixture
def app(shared_app: FastAPI, settings: Settings, database: Database) -> Iterator[FastAPI]:
    """The run's app on this test's transaction, with a key cache of its own. Dependency
    overrides end with the test; a test that adds routes, or needs other settings, builds
    an app of its own (``create_app``), which the check after the test holds it to."""
    routes = len(shared_app.router.routes)
    shared_app.state.database = database
    shared_app.state.key_cache = PublicKeyCache(
        settings.signing_key_cache_seconds, secret=settings.secret
    )
    yield shared_app
    shared_app.dependency_overrides.clear()
    assert len(shared_app.router.routes) == routes, "a test changed the shared app's routes"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        yield client
