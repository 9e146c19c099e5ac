"""Reviews of applications: assignment by the region, scores by the assigned reviewer."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from app.models.review import MAX_SCORE
from app.schemas.common import Input, Output
from app.schemas.page import PageQuery


class ReviewAssign(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reviewer_id": "5b7e2c1a-8d3f-4e6a-9b0c-1d2e3f4a5b6c"}]},
    )
    reviewer_id: uuid.UUID = Field(description="A user account with the reviewer role.")


class ReviewScore(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"score": 78, "comment": "Solid partnership; the budget for year 2 is thin."}
            ]
        },
    )
    score: int = Field(ge=0, le=MAX_SCORE, description=f"0 (worst) to {MAX_SCORE} (best).")
    comment: str | None = Field(default=None, max_length=4000)


class ReviewRead(Output):
    id: uuid.UUID
    application_id: uuid.UUID
    reviewer_id: uuid.UUID
    score: int | None = Field(description="Null until the reviewer has scored.")
    comment: str | None
    scored_at: datetime | None
    created_at: datetime = Field(description="When the reviewer was assigned.")
    updated_at: datetime


class ReviewQuery(PageQuery):
    """The review list's query string: its pages (an application's reviews take no filter)."""
