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
    ConflictNotDeclared,
    Forbidden,
    InvalidInput,
    NotAReviewer,
    NotFound,
    ReviewAlreadyScored,
    ReviewerAlreadyAssigned,
    ReviewerConflictOfInterest,
    ReviewersComplete,
    ScoreOutOfRange,
)
from app.core.i18n import msg
from app.models.application import Application
from app.models.auth import UserAccount
from app.models.review import Review
from app.models.scoring import ReviewScore, ScoringCriterion
from app.repositories import reviews as repo
from app.repositories import scoring as scoring_repo
from app.repositories import visibility
from app.schemas.page import Page
from app.schemas.review import (
    ConflictDeclaration,
    ReviewAssign,
    ReviewQuery,
    ReviewRead,
    ReviewScoreInput,
    review_read,
)
from app.services import audit, scoring
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
    rows = await REVIEW_ORDER.fetch(
        query,
        partial(
            repo.page_reviews,
            session,
            application_id=application.id,
            visible=visibility.reviews(principal),
        ),
    )
    scores = await scoring_repo.scores_of(session, [r.id for r in rows[: query.limit]])
    return REVIEW_ORDER.page(rows, query.limit, lambda r: review_read(r, scores[r.id]))


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
        raise NotFound(
            msg(
                "No review {review_id} of application {application_id}.",
                review_id=review_id,
                application_id=application.id,
            )
        )
    return ApplicationReview(application, review)


async def read_review(session: AsyncSession, found: ApplicationReview) -> ReviewRead:
    """The review with its scores per criterion and their total."""
    review = found.review
    return review_read(review, (await scoring_repo.scores_of(session, [review.id]))[review.id])


async def get_review(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, review_id: uuid.UUID
) -> ReviewRead:
    return await read_review(
        session, await load_review(session, application_id, review_id, principal)
    )


async def _snapshot(session: AsyncSession, review: Review) -> dict[str, object]:
    """The review and its scores, as the audit trail keeps them."""
    scores = (await scoring_repo.scores_of(session, [review.id]))[review.id]
    return {
        **audit.snapshot(review),
        "scores": [
            {"criterion": c.code, "score": s.score, "comment": s.comment} for s, c in scores
        ],
    }


async def _refuse_conflict(
    session: AsyncSession, application: Application, reviewer_id: uuid.UUID
) -> None:
    """A reviewer who is a user of an organisation in the application (its applicant, or
    any member of its partnership) cannot review it."""
    shared = await scoring_repo.shared_organisations(session, application, reviewer_id)
    if shared:
        raise ReviewerConflictOfInterest(
            msg(
                "The reviewer acts for {legal_name}, an organisation in this "
                "application: they cannot review it.",
                legal_name=shared[0].legal_name,
            ),
            reviewer_id=str(reviewer_id),
            organisations=[{"id": str(o.id), "legal_name": o.legal_name} for o in shared],
        )


async def _within_reviewers_per_application(
    session: AsyncSession, application: Application
) -> None:
    """No more reviewers than the call's grid asks for (no limit while it is unknown). The
    application's row is locked first, so two assignments at once are counted one by one."""
    found = (await scoring_repo.grids_of(session, [application.call_id])).get(application.call_id)
    limit = found[0].reviewers_per_application if found else None
    if limit is None:
        return
    assigned = await repo.lock_and_count(session, application.id)
    if assigned >= limit:
        raise ReviewersComplete(
            msg(
                "The application has {assigned} reviewers; its call's grid asks for {limit}.",
                assigned=assigned,
                limit=limit,
            ),
            reviewers_per_application=limit,
            assigned=assigned,
        )


async def assign_reviewer(
    session: AsyncSession, application_id: uuid.UUID, *, data: ReviewAssign, principal: Principal
) -> ApplicationReview:
    """Assign a reviewer to an application the principal may see (404 otherwise)."""
    application = await load_application(session, application_id, principal)
    if application.status not in ASSIGNABLE:
        raise ApplicationNotInReview(
            msg("Reviewers are assigned to submitted applications or to those under review."),
            current_status=application.status,
            attempted="assign-reviewer",
        )
    account = await session.get(UserAccount, data.reviewer_id)
    if account is None or account.role is not Role.REVIEWER or not account.active:
        raise NotAReviewer(
            msg(
                "User {reviewer_id} is not an active user with the reviewer role.",
                reviewer_id=data.reviewer_id,
            ),
            reviewer_id=str(data.reviewer_id),
        )
    await _refuse_conflict(session, application, account.id)
    if await repo.is_assigned(session, application.id, account.id):
        raise ReviewerAlreadyAssigned(
            msg("This reviewer is already assigned to the application."),
            reviewer_id=str(account.id),
        )
    await _within_reviewers_per_application(session, application)
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


async def declare_no_conflict(
    session: AsyncSession,
    found: ApplicationReview,
    *,
    data: ConflictDeclaration,
    principal: Principal,
) -> Review:
    """The assigned reviewer declares no conflict of interest with the application, before
    scoring it. The first declaration's time is kept; declaring again changes nothing."""
    application, review = found.application, found.review
    if principal.id != review.reviewer_id:
        raise Forbidden(msg("Only the assigned reviewer declares for this review."))
    if application.status not in ASSIGNABLE:
        raise ApplicationNotInReview(
            msg("Declarations are made while the application awaits or is in its review."),
            current_status=application.status,
            attempted="declare-no-conflict",
        )
    if review.conflict_declared_at is not None:
        return review
    # Memberships change: one gained since the assignment makes the declaration untrue.
    await _refuse_conflict(session, application, review.reviewer_id)
    before = audit.snapshot(review)
    review.conflict_declared_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        action="review.declare_no_conflict",
        entity_type="review",
        entity_id=review.id,
        before=before,
        after=audit.snapshot(review),
    )
    return review


def _check_scores(data: ReviewScoreInput, criteria: list[ScoringCriterion]) -> None:
    """Every criterion of the grid scored once, within 0..max_score, and nothing else."""
    codes = [c.code for c in criteria]
    given = [s.criterion for s in data.scores]
    repeated = sorted({code for code in given if given.count(code) > 1})
    unknown = sorted(set(given) - set(codes))
    missing = [code for code in codes if code not in given]
    if repeated or unknown or missing:
        raise InvalidInput(
            msg("Score every criterion of the call's grid exactly once."),
            field="scores",
            missing=missing,
            unknown=unknown,
            repeated=repeated,
        )
    maxima = {c.code: c.max_score for c in criteria}
    for index, item in enumerate(data.scores):
        top = maxima[item.criterion]
        assert top is not None  # the grid is complete (scoring.lock_for_scoring)
        if item.score > top:
            raise ScoreOutOfRange(
                msg(
                    "Criterion {criterion} is scored from 0 to {top}.",
                    criterion=item.criterion,
                    top=top,
                ),
                field=f"scores[{index}].score",
                criterion=item.criterion,
                score=item.score,
                max_score=top,
            )


async def score_review(
    session: AsyncSession, found: ApplicationReview, *, data: ReviewScoreInput, principal: Principal
) -> Review:
    """The assigned reviewer scores every criterion (and may rescore) while the application
    is under review, after declaring no conflict of interest. The first score of the call
    locks its grid."""
    application, review = found.application, found.review
    if principal.id != review.reviewer_id:
        raise Forbidden(msg("Only the assigned reviewer scores this review."))
    if application.status is not ApplicationStatus.UNDER_REVIEW:
        raise ApplicationNotInReview(
            msg("Reviews are scored while the application is under review."),
            current_status=application.status,
            attempted="score",
        )
    if review.conflict_declared_at is None:
        raise ConflictNotDeclared(
            msg(
                "Declare that you have no conflict of interest with this application "
                "before scoring it (POST .../declare-no-conflict)."
            ),
            review_id=str(review.id),
        )
    now = datetime.now(UTC)
    _grid, criteria = await scoring.lock_for_scoring(session, application.call_id, now)
    _check_scores(data, criteria)
    before = await _snapshot(session, review)
    by_code = {c.code: c for c in criteria}
    await scoring_repo.delete_scores(session, review.id)
    session.add_all(
        ReviewScore(
            id=uuid.uuid4(),
            review_id=review.id,
            criterion_id=by_code[item.criterion].id,
            score=item.score,
            comment=item.comment,
        )
        for item in data.scores
    )
    review.scored_at = now
    await session.flush()
    await audit.record(
        session,
        action="review.score",
        entity_type="review",
        entity_id=review.id,
        before=before,
        after=await _snapshot(session, review),
    )
    return review


async def unassign_reviewer(session: AsyncSession, found: ApplicationReview) -> None:
    """Take an unscored review away; a scored one stays on the record."""
    review = found.review
    if review.scored_at is not None:
        raise ReviewAlreadyScored(
            msg("The reviewer has scored this application; the review cannot be removed."),
            scored_at=review.scored_at,
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
