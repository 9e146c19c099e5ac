"""Dry runs: what a submission or a grant would meet, without doing it (README "Dry runs")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from app.core.errors import DomainError
from app.core.i18n import gettext, translate
from app.core.money import format_amount
from app.schemas.types import Money

PROBLEM_TYPE_BASE = "/problems/"

CapKind = Literal[
    "programme_budget",
    "measure_budget",
    "call_budget",
    "measure_projects",
    "district_project",
    "de_minimis",
]


def _jsonable(value: object) -> object:
    """Figures as a problem body carries them (money as a two-decimal string)."""
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


class Finding(BaseModel):
    """One rule the real action would break: the problem it would answer with, in full."""

    type: str = Field(description="The problem type the real action would answer with.")
    title: str
    status: int = Field(description="The HTTP status the real action would answer with.")
    detail: str
    rule: str = Field(description="The rule's slug (the last segment of type).")
    figures: dict[str, Any] = Field(
        description="The figures the real action's problem body would carry, by name."
    )

    _error: DomainError | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, error: DomainError) -> Finding:
        finding = cls(
            type=f"{PROBLEM_TYPE_BASE}{error.rule}",
            title=error.title,
            status=error.status,
            detail=error.detail,
            rule=error.rule,
            figures={k: _jsonable(v) for k, v in error.figures.items()},
        )
        finding._error = error
        return finding

    def in_language(self, language: str) -> Finding:
        """The finding's title and detail (and messages among its figures) in ``language``,
        as the problem would carry them (app.core.i18n); English as built."""
        error = self._error
        if error is None:
            return self
        return self.model_copy(
            update={
                "title": gettext(error.title, language),
                "detail": gettext(error.detail, language),
                "figures": {k: _jsonable(translate(v, language)) for k, v in error.figures.items()},
            }
        )


class Cap(BaseModel):
    """A cap a grant must fit, with its figures as they stand now and whether it fits."""

    cap: CapKind
    code: str | None = Field(
        None,
        description="The programme's, measure's or call's code (budget and project caps); "
        "the regulation (de_minimis: budget is its ceiling, allocated the aid counted in its "
        "period).",
    )
    budget: Money | None = Field(None, description="The cap (budget caps).")
    allocated: Money | None = Field(None, description="Granted so far (budget caps).")
    available: Money | None = Field(None, description="budget - allocated (budget caps).")
    requested: Money | None = Field(None, description="The amount asked for (budget caps).")
    max_projects: int | None = Field(None, description="The measure's project cap, if any.")
    funded_projects: int | None = Field(None, description="Projects the measure funds now.")
    district_id: uuid.UUID | None = Field(None, description="The district (one per district).")
    allocation_id: uuid.UUID | None = Field(
        None, description="The active allocation already funding the district, if any."
    )
    fits: bool


class DryRunReport(BaseModel):
    """Every rule the real action would apply, with its figures; nothing was written."""

    dry_run: Literal[True] = True
    would_succeed: bool = Field(
        description="True when the same request without dry_run would succeed now."
    )
    violations: list[Finding] = Field(
        description="Every rule the real action would refuse on, in the order it checks them; "
        "it answers with the first."
    )
    caps: list[Cap] = Field(
        description="A grant's caps at programme, measure and call, its measure's project cap "
        "and the one-per-district rule, each with its figures; empty for a submission."
    )

    def in_language(self, language: str) -> DryRunReport:
        return self.model_copy(
            update={"violations": [finding.in_language(language) for finding in self.violations]}
        )

    @classmethod
    def of(cls, errors: Sequence[DomainError], caps: Sequence[Cap] = ()) -> DryRunReport:
        return cls(
            would_succeed=not errors,
            violations=[Finding.of(e) for e in errors],
            caps=list(caps),
        )
