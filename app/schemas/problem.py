"""RFC 9457 problem details, the body of every error response."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description="Path to the field, e.g. ['body', 'amount'].")
    message: str
    type: str = Field(description="Machine-readable error kind, e.g. 'missing'.")


class Problem(BaseModel):
    """An error, as ``application/problem+json`` (RFC 9457)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not_found",
                    "title": "Resource not found",
                    "status": 404,
                    "detail": "No call with id 7f1c… exists.",
                    "rule": "not_found",
                }
            ]
        },
    )

    type: str = Field(description="URI reference identifying the problem type.")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    rule: str | None = Field(default=None, description="Stable slug of the broken rule.")
    errors: list[FieldError] | None = Field(
        default=None, description="Present on validation errors: one entry per invalid field."
    )
