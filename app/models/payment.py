"""After the grant (issue 16): a measure's payment terms, expenditure claims with their
first-level checks, and payments.

The money figures are counters on the allocation, call, measure and programme rows
(``FundingCountersMixin``); the rows here are what ``wecare check`` sums them from.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.domain import ClaimStatus, LineOutcome, PaymentKind
from app.db.base import Base, utcnow
from app.db.types import Money, json_type, str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class PaymentTerms(IdMixin, TimestampsMixin, Base):
    """A measure's payment rules, from its reference data. A None figure is "not given by
    the source": the region sets it, and until then what depends on it does not happen
    (no advance, no interim payment, no lapse)."""

    __tablename__ = "payment_terms"
    __table_args__ = (
        CheckConstraint(
            "acceptance_days IS NULL OR acceptance_days > 0", name="acceptance_days_positive"
        ),
        CheckConstraint(
            "advance_share_pct IS NULL OR (advance_share_pct >= 0 AND advance_share_pct <= 100)",
            name="advance_share_in_range",
        ),
        CheckConstraint(
            "retention_share_pct IS NULL "
            "OR (retention_share_pct >= 0 AND retention_share_pct <= 100)",
            name="retention_share_in_range",
        ),
        CheckConstraint(
            "recovery_days IS NULL OR recovery_days > 0", name="recovery_days_positive"
        ),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), unique=True)
    # Days after the grant within which the beneficiary accepts it, or it lapses.
    acceptance_days: Mapped[int | None] = mapped_column(Integer)
    # The advance: at most this percentage of the grant, after acceptance.
    advance_share_pct: Mapped[int | None] = mapped_column(Integer)
    # Interim payments on verified expenditure: allowed or not.
    interim_payments: Mapped[bool | None]
    # Withheld from the payments before the balance: this percentage of the grant.
    retention_share_pct: Mapped[int | None] = mapped_column(Integer)
    # The cost categories a claim's lines may use (codes); empty: not given by the source.
    cost_categories: Mapped[list[str]] = mapped_column(json_type(), default=list)
    # Days after a revocation within which what is due back is to be repaid.
    recovery_days: Mapped[int | None] = mapped_column(Integer)


class ExpenditureClaim(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A beneficiary's claim of expenditure for a period (rendicontazione)."""

    __tablename__ = "expenditure_claim"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "verified_cents >= 0 AND verified_cents <= amount_cents", name="verified_within_amount"
        ),
        CheckConstraint(
            "(status = 'submitted') = (submitted_at IS NOT NULL)", name="submitted_has_time"
        ),
        CheckConstraint(
            "checked_lines >= 0 AND checked_lines <= line_count", name="checked_within_lines"
        ),
        Index("expenditure_claim_allocation_id_created_at_idx", "allocation_id", "created_at"),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[ClaimStatus] = mapped_column(str_enum(ClaimStatus, "claim_status"))
    # The sum of the lines (fixed with them), and the sum of what the checks verified.
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    verified: Mapped[Decimal] = mapped_column("verified_cents", Money, default=Decimal("0.00"))
    line_count: Mapped[int] = mapped_column(Integer)
    checked_lines: Mapped[int] = mapped_column(Integer, default=0)
    filed_by: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime | None]
    submitted_by: Mapped[str | None] = mapped_column(String(200))

    lines: Mapped[list[ClaimLine]] = relationship(lazy="raise", order_by="ClaimLine.number")


class ClaimLine(IdMixin, Base):
    """One expense of a claim and its first-level check. ``verified`` is derived: the
    amount if accepted, the amount less the cut if cut, nothing if refused."""

    __tablename__ = "claim_line"
    __table_args__ = (
        UniqueConstraint("claim_id", "number"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "(outcome = 'pending' AND cut_cents IS NULL AND verified_cents IS NULL "
            "AND checked_by IS NULL) "
            "OR (outcome = 'accepted' AND cut_cents IS NULL AND verified_cents = amount_cents) "
            "OR (outcome = 'cut' AND cut_cents > 0 AND cut_cents < amount_cents "
            "AND verified_cents = amount_cents - cut_cents AND reason IS NOT NULL) "
            "OR (outcome = 'refused' AND cut_cents IS NULL AND verified_cents = 0 "
            "AND reason IS NOT NULL)",
            name="outcome_derives_verified",
        ),
        Index("claim_line_allocation_id_checked_by_idx", "allocation_id", "checked_by"),
    )

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("expenditure_claim.id"))
    # Denormalised: segregation of duties asks "did this officer check a line of the grant".
    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"))
    number: Mapped[int] = mapped_column(Integer)
    cost_category: Mapped[str] = mapped_column(String(60))
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    document_reference: Mapped[str] = mapped_column(String(200))
    spent_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[LineOutcome] = mapped_column(
        str_enum(LineOutcome, "line_outcome"), default=LineOutcome.PENDING
    )
    cut: Mapped[Decimal | None] = mapped_column("cut_cents", Money)
    verified: Mapped[Decimal | None] = mapped_column("verified_cents", Money)
    reason: Mapped[str | None] = mapped_column(String(2000))
    checked_by: Mapped[str | None] = mapped_column(String(200))
    checked_at: Mapped[datetime | None]


class Payment(IdMixin, Base):
    """A payment (erogazione) to the beneficiary of an allocation."""

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("payment_allocation_id_authorised_by_idx", "allocation_id", "authorised_by"),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"))
    kind: Mapped[PaymentKind] = mapped_column(str_enum(PaymentKind, "payment_kind"))
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    paid_on: Mapped[date] = mapped_column(Date)
    treasury_reference: Mapped[str] = mapped_column(String(100), unique=True)
    authorised_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recovery(IdMixin, VersionedMixin, Base):
    """What a revocation after payment asks back (issue 16): what was paid beyond the
    grant's new amount (all of it, on a total revocation), by ``due_on`` (None: the
    measure's recovery days are not set), and what came back so far."""

    __tablename__ = "recovery"
    __table_args__ = (
        CheckConstraint("due_cents > 0", name="due_positive"),
        CheckConstraint(
            "recovered_cents >= 0 AND recovered_cents <= due_cents", name="recovered_within_due"
        ),
        Index("recovery_allocation_id_created_at_idx", "allocation_id", "created_at"),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"))
    due: Mapped[Decimal] = mapped_column("due_cents", Money)
    recovered: Mapped[Decimal] = mapped_column("recovered_cents", Money, default=Decimal("0.00"))
    due_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryReceipt(IdMixin, Base):
    """An amount recovered: what the beneficiary paid back on a recovery."""

    __tablename__ = "recovery_receipt"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("recovery_receipt_recovery_id_idx", "recovery_id"),
    )

    recovery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recovery.id"))
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    received_on: Mapped[date] = mapped_column(Date)
    treasury_reference: Mapped[str] = mapped_column(String(100), unique=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
