"""Columns many tables share."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Integer, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.db.base import utcnow
from app.db.types import Money, json_type


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class TimestampsMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VersionedMixin:
    """An optimistic-locking version: the ORM adds ``WHERE version = :seen`` to every UPDATE."""

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class EligibilityMixin:
    """Who may apply to a measure or a line, as data.

    Empty lists mean "no restriction on this attribute"; an empty ``applicant_forms``
    means applications go through the measure's lines instead.
    """

    applicant_forms: Mapped[list[str]] = mapped_column(json_type(), default=list)
    eligible_legal_natures: Mapped[list[str]] = mapped_column(json_type(), default=list)
    eligible_size_classes: Mapped[list[str]] = mapped_column(json_type(), default=list)
    eligible_profit_statuses: Mapped[list[str]] = mapped_column(json_type(), default=list)
    requires_accompaniment_experience: Mapped[bool] = mapped_column(Boolean, default=False)
    lead_must_be_district_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    required_member_natures: Mapped[list[str]] = mapped_column(json_type(), default=list)
    min_required_members: Mapped[int] = mapped_column(Integer, default=0)
    required_members_in_piemonte: Mapped[bool] = mapped_column(Boolean, default=False)


class FundingCountersMixin:
    """What was claimed, verified (first-level check), advanced and paid, summed from the
    allocations below (issue 16). Moved by conditional UPDATEs (app.repositories.payments),
    guarded by ``funding_checks`` and verified by ``wecare check``."""

    claimed: Mapped[Decimal] = mapped_column(
        "claimed_cents", Money, default=Decimal("0.00"), server_default="0"
    )
    verified: Mapped[Decimal] = mapped_column(
        "verified_cents", Money, default=Decimal("0.00"), server_default="0"
    )
    advanced: Mapped[Decimal] = mapped_column(
        "advanced_cents", Money, default=Decimal("0.00"), server_default="0"
    )
    paid: Mapped[Decimal] = mapped_column(
        "paid_cents", Money, default=Decimal("0.00"), server_default="0"
    )
    # Revocation after payment (migration 0023): what was paid beyond the grant's new amount
    # (all of it, on a total revocation) is due back; ``recovered`` is what came back.
    due: Mapped[Decimal] = mapped_column(
        "due_cents", Money, default=Decimal("0.00"), server_default="0"
    )
    recovered: Mapped[Decimal] = mapped_column(
        "recovered_cents", Money, default=Decimal("0.00"), server_default="0"
    )


def funding_checks(cap: str) -> tuple[CheckConstraint, ...]:
    """The CHECKs every funding counter row carries; ``cap`` is the column nothing paid may
    pass (the grant on an allocation, the active grants above it). Their SQL is also in
    migrations 0022 and 0023, which attach each to the column it is added with."""
    return tuple(
        CheckConstraint(sql.format(cap=cap), name=name) for name, sql in FUNDING_CHECKS.items()
    )


# name -> expression ({cap}: the column paid stays within).
FUNDING_CHECKS = {
    "claimed_non_negative": "claimed_cents >= 0",
    "verified_within_claimed": "verified_cents >= 0 AND verified_cents <= claimed_cents",
    "advanced_non_negative": "advanced_cents >= 0",
    # What was paid and is not due back stays within the grant (0023; 0022: paid <= cap).
    "paid_within_grant": "paid_cents - due_cents <= {cap}",
    "advanced_within_paid": "advanced_cents <= paid_cents",
    "paid_within_verified": "paid_cents - advanced_cents <= verified_cents",
    # Migration 0023: recoveries.
    "due_non_negative": "due_cents >= 0",
    "due_within_paid": "due_cents <= paid_cents",
    "recovered_within_due": "recovered_cents >= 0 AND recovered_cents <= due_cents",
}
