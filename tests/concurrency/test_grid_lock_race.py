"""The grid's lock under concurrency (PostgreSQL, scripted): a grid change and the call's
first score queue on the grid's row, so a score is always checked against the grid it locks,
and a change that comes second finds the grid locked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus
from app.core.errors import ReviewersComplete, ScoringGridLocked
from app.db.session import Database
from app.models import Call, Review, ReviewScore, ScoringCriterion, ScoringGrid
from app.schemas.review import ReviewAssign, ReviewScoreInput
from app.schemas.scoring import ScoringGridSpec
from app.services import reviews as reviews_service
from app.services import scoring
from app.services.users import create_user
from tests.concurrency.scripted import second_waits
from tests.world import GRID, approved, budget, scores, with_grid

# The same grid with Q1 worth 50 points: a score of 45 on Q1 is valid only on this one.
WIDER = {**GRID, "criteria": [{**GRID["criteria"][0], "max_score": 50}, *GRID["criteria"][1:]]}  # type: ignore[index]


OFFICER = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)


@dataclass
class Scene:
    call_id: uuid.UUID
    application_id: uuid.UUID
    review_id: uuid.UUID
    reviewer: Principal


@pytest.fixture
async def scene(postgres_scratch: Database) -> Scene:
    async with postgres_scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000, code="GRID")
        await with_grid(arrange, world.call)
        application = await approved(
            arrange, world, requested=10_000, status=ApplicationStatus.UNDER_REVIEW
        )
        user = await create_user(
            arrange,
            email="grid-reviewer@example.org",
            display_name="Reviewer",
            password="p" * 16,
            role=Role.REVIEWER,
            organisation_ids=[],
        )
        review = Review(
            id=uuid.uuid4(),
            application_id=application.id,
            reviewer_id=user.id,
            conflict_declared_at=datetime.now(UTC),
        )
        arrange.add(review)
    return Scene(
        world.call.id,
        application.id,
        review.id,
        Principal(kind="user", id=user.id, role=Role.REVIEWER),
    )


async def _score(session: AsyncSession, scene: Scene, q1: int) -> Any:
    found = await reviews_service.load_review(
        session, scene.application_id, scene.review_id, scene.reviewer
    )
    body = ReviewScoreInput.model_validate(scores(q1=q1))
    return await reviews_service.score_review(session, found, data=body, principal=scene.reviewer)


async def _change_grid(session: AsyncSession, scene: Scene) -> Any:
    call = await session.get(Call, scene.call_id)
    assert call is not None
    return await scoring.set_grid(session, call, ScoringGridSpec.model_validate(WIDER))


async def _q1_max(database: Database, scene: Scene) -> int | None:
    async with database.session(write=False) as check:
        return await check.scalar(
            select(ScoringCriterion.max_score)
            .join(ScoringGrid, ScoringGrid.id == ScoringCriterion.grid_id)
            .where(ScoringGrid.call_id == scene.call_id, ScoringCriterion.code == "Q1")
        )


async def test_a_first_score_waits_for_a_grid_change_and_is_judged_on_the_new_grid(
    postgres_scratch: Database, scene: Scene
) -> None:
    outcome = await second_waits(
        postgres_scratch,
        lambda s: _change_grid(s, scene),
        lambda s: _score(s, scene, q1=45),  # above the old maximum (40), within the new (50)
    )
    assert isinstance(outcome, Review), outcome
    assert await _q1_max(postgres_scratch, scene) == 50
    async with postgres_scratch.session(write=False) as check:
        given = await check.scalar(
            select(ReviewScore.score)
            .join(ScoringCriterion, ScoringCriterion.id == ReviewScore.criterion_id)
            .where(ReviewScore.review_id == scene.review_id, ScoringCriterion.code == "Q1")
        )
        locked = await check.scalar(
            select(ScoringGrid.locked_at).where(ScoringGrid.call_id == scene.call_id)
        )
    assert given == 45
    assert locked is not None


async def test_a_grid_change_waits_for_the_first_score_and_finds_the_grid_locked(
    postgres_scratch: Database, scene: Scene
) -> None:
    outcome = await second_waits(
        postgres_scratch,
        lambda s: _score(s, scene, q1=40),
        lambda s: _change_grid(s, scene),
    )
    assert isinstance(outcome, ScoringGridLocked), outcome
    assert await _q1_max(postgres_scratch, scene) == 40


async def test_two_assignments_at_once_never_exceed_the_reviewers_the_grid_asks_for(
    postgres_scratch: Database, scene: Scene
) -> None:
    """The grid asks for one reviewer; the scene's review is it once the race is over: two
    more officers assigning at once after it is deleted, the second waits and is refused."""
    async with postgres_scratch.session(write=True) as arrange:
        await arrange.execute(delete(Review).where(Review.id == scene.review_id))
        call = await arrange.get(Call, scene.call_id)
        assert call is not None
        await scoring.set_grid(
            arrange, call, ScoringGridSpec.model_validate({**GRID, "reviewers_per_application": 1})
        )
        others = [
            await create_user(
                arrange,
                email=f"race-{n}@example.org",
                display_name="Reviewer",
                password="p" * 16,
                role=Role.REVIEWER,
                organisation_ids=[],
            )
            for n in range(2)
        ]

    def assign(n: int) -> Any:
        async def step(session: AsyncSession) -> Any:
            return await reviews_service.assign_reviewer(
                session,
                scene.application_id,
                data=ReviewAssign(reviewer_id=others[n].id),
                principal=OFFICER,
            )

        return step

    # The application is under review: still assignable.
    outcome = await second_waits(postgres_scratch, assign(0), assign(1))
    assert isinstance(outcome, ReviewersComplete), outcome
    async with postgres_scratch.session(write=False) as check:
        count = await check.scalar(
            select(func.count())
            .select_from(Review)
            .where(Review.application_id == scene.application_id)
        )
    assert count == 1
