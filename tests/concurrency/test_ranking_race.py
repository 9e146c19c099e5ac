"""Publications of one call's ranking at once (PostgreSQL, scripted): they queue on the
call's row, so two publications give versions 1 and 2 (the second replacing the first), or,
through the API's If-Match on the draft, the second is refused (412); and the unique
(call, version) constraint refuses a second version 1 even past the lock."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.etag import etag_of, require_if_match
from app.core.auth import ROLE_SCOPES, Principal, Role
from app.core.errors import CONSTRAINT_ERRORS, PreconditionFailed, RankingPublishedMeanwhile
from app.db.guards import violated_constraint
from app.db.session import Database
from app.models import Ranking
from app.schemas.ranking import RankingPublish
from app.services import rankings
from tests.concurrency.scripted import second_waits
from tests.world import budget, with_grid

OFFICER = Principal(
    kind="user", id=uuid.uuid4(), role=Role.OFFICER, scopes=frozenset(ROLE_SCOPES[Role.OFFICER])
)
DECREE = RankingPublish(decree_reference="DD 1/2026", decree_date=date(2026, 12, 1))


@pytest.fixture
async def call_id(postgres_scratch: Database) -> uuid.UUID:
    async with postgres_scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000, code="RACE")
        await with_grid(arrange, world.call)
    return world.call.id


async def _publish(session: AsyncSession, call_id: uuid.UUID, *, lock: bool = True) -> Any:
    draft = await rankings.load_draft(session, OFFICER, call_id, lock=lock)
    return await rankings.publish(session, draft, data=DECREE, principal=OFFICER)


async def _versions(database: Database, call_id: uuid.UUID) -> list[tuple[int, int | None]]:
    async with database.session(write=False) as check:
        rows = list(
            await check.scalars(
                select(Ranking).where(Ranking.call_id == call_id).order_by(Ranking.version)
            )
        )
    ids = {r.id: r.version for r in rows}
    return [(r.version, ids.get(r.replaces_id) if r.replaces_id else None) for r in rows]


async def test_two_publications_at_once_are_versions_1_and_2(
    postgres_scratch: Database, call_id: uuid.UUID
) -> None:
    outcome = await second_waits(
        postgres_scratch, lambda s: _publish(s, call_id), lambda s: _publish(s, call_id)
    )
    assert isinstance(outcome, Ranking), outcome
    assert await _versions(postgres_scratch, call_id) == [(1, None), (2, 1)]


async def test_the_second_of_two_publications_of_one_draft_is_refused(
    postgres_scratch: Database, call_id: uuid.UUID
) -> None:
    """What the route does: the draft both officers read names no version yet; once the
    first is published the draft names version 1, and the second's If-Match no longer holds."""
    async with postgres_scratch.session(write=False) as read:
        seen = etag_of((await rankings.load_draft(read, OFFICER, call_id)).read)

    async def publish_seen(session: AsyncSession) -> Any:
        draft = await rankings.load_draft(session, OFFICER, call_id, lock=True)

        sent = Request({"type": "http", "headers": [(b"if-match", seen.encode())]})
        require_if_match(sent, draft.read)
        return await rankings.publish(session, draft, data=DECREE, principal=OFFICER)

    outcome = await second_waits(postgres_scratch, publish_seen, publish_seen)
    assert isinstance(outcome, PreconditionFailed), outcome
    assert await _versions(postgres_scratch, call_id) == [(1, None)]


async def test_the_database_refuses_a_second_version_1(
    postgres_scratch: Database, call_id: uuid.UUID
) -> None:
    """Without the call's lock both read "no version yet": the second's INSERT waits on the
    unique index, then is refused, never a second version 1."""
    outcome = await second_waits(
        postgres_scratch,
        lambda s: _publish(s, call_id, lock=False),
        lambda s: _publish(s, call_id, lock=False),
    )
    assert isinstance(outcome, IntegrityError), outcome
    assert violated_constraint(outcome) == "ranking_call_id_version_key"
    assert CONSTRAINT_ERRORS["ranking_call_id_version_key"] is RankingPublishedMeanwhile
    assert await _versions(postgres_scratch, call_id) == [(1, None)]
