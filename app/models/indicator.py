"""Indicators (issue 20): a measure's definitions, an application's targets, a funded
project's dates and its periodic monitoring reports.

Figures (targets and reported values) are one JSON document per row, keyed by indicator
code: ``{"CODE": {"total": 12, "breakdowns": {"gender": {"women": 7, "men": 5}}}}``;
app.services.indicators checks them against the measure's definitions before writing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import Accumulation, IndicatorKind, NarrativeLanguage, ReportStatus
from app.db.base import Base
from app.db.types import json_type, str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class Indicator(IdMixin, Base):
    """An indicator of a measure, loaded from the programme's reference data."""

    __tablename__ = "indicator"
    __table_args__ = (
        UniqueConstraint("measure_id", "code"),
        CheckConstraint("suppress_below >= 1", name="suppress_below_positive"),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    eu_code: Mapped[str | None] = mapped_column(String(20))
    eu_code_basis: Mapped[str | None] = mapped_column(String(300))
    name_it: Mapped[str] = mapped_column(String(4000))
    name_en: Mapped[str] = mapped_column(String(4000))
    unit_it: Mapped[str] = mapped_column(String(4000))
    unit_en: Mapped[str] = mapped_column(String(4000))
    kind: Mapped[IndicatorKind] = mapped_column(str_enum(IndicatorKind, "indicator_kind"))
    accumulation: Mapped[Accumulation] = mapped_column(str_enum(Accumulation, "accumulation"))
    # [{"code": "gender", "title": {"it": ..., "en": ...}, "categories": ["women", ...]}]
    breakdowns: Mapped[list[dict[str, object]]] = mapped_column(json_type(), default=list)
    target_required: Mapped[bool] = mapped_column(Boolean)
    suppress_below: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(2000))


class MonitoringTerms(IdMixin, Base):
    """A measure's monitoring rule: months between a funded project's reports; null: not
    given by the source (no report is filed until the region sets it in the data)."""

    __tablename__ = "monitoring_terms"
    __table_args__ = (
        CheckConstraint("period_months IS NULL OR period_months >= 1", name="period_positive"),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), unique=True)
    period_months: Mapped[int | None] = mapped_column(Integer)


class IndicatorTargets(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """The targets an application sets for its measure's indicators (one set, replaced
    while the application is a draft)."""

    __tablename__ = "indicator_targets"

    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("application.id"), unique=True)
    figures: Mapped[dict[str, object]] = mapped_column(json_type())
    set_by: Mapped[str] = mapped_column(String(200))


class ProjectSchedule(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A funded project's start, planned end and actual end."""

    __tablename__ = "project_schedule"
    __table_args__ = (
        CheckConstraint("planned_end_on >= starts_on", name="planned_end_after_start"),
        CheckConstraint(
            "actual_end_on IS NULL OR actual_end_on >= starts_on", name="actual_end_after_start"
        ),
        Index("project_schedule_created_at_id_idx", "created_at", "id"),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"), unique=True)
    starts_on: Mapped[date] = mapped_column(Date)
    planned_end_on: Mapped[date] = mapped_column(Date)
    actual_end_on: Mapped[date | None] = mapped_column(Date)


class MonitoringReport(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """One version of a funded project's report for one period. A correction is a new
    revision of the same period; earlier revisions are kept as filed."""

    __tablename__ = "monitoring_report"
    __table_args__ = (
        UniqueConstraint("allocation_id", "period", "revision"),
        CheckConstraint("period >= 1", name="period_positive"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("(status = 'pending') = (checked_at IS NULL)", name="checked_has_time"),
        CheckConstraint(
            "(status = 'returned') = (return_reason IS NOT NULL)", name="returned_has_reason"
        ),
        Index(
            "monitoring_report_allocation_id_created_at_id_idx", "allocation_id", "created_at", "id"
        ),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"))
    period: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    final: Mapped[bool] = mapped_column(Boolean)
    figures: Mapped[dict[str, object]] = mapped_column(json_type())
    milestones: Mapped[list[str]] = mapped_column(json_type(), default=list)
    narrative: Mapped[str] = mapped_column(Text)
    narrative_language: Mapped[NarrativeLanguage] = mapped_column(
        str_enum(NarrativeLanguage, "narrative_language")
    )
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus, "report_status"))
    filed_by: Mapped[str] = mapped_column(String(200))
    checked_at: Mapped[datetime | None]
    checked_by: Mapped[str | None] = mapped_column(String(200))
    return_reason: Mapped[str | None] = mapped_column(String(2000))
