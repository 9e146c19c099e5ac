"""The runtime role (PostgreSQL only: SQLite has no roles). Migrations run as the tables'
owner; the service connects as a role granted by `wecare db grant-runtime`, which may only
append to the audit trail: UPDATE, DELETE and TRUNCATE of audit_event are refused to it, it
cannot switch a trigger off, and the head it moves only advances. A real service flow (a
login, an organisation created, a checkpoint signed, `wecare prune`) works under it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli import main
from app.core.auth import Role
from app.core.config import Settings, get_settings
from app.core.context import SYSTEM
from app.db import roles
from app.db.session import Database, create_engine
from app.main import create_app
from app.services import audit, housekeeping, users
from app.services.audit import trusted_keys, verify_chain
from tests import ENGLISH
from tests.actors import PASSWORD, tax_code
from tests.conftest import POSTGRES_URL, on_server, own_database, server_or_skip


@dataclass
class Deployment:
    owner: Database
    runtime: Database
    runtime_settings: Settings
    role: str


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    """A migrated database of its own, a new role granted as the runtime role, dropped after."""
    role = f"wecare_rt_{uuid.uuid4().hex[:10]}"
    async with own_database("postgresql", tmp_path) as (owner, configured):
        await on_server(f"CREATE ROLE {role} LOGIN")
        try:
            async with owner.engine.begin() as conn:
                await roles.grant_runtime(conn, role)
            url = make_url(configured.database_url).set(username=role)
            runtime_settings = Settings(
                database_url=url.render_as_string(False), signing_key_cache_seconds=0
            )
            runtime = Database(create_engine(runtime_settings))
            try:
                yield Deployment(owner, runtime, runtime_settings, role)
            finally:
                await runtime.dispose()
        finally:
            # The database goes first (own_database), taking the role's privileges with it.
            await owner.dispose()
    await on_server(f"DROP ROLE IF EXISTS {role}")


async def _events(database: Database, count: int) -> None:
    async with database.session(write=True) as session:
        for n in range(count):
            await audit.record(
                session, action="test.event", entity_type="test", entity_id=n, actor=SYSTEM
            )


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit_event SET reason = 'x'", "permission denied"),
        ("DELETE FROM audit_event", "permission denied"),
        ("TRUNCATE audit_event", "permission denied"),
        ("UPDATE audit_checkpoint SET hash = 'x'", "permission denied"),
        ("DELETE FROM audit_checkpoint", "permission denied"),
        ("TRUNCATE audit_head", "permission denied"),
        ("DELETE FROM audit_head", "permission denied"),
        ("UPDATE ranking SET decree_reference = 'x'", "permission denied"),
        ("DELETE FROM ranking_entry", "permission denied"),
        ("ALTER TABLE audit_event DISABLE TRIGGER USER", "must be owner"),
        ("ALTER TABLE audit_head DISABLE TRIGGER USER", "must be owner"),
        ("DROP TABLE audit_event", "must be owner"),
        ("UPDATE audit_head SET seq = seq - 1", "audit_head_follows_chain"),
        ("UPDATE audit_head SET seq = seq + 1", "audit_head_follows_chain"),
    ],
)
async def test_the_runtime_role_cannot_erase_or_rewrite_the_trail(
    deployment: Deployment, statement: str, refusal: str
) -> None:
    await _events(deployment.owner, 3)
    with pytest.raises(DBAPIError, match=refusal):
        async with deployment.runtime.engine.begin() as conn:
            await conn.execute(text(statement))
    async with deployment.owner.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM audit_event")) == 3
        assert await conn.scalar(text("SELECT seq FROM audit_head")) == 3


async def test_a_real_service_flow_works_under_the_runtime_role(deployment: Deployment) -> None:
    async with deployment.owner.session(write=True) as session:
        await users.create_user(
            session,
            email="admin@example.org",
            display_name="Admin",
            password=PASSWORD,
            role=Role.ADMINISTRATOR,
            organisation_ids=[],
        )
    app = create_app(deployment.runtime_settings, deployment.runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        assert (await client.get("/readyz")).status_code == 200  # reads alembic_version
        login = await client.post(
            "/api/v1/auth/login", json={"email": "admin@example.org", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await client.post(
            "/api/v1/organisations",
            headers=headers,
            json={
                "legal_name": "Cooperativa Runtime",
                "tax_code": tax_code(77),
                "legal_nature": "third_sector_organisation",
                "profit_status": "non_profit",
            },
        )
        assert created.status_code == 201, created.text
        checkpoint = await client.post("/api/v1/audit/checkpoints", headers=headers)
        assert checkpoint.status_code == 201, checkpoint.text
        trail = await client.get("/api/v1/audit-events", headers=headers)
        actions = [event["action"] for event in trail.json()["items"]]
    assert actions == [
        "user.create",
        "signing_key.rotate",
        "auth.login",
        "organisation.create",
        "audit_checkpoint.create",
    ]
    async with deployment.runtime.session(write=True) as session:
        await housekeeping.prune(session, deployment.runtime_settings)  # DELETEs its rows
    async with deployment.runtime.engine.connect() as conn:
        result = await verify_chain(
            conn, keys=await trusted_keys(conn, secret=deployment.runtime_settings.secret)
        )
    assert result.ok, result
    assert result.checkpoints == 1


async def _privileges(engine: AsyncEngine, role: str, table: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE',"
                "'REFERENCES','TRIGGER']) AS p WHERE has_table_privilege(:role, :table, p)"
            ),
            {"role": role, "table": table},
        )
        return set(rows.scalars())


async def test_the_grants_are_exactly_what_the_service_needs_and_idempotent(
    deployment: Deployment,
) -> None:
    async with deployment.owner.engine.begin() as conn:
        await conn.execute(text(f"GRANT TRUNCATE ON audit_event TO {deployment.role}"))
        await roles.grant_runtime(conn, deployment.role)  # again: the extra grant is gone
    expected = {
        "audit_event": {"SELECT", "INSERT"},
        "audit_checkpoint": {"SELECT", "INSERT"},
        "ranking": {"SELECT", "INSERT"},
        "ranking_entry": {"SELECT", "INSERT"},
        "audit_head": {"SELECT", "UPDATE"},
        "alembic_version": {"SELECT"},
        "allocation": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "idempotency_key": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    }
    for table, privileges in expected.items():
        assert await _privileges(deployment.owner.engine, deployment.role, table) == privileges


async def test_the_owner_or_a_superuser_is_refused_as_the_runtime_role(
    deployment: Deployment,
) -> None:
    async with deployment.owner.engine.begin() as conn:
        owner = await conn.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = 'call'"))
        with pytest.raises(roles.RuntimeRoleRefused, match="is a superuser"):
            await roles.grant_runtime(conn, str(owner))
        await conn.execute(text(f"ALTER TABLE call OWNER TO {deployment.role}"))
        with pytest.raises(roles.RuntimeRoleRefused, match="owns call"):
            await roles.grant_runtime(conn, deployment.role)
        await conn.execute(text(f"ALTER TABLE call OWNER TO {owner}"))
        with pytest.raises(roles.RuntimeRoleRefused, match="does not exist"):
            await roles.grant_runtime(conn, "wecare_no_such_role")
        with pytest.raises(roles.RuntimeRoleRefused, match="not a plain role name"):
            await roles.grant_runtime(conn, 'x"; DROP TABLE call; --')


@pytest.fixture
def two_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """An empty database, a new role, and the two URLs the README's setup exports."""
    name, role = f"wecare_test_{uuid.uuid4().hex[:12]}", f"wecare_rt_{uuid.uuid4().hex[:10]}"
    server_or_skip(f'CREATE DATABASE "{name}"')
    asyncio.run(on_server(f"CREATE ROLE {role} LOGIN"))
    owner_url = make_url(POSTGRES_URL).set(database=name)
    runtime_url = owner_url.set(username=role)
    urls = (owner_url.render_as_string(False), runtime_url.render_as_string(False))
    monkeypatch.setenv("WECARE_MIGRATION_DATABASE_URL", urls[0])
    monkeypatch.setenv("WECARE_DATABASE_URL", urls[1])
    get_settings.cache_clear()
    try:
        yield urls
    finally:
        get_settings.cache_clear()
        asyncio.run(on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(on_server(f"DROP ROLE IF EXISTS {role}"))


def test_the_documented_setup_runs_the_service_as_the_runtime_role(
    two_urls: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """README "Running on PostgreSQL": upgrade, grant-runtime and seed as the owner; the
    commands of the service itself as the runtime role."""
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "grant-runtime"]) == 0  # the role named by WECARE_DATABASE_URL
    assert main(["db", "grant-runtime"]) == 0  # idempotent
    assert main(["seed"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert "1 checkpoints" in capsys.readouterr().out


def test_grant_runtime_refuses_a_single_owner_url(
    two_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One URL for both (the owner runs the service): the command says why it refuses."""
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setenv("WECARE_DATABASE_URL", two_urls[0])
    get_settings.cache_clear()
    capsys.readouterr()
    assert main(["db", "grant-runtime"]) == 1
    assert "superuser" in capsys.readouterr().err
