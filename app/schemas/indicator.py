"""Indicators (issue 20): definitions, targets, project dates, monitoring reports, the
programme's totals and the public view."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.core.domain import Accumulation, IndicatorKind, NarrativeLanguage, ReportStatus
from app.schemas.common import Input, Output
from app.schemas.page import PageQuery
from app.schemas.payment import Day

Key = Annotated[str, StringConstraints(min_length=1, max_length=40)]


def _json_integer(value: object) -> object:
    # As app.schemas.common.JsonScalars: "3" and true are not JSON integers (3.0 is).
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a JSON integer")
    return value


Count = Annotated[int, Field(ge=0, le=1_000_000_000), BeforeValidator(_json_integer)]


class IndicatorFigure(BaseModel):
    """One indicator's figure: its total and, per breakdown, the count of each category
    (they add up to the total)."""

    model_config = ConfigDict(extra="forbid")
    total: Count
    breakdowns: dict[Key, dict[Key, Count]] = Field(
        default_factory=dict,
        max_length=5,
        description='Breakdown code -> category -> count, e.g. {"gender": {"women": 7, '
        '"men": 5, "other": 0}}.',
    )


Figures = Annotated[
    dict[Key, IndicatorFigure],
    Field(max_length=50, description="Indicator code -> figure."),
]

FIGURES_EXAMPLE: dict[str, Any] = {
    "WEC-PART": {"total": 12, "breakdowns": {"gender": {"women": 7, "men": 5, "other": 0}}}
}


class BreakdownRead(Output):
    code: str
    title_it: str
    title_en: str
    categories: list[str]


class IndicatorRead(Output):
    """An indicator as the measure's reference data defines it."""

    id: uuid.UUID
    measure_id: uuid.UUID
    code: str = Field(description="The programme's code of the indicator.")
    eu_code: str | None = Field(
        description="The EU common indicator it reports, if one applies (null: none, or not "
        "given by the source)."
    )
    eu_code_basis: str | None
    name_it: str
    name_en: str
    unit_it: str
    unit_en: str
    kind: IndicatorKind
    accumulation: Accumulation
    breakdowns: list[BreakdownRead]
    target_required: bool
    suppress_below: int
    note: str | None


class TargetsSet(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"figures": FIGURES_EXAMPLE}]}
    )
    figures: Figures


class TargetsRead(Output):
    application_id: uuid.UUID
    figures: dict[str, IndicatorFigure]
    required: list[str] = Field(description="The codes a submission must set a target for.")
    missing: list[str] = Field(description="Required codes without a target yet.")
    updated_at: datetime | None


class ScheduleSet(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"starts_on": "2026-01-01", "planned_end_on": "2027-12-31"}]
        },
    )
    starts_on: Day
    planned_end_on: Day
    actual_end_on: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleSet:
        if self.planned_end_on < self.starts_on:
            raise ValueError("the planned end is before the start")
        if self.actual_end_on is not None and self.actual_end_on < self.starts_on:
            raise ValueError("the actual end is before the start")
        return self


class ScheduleRead(Output):
    allocation_id: uuid.UUID
    starts_on: date
    planned_end_on: date
    actual_end_on: date | None
    final_report_accepted: bool
    overdue: bool = Field(
        description="Past its planned end (today, Europe/Rome) without an accepted final report."
    )


class ScheduleQuery(PageQuery):
    """The funded projects' dates, oldest recorded first."""

    programme_id: uuid.UUID | None = Field(None, description="Only this programme's.")
    overdue: bool = Field(
        False, description="Only projects past their planned end without an accepted final report."
    )


class ReportCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "period": 1,
                    "final": False,
                    "figures": FIGURES_EXAMPLE,
                    "milestones": ["Partnership agreement signed"],
                    "narrative": "Il servizio è attivo in tre comuni.",
                    "narrative_language": "it",
                }
            ]
        },
    )
    period: int = Field(ge=1, le=240, description="The period, counted from the project's start.")
    final: bool = Field(False, description="The project's final report.")
    figures: Figures
    milestones: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=50
    )
    narrative: str = Field(min_length=1, max_length=8000)
    narrative_language: NarrativeLanguage


class ReportRead(Output):
    id: uuid.UUID
    allocation_id: uuid.UUID
    period: int
    revision: int = Field(description="1 for the first filing; a correction is the next.")
    period_start: date
    period_end: date
    final: bool
    figures: dict[str, IndicatorFigure]
    milestones: list[str]
    narrative: str
    narrative_language: NarrativeLanguage
    status: ReportStatus
    created_at: datetime
    checked_at: datetime | None
    return_reason: str | None


class ReportQuery(PageQuery):
    """A grant's monitoring reports, every revision, oldest first."""


class ReportCheck(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"outcome": "returned", "reason": "Gender breakdown missing."}]
        },
    )
    outcome: Literal["accepted", "returned"]
    reason: str | None = Field(
        default=None, min_length=3, max_length=2000, description="Returned only: required."
    )

    @model_validator(mode="after")
    def _coherent(self) -> ReportCheck:
        if (self.outcome == "returned") != (self.reason is not None):
            raise ValueError("a returned report, and only one, gives a reason")
        return self


Grouping = Literal["measure", "call", "district"]


class TotalsQuery(BaseModel):
    by: Grouping = Field("measure", description="Group the totals by measure, call or district.")


class IndicatorTotal(BaseModel):
    """One line of the totals: a group, an indicator and a cell (the total, or one
    breakdown's category), the targets of the active grants and what accepted reports give."""

    group_id: uuid.UUID | None = Field(description="The measure, call or district (null: none).")
    group_code: str | None
    measure_code: str
    indicator_code: str
    eu_code: str | None
    breakdown: str | None = Field(description="null: the indicator's total.")
    category: str | None
    target: int
    achieved: int
    projects_reporting: int = Field(description="Active grants with an accepted report.")


class IndicatorTotalsRead(BaseModel):
    programme_id: uuid.UUID
    by: Grouping
    items: list[IndicatorTotal]


class PublicCell(BaseModel):
    breakdown: str
    category: str
    value: int | None = Field(description="null: suppressed (a small cell).")
    suppressed: bool


class PublicIndicator(BaseModel):
    definition: IndicatorRead
    achieved: int = Field(description="The total of the accepted reports of active grants.")
    cells: list[PublicCell]


class PublicIndicatorsRead(BaseModel):
    measure_id: uuid.UUID
    measure_code: str
    indicators: list[PublicIndicator]
