"""Reviews of applications: the region assigns reviewers, each reviewer scores their own."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import change, read_with_etag, remove
from app.api.idempotency import IdempotencyDep
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.page import Page
from app.schemas.review import (
    ConflictDeclaration,
    ReviewAssign,
    ReviewQuery,
    ReviewRead,
    ReviewScoreInput,
)
from app.services import reviews as service

router = APIRouter(prefix="/applications/{application_id}/reviews", tags=["reviews"])

ApplicationId = Annotated[uuid.UUID, Path(description="The application's id.")]
ReviewId = Annotated[uuid.UUID, Path(description="The review's id.")]
Reader = Annotated[Principal, require(Scope.REVIEWS_READ)]
Decider = Annotated[Principal, require(Scope.APPLICATIONS_DECIDE)]
Scorer = Annotated[Principal, require(Scope.APPLICATIONS_REVIEW)]
review_query = QueryModel(ReviewQuery)


@router.get(
    "",
    summary="List an application's reviews",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=review_query.openapi(),
)
async def list_reviews(
    application_id: ApplicationId,
    session: SessionDep,
    principal: Reader,
    query: Annotated[ReviewQuery, Depends(review_query)],
) -> Page[ReviewRead]:
    """The region sees every review of the application; a reviewer only their own (and only
    for applications assigned to them: any other is 404)."""
    return await service.list_reviews(session, principal, application_id, query)


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
    return await idempotency.create(
        principal,
        make=lambda: service.assign_reviewer(
            session, application_id, data=body, principal=principal
        ),
        read=partial(service.read_review, session),
        location=lambda read: f"/api/v1/applications/{read.application_id}/reviews/{read.id}",
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
    return await read_with_etag(
        response, service.get_review(session, principal, application_id, review_id)
    )


@router.post(
    "/{review_id}/declare-no-conflict",
    summary="Declare no conflict of interest",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def declare_no_conflict(
    application_id: ApplicationId,
    review_id: ReviewId,
    body: ConflictDeclaration,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Scorer,
) -> ReviewRead:
    """The assigned reviewer declares no conflict of interest with the application (If-Match
    required), which scoring requires; the time of the first declaration is kept."""
    return await change(
        request,
        response,
        load=service.load_review(session, application_id, review_id, principal),
        read=partial(service.read_review, session),
        apply=partial(service.declare_no_conflict, session, data=body, principal=principal),
    )


@router.post(
    "/{review_id}/score",
    summary="Score an application",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def score_review(
    application_id: ApplicationId,
    review_id: ReviewId,
    body: ReviewScoreInput,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Scorer,
) -> ReviewRead:
    """The assigned reviewer scores every criterion of the call's grid, each with a comment,
    while the application is under review and after declaring no conflict of interest
    (If-Match required); new scores replace the previous ones until the decision. The total
    is their sum. The call's first score locks its grid."""
    return await change(
        request,
        response,
        load=service.load_review(session, application_id, review_id, principal),
        read=partial(service.read_review, session),
        apply=partial(service.score_review, session, data=body, principal=principal),
    )


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
    return await remove(
        request,
        load=service.load_review(session, application_id, review_id, principal),
        read=partial(service.read_review, session),
        apply=partial(service.unassign_reviewer, session),
    )
