"""Reviews: the region assigns reviewers to submitted applications; each scores their own.

A reviewer sees an application only once assigned to it (app.repositories.visibility), and
sees only their own review of it; the region sees every review.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

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
from app.schemas.page import Page
from app.schemas.review import ReviewAssign, ReviewQuery, ReviewRead, ReviewScore
from app.services import audit
from app.services.applications import load_application
from app.services.paging import SortKey

# Reviewers join while the application waits for, or is in, its review.
ASSIGNABLE = frozenset({ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW})

REVIEW_ORDER = SortKey[Review](Review.created_at, Review.id)


@dataclass(frozen=True)
class ApplicationReview:
    """A review with the application it belongs to, as loaded through the caller's eyes: what
    a change of the review works on (scoring checks the application's status). The session
    holds loaded entities weakly, so the application is kept here, not read again."""

    application: Application
    review: Review


async def list_reviews(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, query: ReviewQuery
) -> Page[ReviewRead]:
    """The region sees every review of the application; a reviewer only their own (and only
    for applications assigned to them: any other is 404)."""
    application = await load_application(session, application_id, principal)
    rows = partial(
        repo.page_reviews,
        session,
        application_id=application.id,
        visible=visibility.reviews(principal),
    )
    return await REVIEW_ORDER.page_of(query, rows, ReviewRead.model_validate)


async def load_review(
    session: AsyncSession, application_id: uuid.UUID, review_id: uuid.UUID, principal: Principal
) -> ApplicationReview:
    """A review of an application the principal may see. Another reviewer's review is 404,
    exactly like a missing one."""
    application = await load_application(session, application_id, principal)
    review = await repo.get_review(
        session, application.id, review_id, visibility.reviews(principal)
    )
    if review is None:
        raise NotFound(f"No review {review_id} of application {application.id}.")
    return ApplicationReview(application, review)


async def read_review(session: AsyncSession, found: ApplicationReview) -> ReviewRead:
    return ReviewRead.model_validate(found.review)


async def get_review(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, review_id: uuid.UUID
) -> ReviewRead:
    found = await load_review(session, application_id, review_id, principal)
    return ReviewRead.model_validate(found.review)


async def assign_reviewer(
    session: AsyncSession, application_id: uuid.UUID, *, data: ReviewAssign, principal: Principal
) -> ApplicationReview:
    """Assign a reviewer to an application the principal may see (404 otherwise)."""
    application = await load_application(session, application_id, principal)
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
    return ApplicationReview(application, review)


async def score_review(
    session: AsyncSession, found: ApplicationReview, *, data: ReviewScore, principal: Principal
) -> Review:
    """The assigned reviewer scores (and may rescore) while the application is under review."""
    application, review = found.application, found.review
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


async def unassign_reviewer(session: AsyncSession, found: ApplicationReview) -> None:
    """Take an unscored review away; a scored one stays on the record."""
    review = found.review
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
