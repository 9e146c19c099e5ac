"""The loan part of a mixed allocation (FESR's "strumento finanziario misto"): the loan,
its amortisation schedule and the repayments recorded against it.

Counters: ``loan.repaid_cents`` (principal repaid, never above the principal) and each
instalment's ``paid_cents`` (never above what it asks), moved by conditional UPDATEs
(app.repositories.loans) and guarded by the CHECKs below; `wecare check` recomputes both
from the repayments.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import Amortisation, GracePayment
from app.core.money import ZERO
from app.db.base import Base, utcnow
from app.db.types import Money, str_enum
from app.models.mixins import IdMixin, TimestampsMixin


class Loan(IdMixin, TimestampsMixin, Base):
    """One per mixed allocation: its split and the terms its schedule was computed with
    (a snapshot: the measure's terms may change later, a granted loan's do not)."""

    __tablename__ = "loan"
    __table_args__ = (
        CheckConstraint("principal_cents > 0", name="principal_positive"),
        CheckConstraint("grant_cents >= 0", name="grant_non_negative"),
        CheckConstraint(
            "repaid_cents >= 0 AND repaid_cents <= principal_cents", name="repaid_within_principal"
        ),
        CheckConstraint("annual_rate_bp >= 0 AND annual_rate_bp <= 10000", name="rate_in_range"),
        CheckConstraint(
            "grace_months >= 0 AND grace_months < term_months", name="grace_within_term"
        ),
        CheckConstraint("repayments_per_year IN (1, 2, 4, 12)", name="frequency_known"),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allocation.id"), unique=True)
    # Denormalised at grant time, as on the allocation: the fund's counters sum by these.
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme.id"), index=True)
    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"), index=True)
    principal: Mapped[Decimal] = mapped_column("principal_cents", Money)
    grant_part: Mapped[Decimal] = mapped_column("grant_cents", Money)
    repaid: Mapped[Decimal] = mapped_column("repaid_cents", Money, default=ZERO)
    annual_rate_bp: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(Integer)
    grace_months: Mapped[int] = mapped_column(Integer)
    grace_payment: Mapped[GracePayment] = mapped_column(str_enum(GracePayment, "grace_payment"))
    repayments_per_year: Mapped[int] = mapped_column(Integer)
    amortisation: Mapped[Amortisation] = mapped_column(str_enum(Amortisation, "amortisation"))
    starts_on: Mapped[date] = mapped_column(Date)

    @property
    def outstanding(self) -> Decimal:
        return self.principal - self.repaid


class LoanInstalment(IdMixin, Base):
    __tablename__ = "loan_instalment"
    __table_args__ = (
        UniqueConstraint("loan_id", "number"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("principal_cents >= 0 AND interest_cents >= 0", name="parts_non_negative"),
        CheckConstraint(
            "paid_cents >= 0 AND paid_cents <= principal_cents + interest_cents",
            name="paid_within_due",
        ),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loan.id"))
    number: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column("principal_cents", Money)
    interest: Mapped[Decimal] = mapped_column("interest_cents", Money)
    paid: Mapped[Decimal] = mapped_column("paid_cents", Money, default=ZERO)

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest


class LoanRepayment(IdMixin, Base):
    """A payment received against one instalment: interest first, then principal."""

    __tablename__ = "loan_repayment"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "principal_cents >= 0 AND interest_cents >= 0 "
            "AND principal_cents + interest_cents = amount_cents",
            name="split_adds_up",
        ),
    )

    loan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loan.id"), index=True)
    instalment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loan_instalment.id"), index=True)
    instalment_number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    principal: Mapped[Decimal] = mapped_column("principal_cents", Money)
    interest: Mapped[Decimal] = mapped_column("interest_cents", Money)
    paid_on: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean)
    reference: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(200))
