"""Programmes and measures (with lines, phases and thematic areas)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.domain import Fund, Instrument, StateAidRegime
from app.core.money import format_cents
from app.models.mixins import EligibilityMixin
from app.models.programme import Measure, MeasureLine, MeasurePhase, ThematicArea
from app.schemas.common import Input, Output, from_attributes
from app.schemas.page import FundFilter, NameSearch, PageQuery, ProgrammeFilter
from app.schemas.reference_data import (
    Cofinancing,
    EligibilitySpec,
    LineSpec,
    MeasurePhaseSpec,
    MixedTerms,
    Text,
    ThematicAreaSpec,
    cofinancing_read,
)
from app.schemas.types import Money

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class ProgrammeCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "WECARE2",
                    "name_it": "WE.CA.RE. seconda edizione",
                    "name_en": "WE.CA.RE. second edition",
                    "description_it": "…",
                    "description_en": "…",
                    "responsible_office": "Regione Piemonte - Direzione Coesione Sociale",
                    "legal_basis": "D.G.R. …",
                    "total_budget": "10000000.00",
                }
            ]
        },
    )
    code: str = Field(min_length=1, max_length=40, pattern=CODE)
    name_it: str = Field(min_length=1, max_length=300)
    name_en: str = Field(min_length=1, max_length=300)
    description_it: str = Field(min_length=1, max_length=10_000)
    description_en: str = Field(min_length=1, max_length=10_000)
    responsible_office: str = Field(min_length=1, max_length=300)
    legal_basis: str = Field(min_length=1, max_length=1000)
    approved_on: date | None = None
    total_budget: Money


class ProgrammeUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"approved_on": "2018-03-26", "total_budget": "20000000.00"}]
        },
    )
    name_it: str | None = Field(default=None, min_length=1, max_length=300)
    name_en: str | None = Field(default=None, min_length=1, max_length=300)
    description_it: str | None = Field(default=None, min_length=1, max_length=10_000)
    description_en: str | None = Field(default=None, min_length=1, max_length=10_000)
    responsible_office: str | None = Field(default=None, min_length=1, max_length=300)
    legal_basis: str | None = Field(default=None, min_length=1, max_length=1000)
    approved_on: date | None = None
    total_budget: Money | None = None


class ProgrammeRead(Output):
    id: uuid.UUID
    code: str
    name_it: str
    name_en: str
    description_it: str
    description_en: str
    currency: str
    responsible_office: str
    legal_basis: str
    approved_on: date | None
    total_budget: Money
    measures_budget: Money = Field(description="Sum of the measures' budgets.")
    allocated: Money
    available: Money = Field(description="total_budget - allocated")
    funded_projects: int
    created_at: datetime
    updated_at: datetime


def programme_item(row: Sequence[Any]) -> dict[str, Any]:
    """One programme as ProgrammeRead serialises it, from a raw row of
    ``PROGRAMME_READ_COLUMNS`` (money in cents), without a model: a read by id is served
    as orjson bytes. A test holds it byte for byte to ProgrammeRead."""
    (
        id_,
        code,
        name_it,
        name_en,
        description_it,
        description_en,
        currency,
        responsible_office,
        legal_basis,
        approved_on,
        total_budget,
        measures_budget,
        allocated,
        funded_projects,
        created_at,
        updated_at,
    ) = row
    return {
        "id": str(id_),
        "code": code,
        "name_it": name_it,
        "name_en": name_en,
        "description_it": description_it,
        "description_en": description_en,
        "currency": currency,
        "responsible_office": responsible_office,
        "legal_basis": legal_basis,
        "approved_on": approved_on,
        "total_budget": format_cents(total_budget),
        "measures_budget": format_cents(measures_budget),
        "allocated": format_cents(allocated),
        "available": format_cents(total_budget - allocated),
        "funded_projects": funded_projects,
        "created_at": created_at,
        "updated_at": updated_at,
    }


class EligibilityRead(Output):
    applicant_forms: list[str]
    legal_natures: list[str]
    size_classes: list[str]
    profit_statuses: list[str]
    requires_accompaniment_experience: bool
    lead_must_be_district_lead: bool
    required_member_natures: list[str]
    min_required_members: int
    required_members_in_piemonte: bool


class LineRead(Output):
    id: uuid.UUID
    number: int
    code: str
    title_it: str
    title_en: str
    description_it: str
    description_en: str
    min_project_cost: Money | None
    max_project_cost: Money | None
    eligibility: EligibilityRead


class PhaseRead(Output):
    ordinal: int
    code: str
    title_it: str
    title_en: str


class ThematicAreaRead(Output):
    id: uuid.UUID
    code: str
    title_it: str
    title_en: str


class MeasureCreate(Input):
    """A measure of a programme; lines, phases and themes come with it."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "programme_id": "0b9e6b8e-1c7e-4f0e-9a2a-6f3f7d1f2c11",
                    "code": "FSE5",
                    "fund": "FSE",
                    "title": {"it": "Nuova misura", "en": "New measure"},
                    "objective": {"it": "…", "en": "…"},
                    "beneficiaries": {"it": "…", "en": "…"},
                    "budget": "500000.00",
                    "eligibility": {"applicant_forms": ["organisation"]},
                }
            ]
        },
    )
    programme_id: uuid.UUID
    code: str = Field(min_length=1, max_length=40, pattern=CODE)
    fund: Fund
    title: Text
    objective: Text
    beneficiaries: Text
    notes: Text | None = None
    budget: Money
    max_funded_projects: int | None = Field(default=None, ge=1, le=100_000)
    one_per_district: bool = False
    two_stage_submission: bool = False
    example_actions: list[Text] = Field(default_factory=list, max_length=50)
    thematic_areas: list[ThematicAreaSpec] = Field(default_factory=list, max_length=50)
    phases: list[MeasurePhaseSpec] = Field(default_factory=list, max_length=10)
    eligibility: EligibilitySpec | None = None
    lines: list[LineSpec] = Field(default_factory=list, max_length=20)
    instrument: Instrument = Instrument.GRANT
    mixed_terms: MixedTerms | None = Field(
        default=None,
        description="A mixed instrument's terms (required for one); a null "
        "figure is not set yet, and no grant is made until every figure is.",
    )
    cofinancing: Cofinancing | None = Field(
        default=None, description="EU, national and regional shares; null: not given."
    )

    @model_validator(mode="after")
    def _terms_for_mixed(self) -> MeasureCreate:
        # MeasureSpec's own rule, answered here as a 422 before the service validates it.
        if (self.instrument == Instrument.MIXED) != (self.mixed_terms is not None):
            raise ValueError(f"measure {self.code}: mixed_terms are given exactly for a mixed one")
        return self


class MeasureUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"budget": "6400000.00", "max_funded_projects": 30}]},
    )
    title: Text | None = None
    objective: Text | None = None
    beneficiaries: Text | None = None
    notes: Text | None = None
    budget: Money | None = None
    max_funded_projects: int | None = Field(default=None, ge=1, le=100_000)
    mixed_terms: MixedTerms | None = Field(
        default=None,
        description="A mixed measure's terms, whole (they replace the current ones): the "
        "region sets what the source does not give. Loans already granted keep theirs.",
    )
    cofinancing: Cofinancing | None = Field(
        default=None,
        description="The EU, national and regional shares, whole (basis points summing to "
        "10000): the region sets what the source does not give. The report splits every "
        "figure by them, past grants included.",
    )


class MeasureRead(Output):
    id: uuid.UUID
    programme_id: uuid.UUID
    code: str
    fund: Fund
    ordinal: int
    title_it: str
    title_en: str
    objective_it: str
    objective_en: str
    beneficiaries_it: str
    beneficiaries_en: str
    notes_it: str | None
    notes_en: str | None
    example_actions: list[dict[str, str]]
    budget: Money
    calls_budget: Money = Field(description="Sum of the calls' budget shares.")
    allocated: Money
    available: Money = Field(description="budget - allocated")
    funded_projects: int
    max_funded_projects: int | None
    one_per_district: bool
    two_stage_submission: bool
    state_aid_regime: StateAidRegime | None = Field(
        description="none, de_minimis or block_exemption; null: not given by the source."
    )
    gber_article: str | None = Field(
        description="block_exemption: the article of Regulation (EU) 651/2014 (GBER)."
    )
    eligibility: EligibilityRead | None = Field(
        description="null when applications go through the lines."
    )
    instrument: Instrument
    mixed_terms: MixedTerms | None = Field(description="A mixed instrument's terms; else null.")
    cofinancing: Cofinancing | None = Field(
        description="EU, national and regional shares; null: not given by the source."
    )
    lent: Money = Field(description="Mixed instrument: loan parts of active allocations.")
    repaid: Money = Field(description="Mixed instrument: principal repaid on them.")
    lines: list[LineRead]
    phases: list[PhaseRead]
    thematic_areas: list[ThematicAreaRead]
    created_at: datetime
    updated_at: datetime


def eligibility_read(source: EligibilityMixin) -> EligibilityRead:
    return EligibilityRead(
        applicant_forms=list(source.applicant_forms),
        legal_natures=list(source.eligible_legal_natures),
        size_classes=list(source.eligible_size_classes),
        profit_statuses=list(source.eligible_profit_statuses),
        requires_accompaniment_experience=source.requires_accompaniment_experience,
        lead_must_be_district_lead=source.lead_must_be_district_lead,
        required_member_natures=list(source.required_member_natures),
        min_required_members=source.min_required_members,
        required_members_in_piemonte=source.required_members_in_piemonte,
    )


def measure_read(
    measure: Measure,
    lines: list[MeasureLine],
    phases: list[MeasurePhase],
    areas: list[ThematicArea],
) -> MeasureRead:
    """A measure with its parts, loaded apart (relationships never load lazily)."""
    return from_attributes(
        MeasureRead,
        measure,
        eligibility=eligibility_read(measure) if measure.applicant_forms else None,
        mixed_terms=measure.loan_terms if measure.instrument == Instrument.MIXED else None,
        cofinancing=cofinancing_read(measure.shares),
        lines=[
            from_attributes(LineRead, line, eligibility=eligibility_read(line)) for line in lines
        ],
        phases=phases,
        thematic_areas=areas,
    )


class ProgrammeQuery(PageQuery, NameSearch):
    """The programme list's query string."""


class _MeasureFilters(BaseModel):
    programme_id: ProgrammeFilter = None
    fund: FundFilter = None
    q: str | None = Field(None, max_length=100, description="Text in the title.")


class MeasureQuery(PageQuery, _MeasureFilters):
    """The measure list's query string."""
