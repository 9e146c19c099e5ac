"""The shape of a programme's reference-data file (data/programmes/*.yaml).

Everything a programme's rules need is here as data: budgets, caps, eligibility,
thresholds, phases and per-call participation limits. A second programme is a second
file, not new code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from app.core.amortisation import REPAYMENTS_PER_YEAR, LoanTerms
from app.core.cofinancing import BASIS, Shares
from app.core.domain import (
    Accumulation,
    Amortisation,
    ApplicantForm,
    CallStatus,
    DeMinimisRegulation,
    DocumentOwner,
    Fund,
    GracePayment,
    IndicatorKind,
    Instrument,
    LegalNature,
    PhaseKind,
    ProfitStatus,
    SelectionMethod,
    SizeClass,
    StateAidRegime,
)
from app.schemas.common import JsonScalars
from app.schemas.scoring import ScoringGridSpec
from app.schemas.types import Money

Code = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class _Spec(JsonScalars):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Spec):
    """A text in Italian (the source language) and English."""

    it: str = Field(min_length=1, max_length=4000)
    en: str = Field(min_length=1, max_length=4000)


class EligibilitySpec(_Spec):
    """Who may apply. An empty list means "no restriction on this attribute"."""

    applicant_forms: list[ApplicantForm] = Field(min_length=1)
    legal_natures: list[LegalNature] = Field(
        default_factory=list, description="Every applying organisation must have one of these."
    )
    size_classes: list[SizeClass] = Field(default_factory=list)
    profit_statuses: list[ProfitStatus] = Field(default_factory=list)
    requires_accompaniment_experience: bool = False
    lead_must_be_district_lead: bool = Field(
        default=False, description="A partnership's lead must be its district's lead body."
    )
    required_member_natures: list[LegalNature] = Field(
        default_factory=list,
        description="A partnership must include members of these natures ...",
    )
    min_required_members: int = Field(
        default=0, ge=0, le=100, description="... at least this many."
    )
    required_members_in_piemonte: bool = Field(
        default=False, description="... and those members must be based in Piemonte."
    )

    @model_validator(mode="after")
    def _coherent(self) -> EligibilitySpec:
        if self.min_required_members and not self.required_member_natures:
            raise ValueError("min_required_members needs required_member_natures")
        return self


class ThematicAreaSpec(_Spec):
    code: str = Code
    title: Text


class MeasurePhaseSpec(_Spec):
    code: str = Code
    title: Text
    description: Text | None = None


class LineSpec(_Spec):
    number: int = Field(ge=1, le=99)
    code: str = Code
    title: Text
    description: Text
    min_project_cost: Money | None = None
    max_project_cost: Money | None = None
    eligibility: EligibilitySpec

    @model_validator(mode="after")
    def _thresholds(self) -> LineSpec:
        low, high = self.min_project_cost, self.max_project_cost
        if low is not None and high is not None and low > high:
            raise ValueError(f"line {self.code}: min_project_cost {low} > max {high}")
        return self


class MixedTerms(_Spec):
    """A mixed instrument's terms. A null figure is "not given by the source": the measure
    makes no mixed grant until the region sets every figure (PATCH /api/v1/measures/{id}).

    The split of an amount: the loan part is ``amount x loan_share_bp / 10000`` rounded half
    up to the cent, the grant part is the rest (so the two always sum to the amount)."""

    loan_share_bp: int | None = Field(
        default=None,
        ge=1,
        le=9999,
        description="The loan's share of each grant, in basis points (7000 = 70%); the grant "
        "part is the rest.",
    )
    annual_rate_bp: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="The loan's nominal annual rate in basis points (150 = 1.50%).",
    )
    term_months: int | None = Field(
        default=None, ge=1, le=600, description="The loan's term in months, grace included."
    )
    grace_months: int | None = Field(default=None, ge=0, le=599)
    grace_payment: GracePayment | None = Field(
        default=None, description="What is paid during the grace: the interest, or nothing."
    )
    repayments_per_year: int | None = Field(
        default=None, description=f"Instalments a year: one of {REPAYMENTS_PER_YEAR}."
    )
    amortisation: Amortisation | None = Field(
        default=None, description="french: constant instalment; italian: constant principal."
    )
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _usable_when_complete(self) -> MixedTerms:
        if (
            self.repayments_per_year is not None
            and self.repayments_per_year not in REPAYMENTS_PER_YEAR
        ):
            raise ValueError(f"repayments_per_year must be one of {REPAYMENTS_PER_YEAR}")
        terms = self.loan_terms()
        if terms is not None and (problems := terms.problems()):
            raise ValueError("; ".join(problems))
        return self

    def missing(self) -> list[str]:
        """The figures still not given."""
        return [
            name
            for name in (
                "loan_share_bp",
                "annual_rate_bp",
                "term_months",
                "grace_months",
                "grace_payment",
                "repayments_per_year",
                "amortisation",
            )
            if getattr(self, name) is None
        ]

    def loan_terms(self) -> LoanTerms | None:
        """The loan's terms, or None while a figure is missing."""
        if self.missing():
            return None
        assert self.annual_rate_bp is not None
        assert self.term_months is not None
        assert self.grace_months is not None
        assert self.grace_payment is not None
        assert self.repayments_per_year is not None
        assert self.amortisation is not None
        return LoanTerms(
            self.annual_rate_bp,
            self.term_months,
            self.grace_months,
            self.grace_payment,
            self.repayments_per_year,
            self.amortisation,
        )


class Cofinancing(_Spec):
    """A measure's co-financing: the EU, national and regional shares of its money, in basis
    points summing to 10000 (app.core.cofinancing states how a figure is split in cents)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"eu_share_bp": 5000, "national_share_bp": 3500, "regional_share_bp": 1500}
            ]
        },
    )
    eu_share_bp: int = Field(ge=0, le=BASIS, description="The EU's share (5000 = 50%).")
    national_share_bp: int = Field(ge=0, le=BASIS, description="The State's share.")
    regional_share_bp: int = Field(ge=0, le=BASIS, description="The region's share.")

    @model_validator(mode="after")
    def _whole(self) -> Cofinancing:
        if problems := self.shares().problems():
            raise ValueError("; ".join(problems))
        return self

    def shares(self) -> Shares:
        return Shares(self.eu_share_bp, self.national_share_bp, self.regional_share_bp)


def cofinancing_read(shares: Shares | None) -> Cofinancing | None:
    """A measure's shares as read, or None: not given by the source."""
    if shares is None:
        return None
    return Cofinancing(
        eu_share_bp=shares.eu_bp,
        national_share_bp=shares.national_bp,
        regional_share_bp=shares.regional_bp,
    )


class PaymentTermsSpec(_Spec):
    """A measure's payment rules (issue 16). Null: not given by the source; the region sets
    it, and until then what depends on it does not happen (no lapse, no advance, no
    interim payment, no claim without cost categories)."""

    acceptance_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days after the grant within which the beneficiary accepts it, or it "
        "lapses and its money returns to the call.",
    )
    advance_share_pct: int | None = Field(
        default=None, ge=0, le=100, description="The advance: at most this % of the grant."
    )
    interim_payments: bool | None = Field(
        default=None, description="Whether interim payments on verified expenditure are made."
    )
    retention_share_pct: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Withheld from the payments before the balance: this % of the grant.",
    )
    cost_categories: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="The codes a claim's lines may use; empty: not given by the source.",
    )
    recovery_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days after a revocation of a paid grant within which what is due back "
        "is to be repaid (the recovery's due date).",
    )
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _categories(self) -> PaymentTermsSpec:
        for code in self.cost_categories:
            if not 1 <= len(code) <= 60 or not code.replace("_", "").isalnum():
                raise ValueError(f"cost category {code!r}: letters, digits and _ only")
        if len(set(self.cost_categories)) != len(self.cost_categories):
            raise ValueError("cost categories must be unique")
        return self


# The media types a document kind may allow: those the service can recognise from the
# content (app/services/document_types.py), no others.
DocumentMediaType = Literal[
    "application/pdf",
    "application/pkcs7-mime",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/csv",
]


class DocumentKindSpec(_Spec):
    """A kind of document a measure's applications, claims, calls or rankings carry (issue
    19). A null count or size: not given by the source (no limit but the service's cap)."""

    code: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")
    owner: DocumentOwner
    title: Text
    required: bool = Field(
        default=False, description="An application or claim is not submitted without one."
    )
    max_count: int | None = Field(default=None, ge=1, le=1000)
    max_bytes: int | None = Field(default=None, ge=1)
    media_types: list[DocumentMediaType] = Field(min_length=1)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _required_for_filed_owners(self) -> DocumentKindSpec:
        if self.required and self.owner not in (DocumentOwner.APPLICATION, DocumentOwner.CLAIM):
            raise ValueError(
                f"document kind {self.code}: only application and claim kinds "
                "can be required (they are checked at submission)"
            )
        return self


class BreakdownSpec(_Spec):
    """A breakdown of an indicator's total (e.g. gender: women, men, other): every category
    is given, and they add up to the total."""

    code: str = Code
    title: Text
    categories: list[str] = Field(min_length=2, max_length=20)

    @model_validator(mode="after")
    def _categories(self) -> BreakdownSpec:
        for category in self.categories:
            if not 1 <= len(category) <= 40 or not category.replace("_", "").isalnum():
                raise ValueError(
                    f"breakdown {self.code}: category {category!r}: letters, digits, _"
                )
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"breakdown {self.code}: categories must be unique")
        return self


class IndicatorSpec(_Spec):
    """One indicator of a measure (issue 20). ``code`` is unique in the programme: the EU
    common indicator's code where one applies, else the programme's own; ``eu_code`` names
    the common indicator and ``eu_code_basis`` the act that defines it (null: none applies,
    or not given by the source)."""

    code: str = Code
    eu_code: str | None = Field(default=None, min_length=1, max_length=20)
    eu_code_basis: str | None = Field(default=None, min_length=1, max_length=300)
    name: Text
    unit: Text
    kind: IndicatorKind
    accumulation: Accumulation
    breakdowns: list[BreakdownSpec] = Field(default_factory=list, max_length=5)
    target_required: bool
    suppress_below: int = Field(
        ge=1,
        le=1000,
        description="Public totals hide a breakdown's cell below this count (small cells "
        "could identify a person).",
    )
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _coherent(self) -> IndicatorSpec:
        if (self.eu_code is None) != (self.eu_code_basis is None):
            raise ValueError(f"indicator {self.code}: eu_code and eu_code_basis go together")
        if len({b.code for b in self.breakdowns}) != len(self.breakdowns):
            raise ValueError(f"indicator {self.code}: breakdown codes must be unique")
        return self


class MeasureSpec(_Spec):
    code: str = Code
    fund: Fund
    title: Text
    objective: Text
    beneficiaries: Text
    notes: Text | None = None
    budget: Money
    max_funded_projects: int | None = Field(default=None, ge=1)
    one_per_district: bool = False
    two_stage_submission: bool = False
    example_actions: list[Text] = Field(default_factory=list)
    thematic_areas: list[ThematicAreaSpec] = Field(default_factory=list)
    phases: list[MeasurePhaseSpec] = Field(default_factory=list)
    eligibility: EligibilitySpec | None = Field(
        default=None, description="Required unless every application goes through a line."
    )
    lines: list[LineSpec] = Field(default_factory=list)
    state_aid_regime: StateAidRegime | None = Field(
        default=None,
        description="none, de_minimis or block_exemption; null: not given by the source (no "
        "state-aid check runs until the region sets it).",
    )
    gber_article: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="block_exemption only: the article of Regulation (EU) 651/2014 (GBER).",
    )

    payment_terms: PaymentTermsSpec = Field(
        default_factory=PaymentTermsSpec,
        description="Acceptance deadline, advance, interim payments, retention and cost "
        "categories; absent: none given.",
    )

    document_kinds: list[DocumentKindSpec] = Field(
        default_factory=list,
        description="The documents its applications, claims, calls and rankings carry; "
        "none: no document can be uploaded to them.",
    )

    instrument: Instrument = Instrument.GRANT
    mixed_terms: MixedTerms | None = Field(
        default=None, description="A mixed instrument's terms (required for one, else none)."
    )
    cofinancing: Cofinancing | None = Field(
        default=None,
        description="The EU, national and regional shares; null: not given by the source "
        "(the region sets them, PATCH /api/v1/measures/{id}; a reload keeps what it set).",
    )
    indicators: list[IndicatorSpec] = Field(default_factory=list, max_length=50)
    monitoring_period_months: int | None = Field(
        default=None,
        ge=1,
        le=36,
        description="A funded project files a monitoring report every this many months from "
        "its start; null: not given by the source (no report is filed until it is set).",
    )

    @model_validator(mode="after")
    def _unique_document_kinds(self) -> MeasureSpec:
        seen = [(k.owner, k.code) for k in self.document_kinds]
        if len(set(seen)) != len(seen):
            raise ValueError(f"measure {self.code}: document kinds repeat an owner and code")
        return self

    @model_validator(mode="after")
    def _gber_article_for_block_exemption(self) -> MeasureSpec:
        if (
            self.gber_article is not None
            and self.state_aid_regime != StateAidRegime.BLOCK_EXEMPTION
        ):
            raise ValueError(f"measure {self.code}: gber_article is for block_exemption only")
        return self

    @model_validator(mode="after")
    def _terms_for_mixed(self) -> MeasureSpec:
        if (self.instrument == Instrument.MIXED) != (self.mixed_terms is not None):
            raise ValueError(f"measure {self.code}: mixed_terms are given exactly for a mixed one")
        return self

    @model_validator(mode="after")
    def _eligibility_somewhere(self) -> MeasureSpec:
        if self.eligibility is None and not self.lines:
            raise ValueError(f"measure {self.code}: give eligibility or lines")
        return self


class CallPhaseSpec(_Spec):
    kind: PhaseKind
    opens_at: AwareDatetime
    closes_at: AwareDatetime

    @model_validator(mode="after")
    def _window(self) -> CallPhaseSpec:
        if self.closes_at <= self.opens_at:
            raise ValueError(f"phase closes ({self.closes_at}) before it opens ({self.opens_at})")
        return self


class ParticipationLimitSpec(_Spec):
    legal_nature: LegalNature
    max_projects: int = Field(ge=1, le=1000)


class CallSpec(_Spec):
    code: str = Code
    measure: str = Code
    line: int | None = None
    title: Text
    budget: Money
    status: CallStatus
    selection_method: SelectionMethod = SelectionMethod.RANKING
    published_on: date | None = None
    dates_note: str | None = Field(default=None, max_length=1000)
    phases: list[CallPhaseSpec] = Field(min_length=1)
    participation_limits: list[ParticipationLimitSpec] = Field(default_factory=list)
    scoring_grid: ScoringGridSpec | None = Field(
        default=None, description="Evaluative (ranking) calls only: the criteria reviewers use."
    )
    waiting_list_length: int | None = Field(
        default=None,
        ge=0,
        description="First-come calls only: how many applications may wait; null: no limit "
        "(also where the source does not give one).",
    )
    partial_last_grant: bool | None = Field(
        default=None,
        description="Whether a run down the ranking may grant the last fundable application "
        "part of its request; null: not given by the source, not allowed until set.",
    )
    de_minimis_regulation: DeMinimisRegulation | None = Field(
        default=None,
        description="The de minimis regulation of the call's grants, where its measure's "
        "regime is de_minimis: 1407/2013 (EUR 200,000, three fiscal years) or 2023/2831 "
        "(EUR 300,000, any three years); null: not given by the source.",
    )
    advance_guarantee_required: bool | None = Field(
        default=None,
        description="Whether a guarantee must be recorded (with the acceptance) before the "
        "advance is paid; null: not given by the source, no advance until set.",
    )

    @model_validator(mode="after")
    def _waiting_list_for_first_come(self) -> CallSpec:
        if (
            self.waiting_list_length is not None
            and self.selection_method != SelectionMethod.FIRST_COME
        ):
            raise ValueError(
                f"call {self.code}: waiting_list_length is for first-come calls, not "
                f"{self.selection_method}"
            )
        return self

    @model_validator(mode="after")
    def _grid_for_ranking(self) -> CallSpec:
        if self.scoring_grid is not None and self.selection_method != SelectionMethod.RANKING:
            raise ValueError(
                f"call {self.code}: scoring_grid is for ranking calls, not {self.selection_method}"
            )
        return self


class ProgrammeSpec(_Spec):
    code: str = Code
    name: Text
    description: Text
    total_budget: Money
    currency: str = Field(default="EUR", pattern="^EUR$")
    responsible_office: str = Field(min_length=1, max_length=300)
    legal_basis: str = Field(min_length=1, max_length=1000)
    approved_on: date | None = None
    principles: list[Text] = Field(default_factory=list)
    document_retention_years: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Years the documents are kept after the programme closes; null (the "
        "default): never deleted.",
    )
    measures: list[MeasureSpec] = Field(min_length=1)
    calls: list[CallSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> ProgrammeSpec:
        measures = {m.code: m for m in self.measures}
        if len(measures) != len(self.measures):
            raise ValueError("measure codes must be unique")
        for call in self.calls:
            measure = measures.get(call.measure)
            if measure is None:
                raise ValueError(f"call {call.code}: unknown measure {call.measure}")
            if call.line is not None and call.line not in {ln.number for ln in measure.lines}:
                raise ValueError(f"call {call.code}: {call.measure} has no line {call.line}")
        if len({c.code for c in self.calls}) != len(self.calls):
            raise ValueError("call codes must be unique")
        indicator_codes = [i.code for m in self.measures for i in m.indicators]
        if len(set(indicator_codes)) != len(indicator_codes):
            raise ValueError("indicator codes must be unique in the programme")
        return self

    @property
    def measures_budget(self) -> Decimal:
        return sum((m.budget for m in self.measures), Decimal("0.00"))


class ReferenceDataFile(_Spec):
    """A versioned reference-data file."""

    format_version: int = Field(ge=1, le=1)
    data_version: str = Field(min_length=1, max_length=40)
    source: str = Field(min_length=1, max_length=2000)
    programme: ProgrammeSpec
