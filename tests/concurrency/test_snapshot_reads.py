"""Reports read one snapshot: a grant committed between two of a report's statements shows
in all of its figures or in none.

On PostgreSQL plain reads run in autocommit (each statement its own snapshot); the report
opts in to one REPEATABLE READ, READ ONLY transaction. SQLite's read transaction is already
one snapshot (WAL). These tests need databases of their own: the shared test transaction
would hide the concurrent commit.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.util import await_only

from app.core.auth import Principal, Role
from app.core.config import Settings
from app.db.session import Database, create_engine
from app.main import create_app
from app.schemas.application import AllocationCreate
from app.services import allocations
from tests import ENGLISH
from tests.conftest import BACKENDS, own_database
from tests.world import approved, budget

REGION = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)


@pytest.fixture(params=BACKENDS)
async def databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Database, Database]]:
    """The app's database and another one on the same data, for the concurrent writer."""
    async with own_database(request.param, tmp_path) as (reader, settings):
        writer = Database(create_engine(settings))
        try:
            yield reader, writer
        finally:
            await writer.dispose()


async def test_a_grant_committed_during_the_report_is_in_all_figures_or_none(
    databases: tuple[Database, Database],
) -> None:
    reader, writer = databases
    async with writer.session(write=True) as arrange:
        world = await budget(arrange, total=100_000)
        application = await approved(arrange, world, requested=1_000)
        programme_id, application_id = world.programme.id, application.id

    async def grant() -> None:
        async with writer.session(write=True) as session:
            await allocations.grant_allocation(
                session,
                data=AllocationCreate(application_id=application_id, amount=Decimal("1000.00")),
                principal=REGION,
            )

    fired: list[str] = []

    def commit_a_grant_after_the_first_statement(*args: Any) -> None:
        statement = str(args[2])
        if not fired and statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN
            fired.append(statement)
            await_only(grant())  # in SQLAlchemy's greenlet: runs the coroutine to its end

    event.listen(
        reader.engine.sync_engine, "after_cursor_execute", commit_a_grant_after_the_first_statement
    )
    app = create_app(Settings(database_url=str(reader.engine.url)), reader)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://t"
    ) as client:
        report = (await client.get(f"/api/v1/programmes/{programme_id}/report")).json()
        after = (await client.get(f"/api/v1/programmes/{programme_id}/report")).json()

    assert fired, "the grant was not committed mid-report"
    assert "programme" in fired[0]
    measures = sum(Decimal(m["allocated"]) for m in report["measures"])
    calls = sum(Decimal(c["allocated"]) for m in report["measures"] for c in m["calls"])
    assert Decimal(report["allocated"]) == measures == calls, report
    assert Decimal(after["allocated"]) == Decimal("1000.00")  # the grant did land


async def test_only_snapshot_reads_pay_for_a_transaction(
    databases: tuple[Database, Database],
) -> None:
    """On PostgreSQL the plain reads stay in autocommit (each statement its own transaction,
    no BEGIN/COMMIT round trips); the snapshot read is REPEATABLE READ and READ ONLY."""
    database, _ = databases
    if database.dialect != "postgresql":
        pytest.skip("SQLite readers are one transaction already")
    now = text("SELECT now()")
    async with database.session(write=False) as plain:
        first = await plain.scalar(now)
        await asyncio.sleep(0.01)
        assert await plain.scalar(now) != first, "plain reads are no longer in autocommit"
    async with database.session(write=False, snapshot=True) as snapshot:
        first = await snapshot.scalar(now)
        await asyncio.sleep(0.01)
        assert await snapshot.scalar(now) == first
        assert await snapshot.scalar(text("SHOW transaction_isolation")) == "repeatable read"
        assert await snapshot.scalar(text("SHOW transaction_read_only")) == "on"
    async with database.session(write=False) as plain:  # the pooled connection was reset
        assert await plain.scalar(text("SHOW transaction_read_only")) == "off"
