"""First-come calls, scripted on PostgreSQL (SQLite's writers queue at BEGIN): every change of
the queue takes the call's row first, so a submission or a withdrawal started while a release
promotes the line waits for it and then judges what it committed."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.domain import ApplicationStatus
from app.db.session import Database
from app.models import Application, Call
from app.repositories.consistency import differences
from app.services import applications as applications_service
from tests.concurrency.scripted import ADMIN, second_waits, submit
from tests.world import approved, first_come

_APPLICANTS = itertools.count(700)


@pytest.fixture
async def scratch(postgres_scratch: Database) -> Database:
    return postgres_scratch


async def _withdraw(session: AsyncSession, application_id: uuid.UUID) -> Any:
    application = await session.get(Application, application_id)
    assert application is not None
    return await applications_service.move_application(
        session, application, action="withdraw", principal=ADMIN
    )


async def _arrange(
    scratch: Database, *requests: int, drafts: int = 0
) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    """A first-come call of 100 euros, one submission per request (in order) and ``drafts``
    more drafts of 20 euros each."""
    async with scratch.session(write=True) as arrange:
        world = await first_come(arrange, budget_euros=100)
        made = [
            await approved(
                arrange,
                world,
                requested=requested,
                n=next(_APPLICANTS),
                status=ApplicationStatus.DRAFT,
            )
            for requested in [*requests, *[20] * drafts]
        ]
        for draft in made[: len(requests)]:
            await applications_service.move_application(
                arrange, draft, action="submit", principal=ADMIN
            )
    ids = [a.id for a in made]
    return world.call.id, ids[: len(requests)], ids[len(requests) :]


async def _holds(scratch: Database, call_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, int | None]]:
    async with scratch.session(write=False) as session:
        rows = (
            await session.scalars(select(Application).where(Application.call_id == call_id))
        ).all()
        call = await session.get(Call, call_id)
        assert call is not None
        assert call.reserved == sum((a.reserved for a in rows), Decimal("0.00"))
    async with scratch.engine.connect() as connection:
        assert await differences(connection) == []
    return {a.id: (str(a.reserved), a.waiting_position) for a in rows}


async def test_a_submission_waits_for_the_promotion_and_queues_behind_it(
    scratch: Database,
) -> None:
    """100 reserved, 60 and 30 waiting. The withdrawal of the 100 promotes both (90); a
    submission of 20 started meanwhile waits on the call, then finds 10 left: it waits."""
    call_id, (big, first, second), (late,) = await _arrange(scratch, 100, 60, 30, drafts=1)
    outcome = await second_waits(
        scratch,
        lambda s: _withdraw(s, big),
        lambda s: submit(s, late),
        unless="the submission did not queue on the call's row",
    )
    assert isinstance(outcome, Application), outcome
    holds = await _holds(scratch, call_id)
    assert holds[first] == ("60.00", None)
    assert holds[second] == ("30.00", None)
    assert holds[late] == ("0.00", 1)


async def test_withdrawing_the_head_while_it_is_promoted_is_refused_as_stale(
    scratch: Database,
) -> None:
    """The head of the line is withdrawn while a release promotes it: the withdrawal waits on
    the call, then meets the promoted row (a new version) and changes nothing; the
    reservation it was given stays whole."""
    call_id, (big, head), _ = await _arrange(scratch, 100, 40)
    outcome = await second_waits(
        scratch,
        lambda s: _withdraw(s, big),
        lambda s: _withdraw(s, head),
        unless="the withdrawal did not queue on the call's row",
    )
    assert isinstance(outcome, StaleDataError), outcome
    holds = await _holds(scratch, call_id)
    assert holds[head] == ("40.00", None)
    assert holds[big] == ("0.00", None)
