"""Verifying the chain on a live database: events committed while the walk runs are not a
broken head, and rows added beyond the head, or a head moved back, are still caught."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.context import SYSTEM
from app.core.domain import PhaseKind
from app.db.session import Database
from app.repositories import audit as audit_repo
from app.services import audit
from app.services.audit import canonical, verify_chain
from tests.conftest import BACKENDS, own_database
from tests.tamper import lift_audit_guards


@pytest.fixture(params=BACKENDS)
async def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database of its own whose transactions really commit (not the shared,
    rolled-back test transaction): the race needs two connections that see each other."""
    async with own_database(request.param, tmp_path) as (database, _):
        yield database


async def commit_event(database: Database, n: int) -> None:
    """One event in its own committed transaction, as a concurrent request would add it."""
    async with database.session(write=True) as session:
        await audit.record(
            session,
            action="test.event",
            entity_type="test",
            entity_id=n,
            after={"n": n},
            actor=SYSTEM,
        )


async def test_events_committed_during_the_walk_do_not_break_it(
    scratch: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await commit_event(scratch, n)
    original = audit_repo.stream_events
    written: list[int] = []

    async def racing(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        # Another request commits after the first event read, and again after the last
        # batch (where a head read at the end would be compared with a walk that ended).
        async for row in original(*args, **kwargs):
            yield row
            if not written:
                written.append(100)
                await commit_event(scratch, 100)
        written.append(101)
        await commit_event(scratch, 101)

    monkeypatch.setattr(audit_repo, "stream_events", racing)
    async with scratch.engine.connect() as connection:
        during = await verify_chain(connection)
    assert written == [100, 101]
    assert during.ok, during
    assert (during.events, during.head_seq) == (3, 3)

    monkeypatch.setattr(audit_repo, "stream_events", original)
    async with scratch.engine.connect() as connection:
        after = await verify_chain(connection)
    assert after.ok, after
    assert (after.events, after.head_seq) == (5, 5)


@pytest.fixture
async def three_events(session: AsyncSession) -> int:
    """Three events on the test's transaction; returns the head's sequence number."""
    for n in range(3):
        event = await audit.record(
            session, action="test.event", entity_type="test", entity_id=n, actor=SYSTEM
        )
    await session.flush()
    return event.seq


async def test_an_intact_chain_passes(connection: AsyncConnection, three_events: int) -> None:
    result = await verify_chain(connection)
    assert result.ok, result
    assert result.events == result.head_seq == three_events


async def test_a_row_added_beyond_the_head_is_caught(
    connection: AsyncConnection, three_events: int
) -> None:
    # A copy of the last event under the next sequence number, the head left alone.
    await connection.execute(
        text(
            "INSERT INTO audit_event (seq, occurred_at, actor_type, actor_id, request_id, "
            "idempotency_key, action, entity_type, entity_id, before, after, reason, "
            "prev_hash, hash) SELECT seq + 1, occurred_at, actor_type, actor_id, request_id, "
            "idempotency_key, action, entity_type, entity_id, before, after, reason, hash, "
            "'forged' FROM audit_event WHERE seq = :seq"
        ),
        {"seq": three_events},
    )
    result = await verify_chain(connection)
    assert not result.ok
    assert result.first_broken_seq == three_events + 1
    assert result.reason == "events lie beyond the head"


async def test_a_head_moved_back_is_caught(connection: AsyncConnection, three_events: int) -> None:
    # The head rewound to the event before the last, with that event's true hash: the walk
    # up to it is intact, but the last event now lies beyond the head. (The owner, past the
    # head's guard: the service's own role cannot, test_audit_guards.py.)
    await lift_audit_guards(connection)
    await connection.execute(
        text(
            "UPDATE audit_head SET seq = :seq - 1, "
            "hash = (SELECT hash FROM audit_event WHERE seq = :seq - 1) WHERE id = 1"
        ),
        {"seq": three_events},
    )
    result = await verify_chain(connection)
    assert not result.ok
    assert result.head_seq == three_events - 1
    assert result.first_broken_seq == three_events
    assert result.reason == "events lie beyond the head"


async def test_a_head_ahead_of_the_events_is_caught(
    connection: AsyncConnection, three_events: int
) -> None:
    await lift_audit_guards(connection)
    await connection.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1"))
    result = await verify_chain(connection)
    assert not result.ok
    assert result.first_broken_seq == three_events + 1
    assert result.reason == "the head does not match the last event"


def test_canonical_json_keeps_plain_values_and_turns_the_rest_into_text() -> None:
    """Scalars pass through as they are (the walk's fast path); an enum member, a
    str subclass, still becomes its value, and nested values are converted too."""
    at = datetime(2025, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    content = {
        "z": PhaseKind.SUBMISSION,
        "n": 1,
        "f": 1.5,
        "b": True,
        "none": None,
        "s": "Società",
        "nested": {"at": at, "id": uuid.UUID(int=1), "amount": Decimal("10.50")},
    }
    assert canonical(content) == (
        '{"b":true,"f":1.5,"n":1,"nested":{"amount":"10.50",'
        '"at":"2025-01-01T00:00:00+00:00","id":"00000000-0000-0000-0000-000000000001"},'
        '"none":null,"s":"Società","z":"submission"}'
    )
