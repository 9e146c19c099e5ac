"""A call's ranking (graduatoria): the draft computed from the scores, and its published,
immutable versions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import ConfigDict, Field, PlainSerializer, WithJsonSchema

from app.core.domain import RankingOutcome
from app.schemas.common import Input, Output
from app.schemas.dry_run import Finding
from app.schemas.page import PageQuery
from app.schemas.scoring import ScoringGridSpec
from app.schemas.types import Money

# Averages and totals: exact decimals with two places, as strings (never a float).
Points = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d+\.\d{2}$",
            "description": "Points with two decimals (rounded half up from the exact mean).",
            "examples": ["72.33"],
        }
    ),
]


class CriterionAverageRead(Output):
    criterion: str
    average: Points


class RankingEntryRead(Output):
    position: int | None = Field(
        description="Rank among the applications that pass the thresholds; null below them."
    )
    application_id: uuid.UUID
    applicant_name: str | None = Field(
        description="The applicant organisation's or partnership's name; null for a natural "
        "person (personal data, as in the transparency register)."
    )
    title: str
    requested: Money = Field(description="The amount requested: what must fit the budget.")
    submitted_at: datetime | None
    reviews: int = Field(description="The scored reviews combined.")
    averages: list[CriterionAverageRead] = Field(description="In the grid's order.")
    total: Points = Field(description="The sum of the criterion averages.")
    outcome: RankingOutcome
    failed: list[str] = Field(
        description="Below threshold: each criterion code whose minimum failed, and "
        "`min_total` when the total is below the grid's minimum."
    )
    tie_break: str | None = Field(
        description="When the total equals the one above: the rule that placed this entry "
        "after it (`criterion:Q1`, `earlier_submission`, or `application_id` when every rule "
        "ties)."
    )


class AwaitingScoresRead(Output):
    application_id: uuid.UUID
    scored: int
    required: int


class DraftRankingRead(Output):
    call_id: uuid.UUID
    budget: Money = Field(description="The call's budget.")
    allocated: Money = Field(description="What the call has allocated already.")
    available: Money = Field(description="budget - allocated: what is left to fund, in order.")
    latest_version: int | None = Field(description="The latest published version, if any.")
    grid: ScoringGridSpec
    entries: list[RankingEntryRead]
    awaiting_scores: list[AwaitingScoresRead] = Field(
        description="Applications under review whose reviewers have not all scored: not "
        "ranked yet, and the ranking cannot be published while any remains."
    )


class RankingPublish(Input):
    """The decree that approves the ranking being published."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"decree_reference": "DD 123/A1419A/2026", "decree_date": "2026-12-01"}]
        },
    )
    decree_reference: str = Field(
        min_length=1, max_length=200, description="The decree approving the ranking."
    )
    decree_date: date


class RankingSummaryRead(Output):
    id: uuid.UUID
    call_id: uuid.UUID
    version: int
    replaces: int | None = Field(description="The version this one corrects.")
    decree_reference: str
    decree_date: date
    published_at: datetime
    budget: Money
    allocated: Money


class RankingRead(RankingSummaryRead):
    grid: ScoringGridSpec
    entries: list[RankingEntryRead]


class RankingQuery(PageQuery):
    """The list of a call's published versions: its pages, newest first."""


CSV_HEADER = (
    "version",
    "position",
    "application_id",
    "applicant_name",
    "title",
    "requested",
    "total",
    "outcome",
    "failed",
    "tie_break",
    "averages",
)


def csv_row(version: int, entry: RankingEntryRead) -> tuple[str | int | Decimal, ...]:
    """An entry as a CSV record: empty text for null, amounts and points as numbers."""
    return (
        version,
        "" if entry.position is None else entry.position,
        str(entry.application_id),
        entry.applicant_name or "",
        entry.title,
        entry.requested,
        entry.total,
        entry.outcome.value,
        " ".join(entry.failed),
        entry.tie_break or "",
        " ".join(f"{a.criterion}={a.average:.2f}" for a in entry.averages),
    )


class AllocationGranted(Output):
    """An entry the run granted, as its own allocation."""

    ordinal: int
    position: int | None
    application_id: uuid.UUID
    allocation_id: uuid.UUID
    requested: Money
    amount: Money = Field(
        description="The amount granted: the entry's requested amount, or less when partial."
    )
    partial: bool = Field(
        description="The call allows a partial last grant (`partial_last_grant`) and the "
        "request did not fit whole: it got what was left of the tightest cap."
    )


class AllocationSkipped(Output):
    """An entry a rule refused: nothing was written for it, and the next one was tried."""

    ordinal: int
    position: int | None
    application_id: uuid.UUID
    requested: Money
    refusal: Finding = Field(
        description="The problem a single grant of the entry would have answered with: "
        "its rule and its figures as they stood when it was tried."
    )

    def in_language(self, language: str) -> AllocationSkipped:
        return self.model_copy(update={"refusal": self.refusal.in_language(language)})


class AllocationAlreadyGranted(Output):
    """An entry whose application already had an active allocation: nothing more."""

    ordinal: int
    position: int | None
    application_id: uuid.UUID
    allocation_id: uuid.UUID


class AllocationNotEligible(Output):
    """An entry below the grid's thresholds: never granted by a run."""

    ordinal: int
    application_id: uuid.UUID
    failed: list[str]


class RankingAllocationReport(Output):
    """What one run down a published ranking did, entry by entry, in rank order."""

    call_id: uuid.UUID
    version: int
    granted: list[AllocationGranted]
    skipped: list[AllocationSkipped]
    already_granted: list[AllocationAlreadyGranted]
    not_eligible: list[AllocationNotEligible]

    def in_language(self, language: str) -> RankingAllocationReport:
        """The refusals' titles and details in ``language`` (app.core.i18n)."""
        return self.model_copy(
            update={"skipped": [entry.in_language(language) for entry in self.skipped]}
        )
