"""Two unrelated changes audited at once on PostgreSQL: the second's append starts while the
first holds the chain's head, and must chain from the head the first leaves behind.

Its statement's snapshot predates the first's COMMIT: an append that looked for the head
by its hash in that snapshot would find no row to move (the event inserted, the head left
behind, a 500). Nothing before a grant's counters serialises such writers, only the head."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import Database
from app.models.audit import AuditEvent
from app.services import audit
from tests.concurrency.scripted import second_waits


@pytest.fixture
async def scratch(postgres_scratch: Database) -> Database:
    return postgres_scratch


def _append(entity_id: str) -> Any:
    async def step(session: AsyncSession) -> AuditEvent:
        return await audit.record(
            session, action="test.append", entity_type="test", entity_id=entity_id
        )

    return step


async def test_an_append_queued_behind_the_head_chains_from_the_new_head(
    scratch: Database,
) -> None:
    async with scratch.session(write=True) as first:
        before = await audit.record(first, action="test.append", entity_type="test", entity_id=0)
    second = await second_waits(
        scratch, _append("1"), _append("2"), unless="the second append did not wait for the head"
    )
    assert isinstance(second, AuditEvent), second
    assert second.seq == before.seq + 2
    async with scratch.engine.connect() as connection:
        verification = await audit.verify_chain(connection)
    assert verification.ok, verification.reason
    assert verification.head_seq == second.seq
