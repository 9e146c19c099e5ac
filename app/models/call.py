"""The call aggregate: a call for proposals, its phase windows and its participation limits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.domain import (
    CallStatus,
    ClosedReason,
    DeMinimisRegulation,
    LegalNature,
    PhaseKind,
    SelectionMethod,
)
from app.core.money import ZERO
from app.db.base import Base
from app.db.types import Money, str_enum
from app.models.mixins import (
    FundingCountersMixin,
    IdMixin,
    TimestampsMixin,
    VersionedMixin,
    funding_checks,
)


class Call(IdMixin, TimestampsMixin, VersionedMixin, FundingCountersMixin, Base):
    """A call for proposals ("bando") with its share of the measure's budget."""

    __tablename__ = "call"
    __table_args__ = (
        *funding_checks("allocated_cents"),
        CheckConstraint("budget_cents >= 0", name="budget_non_negative"),
        CheckConstraint(
            "allocated_cents >= 0 AND allocated_cents <= budget_cents",
            name="allocated_within_budget",
        ),
        CheckConstraint("funded_projects >= 0", name="funded_projects_non_negative"),
        # First-come calls: reservations count against the budget with the allocations.
        CheckConstraint(
            "reserved_cents >= 0 AND (reserved_cents = 0 "
            "OR allocated_cents + reserved_cents <= budget_cents)",
            name="reserved_within_budget",
        ),
        CheckConstraint(
            "waiting_count >= 0 AND (waiting_list_length IS NULL "
            "OR (waiting_list_length >= 0 AND waiting_count <= waiting_list_length))",
            name="waiting_within_length",
        ),
        # Set and cleared by app.services.first_come (migration 0019).
        CheckConstraint(
            "closed_at IS NULL OR selection_method = 'first_come'", name="closed_only_first_come"
        ),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("measure_line.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, "call_status"))
    selection_method: Mapped[SelectionMethod] = mapped_column(
        str_enum(SelectionMethod, "selection_method"), default=SelectionMethod.RANKING
    )
    published_on: Mapped[date | None] = mapped_column(Date)
    dates_note: Mapped[str | None] = mapped_column(String(1000))

    budget: Mapped[Decimal] = mapped_column("budget_cents", Money)
    # Counters: active allocations and funded projects of this call.
    allocated: Mapped[Decimal] = mapped_column("allocated_cents", Money, default=ZERO)
    funded_projects: Mapped[int] = mapped_column(Integer, default=0)
    # First-come calls (app.services.first_come): what the applications hold, how many wait,
    # and how many may wait (None: no limit, also where the source does not give one).
    reserved: Mapped[Decimal] = mapped_column(
        "reserved_cents", Money, default=ZERO, server_default="0"
    )
    waiting_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    waiting_list_length: Mapped[int | None] = mapped_column(Integer)
    # When the call closed itself for new submissions (``closed_for_submissions``); None
    # while it takes them. Kept by app.services.first_come with the call locked.
    closed_at: Mapped[datetime | None]
    # A run down the ranking: may the last fundable application get part of its request?
    # (app.services.ranking_grants; None: not given, not allowed until set; migration 0018)
    partial_last_grant: Mapped[bool | None] = mapped_column(Boolean)
    # The de minimis regulation its grants fall under, where the measure's regime is de
    # minimis (app.services.de_minimis; None: not given by the source; migration 0020).
    de_minimis_regulation: Mapped[DeMinimisRegulation | None] = mapped_column(
        str_enum(DeMinimisRegulation, "de_minimis_regulation")
    )
    # Must a guarantee (fideiussione) be recorded before the advance? (issue 16; None: not
    # given by the source, no advance until set; migration 0022)
    advance_guarantee_required: Mapped[bool | None] = mapped_column(Boolean)

    phases: Mapped[list[CallPhase]] = relationship(lazy="raise", order_by="CallPhase.ordinal")
    participation_limits: Mapped[list[CallParticipationLimit]] = relationship(lazy="raise")

    @property
    def available(self) -> Decimal:
        return self.budget - self.allocated - self.reserved

    @property
    def closed_for_submissions(self) -> bool:
        """A first-come call closes itself when a submission could neither be reserved nor
        wait: its waiting list is full, and (an empty list allowed) nothing is left."""
        if self.selection_method is not SelectionMethod.FIRST_COME:
            return False
        if self.waiting_list_length is None or self.waiting_count < self.waiting_list_length:
            return False
        return self.waiting_count > 0 or self.available <= 0

    @property
    def closed_reason(self) -> ClosedReason | None:
        """Why the call is closed for submissions: its waiting list is full, or (a list of
        length 0) nothing is left. None while it takes them."""
        if not self.closed_for_submissions:
            return None
        if self.waiting_count > 0:
            return ClosedReason.WAITING_LIST_FULL
        return ClosedReason.NOTHING_LEFT


class CallPhase(IdMixin, Base):
    """A submission window: applications are accepted when opens_at <= now < closes_at."""

    __tablename__ = "call_phase"
    __table_args__ = (
        UniqueConstraint("call_id", "ordinal"),
        CheckConstraint("closes_at > opens_at", name="window_ordered"),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    kind: Mapped[PhaseKind] = mapped_column(str_enum(PhaseKind, "phase_kind"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]


class CallParticipationLimit(IdMixin, Base):
    """ "An organisation of this nature may take part in at most N projects of the call"."""

    __tablename__ = "call_participation_limit"
    __table_args__ = (
        UniqueConstraint("call_id", "legal_nature"),
        CheckConstraint("max_projects > 0", name="max_projects_positive"),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"))
    legal_nature: Mapped[LegalNature] = mapped_column(str_enum(LegalNature, "legal_nature"))
    max_projects: Mapped[int] = mapped_column(Integer)
