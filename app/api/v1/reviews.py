"""Reviews of applications: the region assigns reviewers, each reviewer scores their own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep, parse_datetime
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.repositories import reviews as repo
from app.repositories import visibility
from app.schemas.page import Page
from app.schemas.review import ReviewAssign, ReviewRead, ReviewScore, review_read
from app.services import applications as applications_service
from app.services import reviews as service

router = APIRouter(prefix="/applications/{application_id}/reviews", tags=["reviews"])

ApplicationId = Annotated[uuid.UUID, Path(description="The application's id.")]
ReviewId = Annotated[uuid.UUID, Path(description="The review's id.")]
Reader = Annotated[Principal, require(Scope.REVIEWS_READ)]
Decider = Annotated[Principal, require(Scope.APPLICATIONS_DECIDE)]
Scorer = Annotated[Principal, require(Scope.APPLICATIONS_REVIEW)]


@router.get(
    "", summary="List an application's reviews", responses=problem_responses(401, 403, 404, 422)
)
async def list_reviews(
    application_id: ApplicationId, session: SessionDep, page: PageDep, principal: Reader
) -> Page[ReviewRead]:
    """The region sees every review of the application; a reviewer only their own (and only
    for applications assigned to them: any other is 404)."""
    application = await applications_service.get_application(session, application_id, principal)
    rows = await repo.page_reviews(
        session,
        application_id=application.id,
        visible=visibility.reviews(principal),
        after=page.after(parse_datetime, uuid.UUID),
        limit=page.limit,
    )
    return page.page(rows, key=lambda r: (r.created_at, r.id), item=review_read)


@router.post(
    "",
    status_code=201,
    summary="Assign a reviewer",
    response_model=ReviewRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def assign_reviewer(
    application_id: ApplicationId,
    body: ReviewAssign,
    session: SessionDep,
    principal: Decider,
    idempotency: IdempotencyDep,
) -> Response:
    """Assign a user with the reviewer role to a submitted application (or one under
    review); from then on the reviewer can read the application and score it."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    application = await applications_service.get_application(session, application_id, principal)
    read = review_read(await service.assign_reviewer(session, application, data=body))
    return await idempotency.respond(
        principal,
        read,
        headers={"Location": f"/api/v1/applications/{application.id}/reviews/{read.id}"},
    )


@router.get(
    "/{review_id}", summary="Read a review", responses=problem_responses(401, 403, 404, 422)
)
async def get_review(
    application_id: ApplicationId,
    review_id: ReviewId,
    session: SessionDep,
    principal: Reader,
    response: Response,
) -> ReviewRead:
    """Return a review: to the region, and to the reviewer it belongs to."""
    application = await applications_service.get_application(session, application_id, principal)
    read = review_read(await service.get_review(session, application, review_id, principal))
    with_etag(response, read)
    return read


@router.post(
    "/{review_id}/score",
    summary="Score an application",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def score_review(
    application_id: ApplicationId,
    review_id: ReviewId,
    body: ReviewScore,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Scorer,
) -> ReviewRead:
    """The assigned reviewer scores the application while it is under review (If-Match
    required); a new score replaces the previous one until the application is decided."""
    application = await applications_service.get_application(session, application_id, principal)
    review = await service.get_review(session, application, review_id, principal)
    require_if_match(request, review_read(review))
    await service.score_review(session, application, review, data=body, principal=principal)
    read = review_read(review)
    with_etag(response, read)
    return read


@router.delete(
    "/{review_id}",
    status_code=204,
    summary="Unassign a reviewer",
    responses=problem_responses(401, 403, 404, 409, 412, 428),
)
async def unassign_reviewer(
    application_id: ApplicationId,
    review_id: ReviewId,
    request: Request,
    session: SessionDep,
    principal: Decider,
) -> Response:
    """Take an unscored review away from its reviewer (If-Match required); a scored review
    stays on the record (409 review_already_scored)."""
    application = await applications_service.get_application(session, application_id, principal)
    review = await service.get_review(session, application, review_id, principal)
    require_if_match(request, review_read(review))
    await service.unassign_reviewer(session, review)
    return Response(status_code=204)
