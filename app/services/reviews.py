"""Reviews: the region assigns reviewers to submitted applications; each scores their own.

A reviewer sees an application only once assigned to it (app.repositories.visibility), and
sees only their own review of it; the region sees every review.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus
from app.core.errors import (
    ApplicationNotInReview,
    Forbidden,
    NotAReviewer,
    NotFound,
    ReviewAlreadyScored,
    ReviewerAlreadyAssigned,
)
from app.models.application import Application
from app.models.auth import UserAccount
from app.models.review import Review
from app.repositories import reviews as repo
from app.repositories import visibility
from app.schemas.review import ReviewAssign, ReviewScore
from app.services import audit

# Reviewers join while the application waits for, or is in, its review.
ASSIGNABLE = frozenset({ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW})


async def get_review(
    session: AsyncSession, application: Application, review_id: uuid.UUID, principal: Principal
) -> Review:
    """Another reviewer's review is 404, exactly like a missing one."""
    review = await repo.get_review(
        session, application.id, review_id, visibility.reviews(principal)
    )
    if review is None:
        raise NotFound(f"No review {review_id} of application {application.id}.")
    return review


async def assign_reviewer(
    session: AsyncSession, application: Application, *, data: ReviewAssign
) -> Review:
    if application.status not in ASSIGNABLE:
        raise ApplicationNotInReview(
            "Reviewers are assigned to submitted applications or to those under review.",
            current_status=application.status,
            attempted="assign-reviewer",
        )
    account = await session.get(UserAccount, data.reviewer_id)
    if account is None or account.role is not Role.REVIEWER or not account.active:
        raise NotAReviewer(
            f"User {data.reviewer_id} is not an active user with the reviewer role.",
            reviewer_id=str(data.reviewer_id),
        )
    if await repo.is_assigned(session, application.id, account.id):
        raise ReviewerAlreadyAssigned(
            "This reviewer is already assigned to the application.",
            reviewer_id=str(account.id),
        )
    # The unique (application, reviewer) constraint settles a race between two assignments.
    review = Review(id=uuid.uuid4(), application_id=application.id, reviewer_id=account.id)
    session.add(review)
    await session.flush()
    await audit.record(
        session,
        action="review.assign",
        entity_type="review",
        entity_id=review.id,
        after=audit.snapshot(review),
    )
    return review


async def score_review(
    session: AsyncSession,
    application: Application,
    review: Review,
    *,
    data: ReviewScore,
    principal: Principal,
) -> Review:
    """The assigned reviewer scores (and may rescore) while the application is under review."""
    if principal.id != review.reviewer_id:
        raise Forbidden("Only the assigned reviewer scores this review.")
    if application.status is not ApplicationStatus.UNDER_REVIEW:
        raise ApplicationNotInReview(
            "Reviews are scored while the application is under review.",
            current_status=application.status,
            attempted="score",
        )
    before = audit.snapshot(review)
    review.score = data.score
    review.comment = data.comment
    review.scored_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        action="review.score",
        entity_type="review",
        entity_id=review.id,
        before=before,
        after=audit.snapshot(review),
    )
    return review


async def unassign_reviewer(session: AsyncSession, review: Review) -> None:
    """Take an unscored review away; a scored one stays on the record."""
    if review.score is not None:
        raise ReviewAlreadyScored(
            "The reviewer has scored this application; the review cannot be removed.",
            score=review.score,
        )
    before = audit.snapshot(review)
    await session.delete(review)
    await session.flush()
    await audit.record(
        session,
        action="review.unassign",
        entity_type="review",
        entity_id=review.id,
        before=before,
    )
