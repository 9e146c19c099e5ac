"""The programme aggregate: programme, measures, lines, measure phases, thematic areas.

Budget figures and their running counters live on the rows they cap; CHECK constraints
(named by the convention) make the database refuse any state that breaks a cap.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.cofinancing import Shares
from app.core.domain import Fund, Instrument, StateAidRegime
from app.core.money import ZERO
from app.db.base import Base
from app.db.types import Money, json_type, str_enum
from app.models.mixins import (
    EligibilityMixin,
    FundingCountersMixin,
    IdMixin,
    TimestampsMixin,
    VersionedMixin,
    funding_checks,
)


class Programme(IdMixin, TimestampsMixin, VersionedMixin, FundingCountersMixin, Base):
    __tablename__ = "programme"
    __table_args__ = (
        *funding_checks("allocated_cents"),
        CheckConstraint("total_budget_cents > 0", name="total_budget_positive"),
        CheckConstraint(
            "measures_budget_cents >= 0 AND measures_budget_cents <= total_budget_cents",
            name="measures_within_total",
        ),
        CheckConstraint(
            "allocated_cents >= 0 AND allocated_cents <= total_budget_cents",
            name="allocated_within_total",
        ),
        CheckConstraint("funded_projects >= 0", name="funded_projects_non_negative"),
        CheckConstraint("currency = 'EUR'", name="currency_eur"),
        CheckConstraint("lent_cents >= 0", name="lent_non_negative"),
        CheckConstraint(
            "repaid_cents >= 0 AND repaid_cents <= lent_cents", name="repaid_within_lent"
        ),
    )

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_it: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    description_it: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    responsible_office: Mapped[str] = mapped_column(String(300))
    legal_basis: Mapped[str] = mapped_column(String(1000))
    approved_on: Mapped[date | None] = mapped_column(Date)
    principles: Mapped[list[dict[str, str]]] = mapped_column(json_type(), default=list)
    reference_data_version: Mapped[str | None] = mapped_column(String(40))

    total_budget: Mapped[Decimal] = mapped_column("total_budget_cents", Money)
    # Counters: sum of the measures' budgets, sum of active allocations, funded projects.
    measures_budget: Mapped[Decimal] = mapped_column("measures_budget_cents", Money, default=ZERO)
    allocated: Mapped[Decimal] = mapped_column("allocated_cents", Money, default=ZERO)
    funded_projects: Mapped[int] = mapped_column(Integer, default=0)
    # The mixed instruments' fund: loan parts granted (active allocations) and principal
    # repaid. ``allocated`` counts a loan net of what is repaid (the fund revolves).
    lent: Mapped[Decimal] = mapped_column("lent_cents", Money, default=ZERO)
    repaid: Mapped[Decimal] = mapped_column("repaid_cents", Money, default=ZERO)

    measures: Mapped[list[Measure]] = relationship(
        back_populates="programme", lazy="raise", order_by="Measure.ordinal"
    )

    @property
    def available(self) -> Decimal:
        return self.total_budget - self.allocated

    @property
    def outstanding(self) -> Decimal:
        return self.lent - self.repaid


# All three shares or none (NOT NULL spelled out: a NULL sum would pass a CHECK); each
# within 0..10000 and together 10000.
COFINANCING_SHARES = (
    "(eu_share_bp IS NULL AND national_share_bp IS NULL AND regional_share_bp IS NULL) OR "
    "(eu_share_bp IS NOT NULL AND national_share_bp IS NOT NULL AND "
    "regional_share_bp IS NOT NULL AND "
    "eu_share_bp >= 0 AND national_share_bp >= 0 AND regional_share_bp >= 0 AND "
    "eu_share_bp + national_share_bp + regional_share_bp = 10000)"
)


class Measure(
    IdMixin, TimestampsMixin, VersionedMixin, FundingCountersMixin, EligibilityMixin, Base
):
    __tablename__ = "measure"
    __table_args__ = (
        *funding_checks("allocated_cents"),
        UniqueConstraint("programme_id", "code"),
        CheckConstraint("budget_cents >= 0", name="budget_non_negative"),
        CheckConstraint(
            "calls_budget_cents >= 0 AND calls_budget_cents <= budget_cents",
            name="calls_within_budget",
        ),
        CheckConstraint(
            "allocated_cents >= 0 AND allocated_cents <= budget_cents",
            name="allocated_within_budget",
        ),
        CheckConstraint(
            "max_funded_projects IS NULL OR max_funded_projects > 0", name="max_projects_positive"
        ),
        CheckConstraint(
            "funded_projects >= 0 AND "
            "(max_funded_projects IS NULL OR funded_projects <= max_funded_projects)",
            name="funded_within_max",
        ),
        CheckConstraint("min_required_members >= 0", name="min_required_members_non_negative"),
        CheckConstraint(
            "(gber_article IS NULL) OR (state_aid_regime = 'block_exemption')",
            name="gber_article",
        ),
        CheckConstraint("lent_cents >= 0", name="lent_non_negative"),
        CheckConstraint(
            "repaid_cents >= 0 AND repaid_cents <= lent_cents", name="repaid_within_lent"
        ),
        CheckConstraint(
            "instrument = 'mixed' OR lent_cents = 0",
            name="loans_only_mixed",
        ),
        CheckConstraint(COFINANCING_SHARES, name="cofinancing_shares"),
    )

    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    fund: Mapped[Fund] = mapped_column(str_enum(Fund, "fund"))
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    objective_it: Mapped[str] = mapped_column(Text)
    objective_en: Mapped[str] = mapped_column(Text)
    beneficiaries_it: Mapped[str] = mapped_column(Text)
    beneficiaries_en: Mapped[str] = mapped_column(Text)
    notes_it: Mapped[str | None] = mapped_column(Text)
    notes_en: Mapped[str | None] = mapped_column(Text)
    example_actions: Mapped[list[dict[str, str]]] = mapped_column(json_type(), default=list)

    budget: Mapped[Decimal] = mapped_column("budget_cents", Money)
    max_funded_projects: Mapped[int | None] = mapped_column(Integer)
    one_per_district: Mapped[bool] = mapped_column(Boolean, default=False)
    two_stage_submission: Mapped[bool] = mapped_column(Boolean, default=False)
    # State aid (migration 0020): None where the source does not give the regime.
    state_aid_regime: Mapped[StateAidRegime | None] = mapped_column(
        str_enum(StateAidRegime, "state_aid_regime")
    )
    gber_article: Mapped[str | None] = mapped_column(String(40))
    # Counters: sum of the calls' budget shares, active allocations, funded projects.
    calls_budget: Mapped[Decimal] = mapped_column("calls_budget_cents", Money, default=ZERO)
    allocated: Mapped[Decimal] = mapped_column("allocated_cents", Money, default=ZERO)
    funded_projects: Mapped[int] = mapped_column(Integer, default=0)
    # The instrument, and for a mixed one its terms (app.schemas.reference_data.MixedTerms
    # as JSON: a null figure is "not given by the source", and no mixed grant is made until
    # the region sets it). The fund's counters as on the programme.
    instrument: Mapped[Instrument] = mapped_column(
        str_enum(Instrument, "instrument"), default=Instrument.GRANT
    )
    loan_terms: Mapped[dict[str, object] | None] = mapped_column(json_type())
    lent: Mapped[Decimal] = mapped_column("lent_cents", Money, default=ZERO)
    repaid: Mapped[Decimal] = mapped_column("repaid_cents", Money, default=ZERO)
    # Co-financing (migration 0024): basis points of every figure, summing to 10000; all
    # null where the source does not give them (app.core.cofinancing splits a figure).
    eu_share_bp: Mapped[int | None] = mapped_column(Integer)
    national_share_bp: Mapped[int | None] = mapped_column(Integer)
    regional_share_bp: Mapped[int | None] = mapped_column(Integer)

    programme: Mapped[Programme] = relationship(back_populates="measures", lazy="raise")
    lines: Mapped[list[MeasureLine]] = relationship(
        back_populates="measure", lazy="raise", order_by="MeasureLine.number"
    )
    phases: Mapped[list[MeasurePhase]] = relationship(lazy="raise", order_by="MeasurePhase.ordinal")
    thematic_areas: Mapped[list[ThematicArea]] = relationship(
        lazy="raise", order_by="ThematicArea.ordinal"
    )

    @property
    def available(self) -> Decimal:
        return self.budget - self.allocated

    @property
    def outstanding(self) -> Decimal:
        return self.lent - self.repaid

    @property
    def shares(self) -> Shares | None:
        """The co-financing shares, or None: not given by the source."""
        if self.eu_share_bp is None or self.national_share_bp is None:
            return None
        if self.regional_share_bp is None:
            return None
        return Shares(self.eu_share_bp, self.national_share_bp, self.regional_share_bp)


class MeasureLine(IdMixin, TimestampsMixin, VersionedMixin, EligibilityMixin, Base):
    """A line of action within a measure, with its own eligibility and project-value thresholds."""

    __tablename__ = "measure_line"
    __table_args__ = (
        UniqueConstraint("measure_id", "number"),
        UniqueConstraint("measure_id", "code"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint(
            "min_project_cost_cents IS NULL OR min_project_cost_cents >= 0",
            name="min_cost_non_negative",
        ),
        CheckConstraint(
            "min_project_cost_cents IS NULL OR max_project_cost_cents IS NULL "
            "OR min_project_cost_cents <= max_project_cost_cents",
            name="thresholds_ordered",
        ),
        CheckConstraint("min_required_members >= 0", name="min_required_members_non_negative"),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    description_it: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    min_project_cost: Mapped[Decimal | None] = mapped_column("min_project_cost_cents", Money)
    max_project_cost: Mapped[Decimal | None] = mapped_column("max_project_cost_cents", Money)

    measure: Mapped[Measure] = relationship(back_populates="lines", lazy="raise")


class MeasurePhase(IdMixin, Base):
    """A phase of a measure's procedure (FSE1: preliminary then executive project)."""

    __tablename__ = "measure_phase"
    __table_args__ = (
        UniqueConstraint("measure_id", "ordinal"),
        UniqueConstraint("measure_id", "code"),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    description_it: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)


class ThematicArea(IdMixin, Base):
    __tablename__ = "thematic_area"
    __table_args__ = (UniqueConstraint("measure_id", "code"),)

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(60))
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
