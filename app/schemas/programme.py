"""Programmes and measures (with lines, phases and thematic areas)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from app.core.domain import Fund
from app.core.money import from_cents
from app.models.mixins import EligibilityMixin
from app.models.programme import Measure, MeasureLine, MeasurePhase, Programme, ThematicArea
from app.schemas.common import Input, Output
from app.schemas.page import FundFilter, NameSearch, PageQuery, ProgrammeFilter
from app.schemas.reference_data import (
    EligibilitySpec,
    LineSpec,
    MeasurePhaseSpec,
    Text,
    ThematicAreaSpec,
)
from app.schemas.types import Money

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class BudgetFigures(Output):
    budget: Money
    allocated: Money
    available: Money
    funded_projects: int
    max_funded_projects: int | None = Field(description="The cap on funded projects, if any.")


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
    eligibility: EligibilityRead | None = Field(
        description="null when applications go through the lines."
    )
    lines: list[LineRead]
    phases: list[PhaseRead]
    thematic_areas: list[ThematicAreaRead]
    created_at: datetime
    updated_at: datetime


def programme_read(programme: Programme) -> ProgrammeRead:
    return ProgrammeRead(
        id=programme.id,
        code=programme.code,
        name_it=programme.name_it,
        name_en=programme.name_en,
        description_it=programme.description_it,
        description_en=programme.description_en,
        currency=programme.currency,
        responsible_office=programme.responsible_office,
        legal_basis=programme.legal_basis,
        approved_on=programme.approved_on,
        total_budget=from_cents(programme.total_budget_cents),
        measures_budget=from_cents(programme.measures_budget_cents),
        allocated=from_cents(programme.allocated_cents),
        available=from_cents(programme.total_budget_cents - programme.allocated_cents),
        funded_projects=programme.funded_projects,
        created_at=programme.created_at,
        updated_at=programme.updated_at,
    )


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


def _money(cents: int | None) -> Decimal | None:
    return None if cents is None else from_cents(cents)


def measure_read(
    measure: Measure,
    lines: list[MeasureLine],
    phases: list[MeasurePhase],
    areas: list[ThematicArea],
) -> MeasureRead:
    return MeasureRead(
        id=measure.id,
        programme_id=measure.programme_id,
        code=measure.code,
        fund=measure.fund,
        ordinal=measure.ordinal,
        title_it=measure.title_it,
        title_en=measure.title_en,
        objective_it=measure.objective_it,
        objective_en=measure.objective_en,
        beneficiaries_it=measure.beneficiaries_it,
        beneficiaries_en=measure.beneficiaries_en,
        notes_it=measure.notes_it,
        notes_en=measure.notes_en,
        example_actions=list(measure.example_actions),
        budget=from_cents(measure.budget_cents),
        calls_budget=from_cents(measure.calls_budget_cents),
        allocated=from_cents(measure.allocated_cents),
        available=from_cents(measure.budget_cents - measure.allocated_cents),
        funded_projects=measure.funded_projects,
        max_funded_projects=measure.max_funded_projects,
        one_per_district=measure.one_per_district,
        two_stage_submission=measure.two_stage_submission,
        eligibility=eligibility_read(measure) if measure.applicant_forms else None,
        lines=[
            LineRead(
                id=line.id,
                number=line.number,
                code=line.code,
                title_it=line.title_it,
                title_en=line.title_en,
                description_it=line.description_it,
                description_en=line.description_en,
                min_project_cost=_money(line.min_project_cost_cents),
                max_project_cost=_money(line.max_project_cost_cents),
                eligibility=eligibility_read(line),
            )
            for line in lines
        ],
        phases=[
            PhaseRead(ordinal=p.ordinal, code=p.code, title_it=p.title_it, title_en=p.title_en)
            for p in phases
        ],
        thematic_areas=[
            ThematicAreaRead(id=a.id, code=a.code, title_it=a.title_it, title_en=a.title_en)
            for a in areas
        ],
        created_at=measure.created_at,
        updated_at=measure.updated_at,
    )


class ProgrammeQuery(PageQuery, NameSearch):
    """The programme list's query string."""


class _MeasureFilters(BaseModel):
    programme_id: ProgrammeFilter = None
    fund: FundFilter = None
    q: str | None = Field(None, max_length=100, description="Text in the title.")


class MeasureQuery(PageQuery, _MeasureFilters):
    """The measure list's query string."""
