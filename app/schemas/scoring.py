"""A call's scoring grid, as data: in a programme file, in a call's create and update, and
as read back. A null figure is one the source did not give ("not given by the source"): the
grid is then incomplete, and nobody scores on it until an officer completes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.core.domain import ScoreCombination, TieBreakKind
from app.models.scoring import ScoringCriterion, ScoringGrid
from app.schemas.common import JsonScalars, Output

MAX_POINTS = 1000  # per criterion: far above any published grid, small enough to sum exactly
CRITERION_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
NOT_BLANK = r"\S"


class _Spec(JsonScalars):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CriterionName(_Spec):
    # Stripped before the length is checked: the pattern says a blank name is refused, as
    # the document must (the fuzz's positive-data check found " " allowed and refused).
    it: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)
    en: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


class CriterionSpec(_Spec):
    code: str = Field(min_length=1, max_length=40, pattern=CRITERION_CODE)
    name: CriterionName
    max_score: int | None = Field(
        ge=1,
        le=MAX_POINTS,
        description="Whole points. Null: not given by the source (the grid is incomplete).",
    )
    min_score: int | None = Field(
        default=None,
        ge=0,
        le=MAX_POINTS,
        description="The least an application needs on this criterion to be admissible.",
    )

    @field_validator("min_score")
    @classmethod
    def _within_max(cls, value: int | None, info: ValidationInfo) -> int | None:
        top = info.data.get("max_score")
        if value is not None and top is not None and value > top:
            raise ValueError(f"min_score {value} exceeds max_score {top}")
        return value


class TieBreakSpec(_Spec):
    kind: TieBreakKind
    criterion: str | None = Field(
        default=None, max_length=40, description="With kind criterion: the higher score first."
    )

    @model_validator(mode="after")
    def _criterion_iff_kind(self) -> TieBreakSpec:
        if (self.kind is TieBreakKind.CRITERION) != (self.criterion is not None):
            raise ValueError("criterion is given exactly when kind is criterion")
        return self


class ScoringGridSpec(_Spec):
    """A ranking call's grid. Fields are checked in order, each error naming its field."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "criteria": [
                        {
                            "code": "Q1",
                            "name": {"it": "Qualità del progetto", "en": "Project quality"},
                            "max_score": 40,
                            "min_score": 20,
                        },
                        {
                            "code": "P2",
                            "name": {"it": "Partenariato", "en": "Partnership"},
                            "max_score": 30,
                        },
                    ],
                    "min_total": 60,
                    "reviewers_per_application": 3,
                    "combination": "trimmed_mean",
                    "tie_breaks": [
                        {"kind": "criterion", "criterion": "Q1"},
                        {"kind": "earlier_submission"},
                    ],
                }
            ]
        }
    )
    criteria: list[CriterionSpec] = Field(min_length=1, max_length=50)
    min_total: int | None = Field(
        ge=0, description="The least total to be admissible. Null: not given by the source."
    )
    reviewers_per_application: int | None = Field(
        ge=1, le=20, description="Reviews each application needs. Null: not given by the source."
    )
    combination: ScoreCombination | None = Field(
        description="mean, or trimmed_mean (the highest and lowest totals dropped when there "
        "are three or more). Null: not given by the source."
    )
    tie_breaks: list[TieBreakSpec] = Field(default_factory=list, max_length=20)
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="Where the figures come from, or what is missing.",
    )

    @field_validator("criteria")
    @classmethod
    def _unique_codes(cls, value: list[CriterionSpec]) -> list[CriterionSpec]:
        seen: set[str] = set()
        for index, criterion in enumerate(value):
            if criterion.code in seen:
                raise ValueError(f"criteria[{index}].code {criterion.code!r} is repeated")
            seen.add(criterion.code)
        return value

    @field_validator("min_total")
    @classmethod
    def _within_maxima(cls, value: int | None, info: ValidationInfo) -> int | None:
        top = max_total(info.data.get("criteria") or [])
        if value is not None and top is not None and value > top:
            raise ValueError(f"min_total {value} exceeds the sum of the maxima, {top}")
        return value

    @field_validator("tie_breaks")
    @classmethod
    def _name_criteria(cls, value: list[TieBreakSpec], info: ValidationInfo) -> list[TieBreakSpec]:
        codes = {c.code for c in info.data.get("criteria") or []}
        seen: set[tuple[str, str | None]] = set()
        for index, rule in enumerate(value):
            if rule.criterion is not None and rule.criterion not in codes:
                raise ValueError(
                    f"tie_breaks[{index}].criterion {rule.criterion!r} is not a criterion "
                    "of the grid"
                )
            if (rule.kind, rule.criterion) in seen:
                raise ValueError(f"tie_breaks[{index}] repeats an earlier tie-break")
            seen.add((rule.kind, rule.criterion))
        return value


def max_total(criteria: list[Any]) -> int | None:
    """The sum of the maxima, or None while one of them is unknown."""
    maxima = [c.max_score for c in criteria]
    return None if any(m is None for m in maxima) else sum(maxima)


def missing_figures(grid: ScoringGrid, criteria: list[ScoringCriterion]) -> list[str]:
    """The figures still unknown (not given by the source), by field; empty when complete."""
    missing = [f"criteria.{c.code}.max_score" for c in criteria if c.max_score is None]
    missing += [
        name
        for name in ("min_total", "reviewers_per_application", "combination")
        if getattr(grid, name) is None
    ]
    return missing


class CriterionRead(Output):
    code: str
    name_it: str
    name_en: str
    max_score: int | None
    min_score: int | None


class TieBreakRead(Output):
    kind: TieBreakKind
    criterion: str | None = None


class ScoringGridRead(Output):
    criteria: list[CriterionRead]
    max_total: int | None = Field(description="The sum of the maxima (null while one is unknown).")
    min_total: int | None
    reviewers_per_application: int | None
    combination: ScoreCombination | None
    tie_breaks: list[TieBreakRead]
    note: str | None
    complete: bool = Field(description="Every figure is known: reviewers can score on it.")
    missing: list[str] = Field(description="The figures still unknown, by field.")
    locked_at: datetime | None = Field(
        description="When the first score locked the grid; it never changes after."
    )


def grid_read(grid: ScoringGrid, criteria: list[ScoringCriterion]) -> ScoringGridRead:
    missing = missing_figures(grid, criteria)
    return ScoringGridRead(
        criteria=[CriterionRead.model_validate(c) for c in criteria],
        max_total=max_total(criteria),
        min_total=grid.min_total,
        reviewers_per_application=grid.reviewers_per_application,
        combination=grid.combination,
        tie_breaks=[TieBreakRead.model_validate(t) for t in grid.tie_breaks],
        note=grid.note,
        complete=not missing,
        missing=missing,
        locked_at=grid.locked_at,
    )
