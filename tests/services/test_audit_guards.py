"""The database guards of the audit trail, even against its owner's plain SQL: TRUNCATE is
refused (PostgreSQL only: SQLite has no TRUNCATE, and its unqualified DELETE is refused by
the row triggers), the head only advances onto the event that chains from it, and
checkpoints are append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import SYSTEM
from app.services import audit, checkpoints


async def refused(session: AsyncSession, statement: str, guard: str, **params: object) -> None:
    with pytest.raises(DBAPIError, match=guard):
        async with session.begin_nested():
            await session.execute(text(statement), params)


@pytest.fixture
async def two_events(session: AsyncSession) -> int:
    for n in range(2):
        event = await audit.record(
            session, action="test.event", entity_type="test", entity_id=n, actor=SYSTEM
        )
    return event.seq


@pytest.mark.one_backend("postgresql")
class TestTruncate:
    @pytest.mark.parametrize("table", ["audit_event", "audit_head", "audit_checkpoint"])
    async def test_truncate_is_refused_even_to_the_owner(
        self, session: AsyncSession, two_events: int, table: str
    ) -> None:
        await refused(session, f"TRUNCATE {table}", f"{table}_no_truncate")
        assert await session.scalar(text("SELECT count(*) FROM audit_event")) >= two_events

    async def test_truncate_cascading_from_another_table_is_refused(
        self, session: AsyncSession, two_events: int
    ) -> None:
        await refused(
            session, "TRUNCATE audit_head, audit_event CASCADE", "audit_(head|event)_no_truncate"
        )


class TestHead:
    async def test_moving_back_is_refused(self, session: AsyncSession, two_events: int) -> None:
        await refused(
            session,
            "UPDATE audit_head SET seq = :seq, hash = (SELECT hash FROM audit_event "
            "WHERE seq = :seq) WHERE id = 1",
            "audit_head_follows_chain",
            seq=two_events - 1,
        )

    async def test_moving_past_the_events_is_refused(
        self, session: AsyncSession, two_events: int
    ) -> None:
        await refused(
            session,
            "UPDATE audit_head SET seq = seq + 1 WHERE id = 1",
            "audit_head_follows_chain",
        )

    async def test_moving_onto_an_event_that_does_not_chain_is_refused(
        self, session: AsyncSession, two_events: int
    ) -> None:
        # An appended event that names the right previous hash is accepted by audit_event's
        # guards; the head only follows it if its hash is the one stored.
        head_hash = await session.scalar(text("SELECT hash FROM audit_head"))
        await session.execute(
            text(
                "INSERT INTO audit_event (seq, occurred_at, actor_type, action, entity_type, "
                "entity_id, prev_hash, hash) VALUES (:seq, CURRENT_TIMESTAMP, 'system', "
                "'forged', 'test', 'x', :prev, :hash)"
            ),
            {"seq": two_events + 1, "prev": head_hash, "hash": "f" * 64},
        )
        await refused(
            session,
            "UPDATE audit_head SET seq = seq + 1, hash = :hash WHERE id = 1",
            "audit_head_follows_chain",
            hash="e" * 64,
        )
        # The same move onto the stored hash is how the service advances: accepted.
        await session.execute(
            text("UPDATE audit_head SET seq = seq + 1, hash = :hash WHERE id = 1"),
            {"hash": "f" * 64},
        )

    async def test_deleting_it_is_refused(self, session: AsyncSession, two_events: int) -> None:
        await refused(session, "DELETE FROM audit_head", "audit_head_follows_chain")

    async def test_the_service_moves_it_onto_each_new_event(
        self, session: AsyncSession, two_events: int
    ) -> None:
        head = (await session.execute(text("SELECT seq, hash FROM audit_head"))).one()
        last = (
            await session.execute(
                text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
            )
        ).one()
        assert tuple(head) == tuple(last) == (two_events, tuple(last)[1])


class TestCheckpointsAreAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        ["UPDATE audit_checkpoint SET hash = 'x'", "DELETE FROM audit_checkpoint"],
    )
    async def test_changes_are_refused(
        self, session: AsyncSession, two_events: int, statement: str
    ) -> None:
        made = await checkpoints.checkpoint_if_due(session, secret="s" * 40, issuer="https://t")
        assert made is not None
        await refused(session, statement, "audit_checkpoint_append_only")
