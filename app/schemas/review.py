"""Reviews of applications: assignment by the region, scores by the assigned reviewer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from app.models.review import Review
from app.models.scoring import ReviewScore, ScoringCriterion
from app.schemas.common import Input, Output
from app.schemas.page import PageQuery
from app.schemas.scoring import MAX_POINTS


class ReviewAssign(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reviewer_id": "5b7e2c1a-8d3f-4e6a-9b0c-1d2e3f4a5b6c"}]},
    )
    reviewer_id: uuid.UUID = Field(description="A user account with the reviewer role.")


class CriterionScore(Input):
    criterion: str = Field(min_length=1, max_length=40, description="The criterion's code.")
    score: int = Field(
        ge=0, le=MAX_POINTS, description="Whole points, from 0 to the criterion's max_score."
    )
    comment: str = Field(min_length=1, max_length=4000)


class ReviewScoreInput(Input):
    """A score on every criterion of the call's grid, each once, each with its comment."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "scores": [
                        {"criterion": "Q1", "score": 32, "comment": "Obiettivi chiari."},
                        {"criterion": "P2", "score": 18, "comment": "Partenariato debole."},
                    ]
                }
            ]
        },
    )
    scores: list[CriterionScore] = Field(min_length=1, max_length=50)


class ConflictDeclaration(Input):
    """The reviewer's declaration that they have no conflict of interest with the
    application (recorded with its time and in the audit trail)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"no_conflict_of_interest": True}]}
    )
    no_conflict_of_interest: Literal[True]


class CriterionScoreRead(Output):
    criterion: str
    score: int
    max_score: int | None
    comment: str


class ReviewRead(Output):
    id: uuid.UUID
    application_id: uuid.UUID
    reviewer_id: uuid.UUID
    conflict_declared_at: datetime | None = Field(
        description="When the reviewer declared no conflict of interest; null until then."
    )
    scores: list[CriterionScoreRead] = Field(description="In the grid's order; empty until scored.")
    total: int | None = Field(description="The sum of the scores; null until scored.")
    scored_at: datetime | None
    created_at: datetime = Field(description="When the reviewer was assigned.")
    updated_at: datetime


def review_read(review: Review, scores: list[tuple[ReviewScore, ScoringCriterion]]) -> ReviewRead:
    return ReviewRead(
        id=review.id,
        application_id=review.application_id,
        reviewer_id=review.reviewer_id,
        conflict_declared_at=review.conflict_declared_at,
        scores=[
            CriterionScoreRead(
                criterion=c.code, score=s.score, max_score=c.max_score, comment=s.comment
            )
            for s, c in scores
        ],
        total=sum(s.score for s, _ in scores) if scores else None,
        scored_at=review.scored_at,
        created_at=review.created_at,
        updated_at=review.updated_at,
    )


class ReviewQuery(PageQuery):
    """The review list's query string: its pages (an application's reviews take no filter)."""
