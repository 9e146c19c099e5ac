"""The ``dry_run`` flag of the actions that can be tried without acting (README "Dry runs")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel

from app.api.etag import require_if_match
from app.core.errors import DomainError, PreconditionFailed
from app.schemas.dry_run import DryRunReport

DryRunFlag = Annotated[
    bool,
    Query(
        description="true: answer 200 with every rule the action would apply now and its "
        "figures (a DryRunReport), and write nothing: no change, no audit event, no "
        "Idempotency-Key stored, no row locked.",
    ),
]

DRY_RUN_DESCRIPTION = (
    "With dry_run=true: every rule the action would apply, each with its figures, and "
    "nothing written."
)


def dry_run_response(extra: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a dry run's 200 (an action that answers 201 otherwise)."""
    return {200: {"model": DryRunReport, "description": DRY_RUN_DESCRIPTION, **(extra or {})}}


def precondition_finding(request: Request, current: BaseModel) -> DomainError | None:
    """If-Match checked as the action checks it: required (428 without it, as the document
    says for the operation), but a stale tag is reported as a finding (the 412 the action
    would answer, with the current ETag) so that it comes with every other rule."""
    try:
        require_if_match(request, current)
    except PreconditionFailed as finding:
        return finding
    return None
