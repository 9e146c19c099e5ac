"""A request that fails after its audit event was written leaves nothing behind: not the
entity, not the event, and the chain's head where it was. Run on a database of its own so
that the request's transaction really commits or rolls back (no test SAVEPOINT)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.db.session import Database
from app.main import create_app
from app.models import AuditEvent, Organisation
from app.repositories import audit as audit_repo
from app.services import audit
from app.services.audit import verify_chain
from tests import ENGLISH
from tests.actors import Actor, tax_code, user_actor
from tests.conftest import BACKENDS, own_database

BODY = {
    "legal_name": "Cooperativa Mai Nata",
    "tax_code": tax_code(77),
    "legal_nature": "third_sector_organisation",
    "profit_status": "non_profit",
}


@dataclass
class Live:
    database: Database
    client: httpx.AsyncClient
    admin: Actor


@pytest.fixture(params=BACKENDS)
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Live]:
    async with own_database(request.param, tmp_path, signing_key_cache_seconds=0) as (
        database,
        settings,
    ):
        async with database.session(write=True) as session:
            admin = await user_actor(session, settings, Role.ADMINISTRATOR)
        transport = httpx.ASGITransport(
            app=create_app(settings, database), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://testserver"
        ) as client:
            yield Live(database, client, admin)


async def _state(database: Database) -> tuple[int, tuple[int, str], int]:
    """(events, head, organisations with the body's tax code), read afresh."""
    async with database.engine.connect() as connection:
        events = await connection.scalar(select(func.count()).select_from(AuditEvent))
        head = await audit_repo.read_head(connection)
        organisations = await connection.scalar(
            select(func.count())
            .select_from(Organisation)
            .where(Organisation.tax_code == BODY["tax_code"])
        )
        verification = await verify_chain(connection)
    assert verification.ok, verification
    return int(events or 0), head, int(organisations or 0)


async def test_a_failure_after_the_event_rolls_both_back(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await _state(live.database)
    recorded: list[AuditEvent] = []
    original = audit.record

    async def record_then_fail(session: AsyncSession, **kwargs: Any) -> AuditEvent:
        event = await original(session, **kwargs)
        recorded.append(event)
        raise RuntimeError("a failure after the audit event was written")

    monkeypatch.setattr(audit, "record", record_then_fail)
    response = await live.client.post(
        "/api/v1/organisations", json=BODY, headers=live.admin.headers
    )

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert [e.action for e in recorded] == ["organisation.create"]  # it was written, then...
    assert await _state(live.database) == before  # ...rolled back with the organisation


async def test_a_failed_commit_leaves_nothing_and_is_not_a_success(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await _state(live.database)
    seen: list[str] = []

    async def failing_commit(self: AsyncSession) -> None:
        # Everything was flushed (the organisation, the event, the head) when COMMIT fails.
        seen.extend(
            e.action for e in (await self.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        )
        raise ConnectionResetError("the connection dropped at COMMIT")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    response = await live.client.post(
        "/api/v1/organisations", json=BODY, headers=live.admin.headers
    )
    monkeypatch.undo()

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert seen[-1] == "organisation.create"
    assert await _state(live.database) == before
    # The same request then succeeds: nothing half-done stands in its way.
    again = await live.client.post("/api/v1/organisations", json=BODY, headers=live.admin.headers)
    assert again.status_code == 201, again.text
    events, (seq, _), organisations = await _state(live.database)
    assert (events, seq, organisations) == (before[0] + 1, before[1][0] + 1, 1)
