"""Applications (proposals, projects) submitted to a call."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import ApplicationStage, ApplicationStatus
from app.core.money import MAX_CENTS, ZERO
from app.db.base import Base
from app.db.types import Money, str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin

# Statuses that hold a place: a submitted, reviewed, admitted or approved project.
LIVE_STATUSES = ("submitted", "under_review", "admitted", "approved")
_LIVE = "status IN ('submitted', 'under_review', 'admitted', 'approved')"


class Application(IdMixin, TimestampsMixin, VersionedMixin, Base):
    __tablename__ = "application"
    __table_args__ = (
        # Rule 3: one live application per district where the measure says so. The slot is
        # set only for such measures; an executive project holds it through its preliminary.
        Index(
            "application_one_live_per_district_key",
            "measure_id",
            "district_slot_id",
            unique=True,
            postgresql_where=text(_LIVE),
            sqlite_where=text(_LIVE),
        ),
        Index("application_call_id_created_at_id_idx", "call_id", "created_at", "id"),
        Index("application_created_at_id_idx", "created_at", "id"),
        Index(
            "application_one_live_executive_per_preliminary_key",
            "preliminary_id",
            unique=True,
            postgresql_where=text(_LIVE),
            sqlite_where=text(_LIVE),
        ),
        CheckConstraint(
            "(applicant_organisation_id IS NULL) <> (partnership_id IS NULL)",
            name="one_applicant",
        ),
        CheckConstraint(
            f"total_cost_cents > 0 AND total_cost_cents <= {MAX_CENTS}",
            name="total_cost_in_range",
        ),
        CheckConstraint(
            "requested_cents > 0 AND requested_cents <= total_cost_cents",
            name="requested_within_cost",
        ),
        CheckConstraint(
            "(stage = 'executive') = (preliminary_id IS NOT NULL)",
            name="executive_links_preliminary",
        ),
        CheckConstraint(
            "reserved_cents >= 0 AND reserved_cents <= requested_cents",
            name="reservation_within_request",
        ),
        CheckConstraint(
            "waiting_position IS NULL OR (waiting_position >= 1 AND reserved_cents = 0)",
            name="waits_unreserved",
        ),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("call.id"), index=True)
    # Denormalised from the call: the cap checks and filters need it without a join.
    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("measure_line.id"))
    applicant_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id"), index=True
    )
    partnership_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partnership.id"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    total_cost: Mapped[Decimal] = mapped_column("total_cost_cents", Money)
    requested: Mapped[Decimal] = mapped_column("requested_cents", Money)
    thematic_area_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("thematic_area.id"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("district.id"), index=True)
    district_slot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("district.id"))
    stage: Mapped[ApplicationStage] = mapped_column(str_enum(ApplicationStage, "application_stage"))
    preliminary_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("application.id"), index=True
    )
    status: Mapped[ApplicationStatus] = mapped_column(
        str_enum(ApplicationStatus, "application_status"), index=True
    )
    submitted_at: Mapped[datetime | None]
    # First-come calls: the amount this application holds against the call (0: none) and
    # its place on the call's waiting list (None: not waiting).
    reserved: Mapped[Decimal] = mapped_column(
        "reserved_cents", Money, default=ZERO, server_default="0"
    )
    waiting_position: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None]
