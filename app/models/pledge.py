"""Co-funding pledges: what a partner banking foundation commits to a call.

Foundation money is not EU money: pledges are recorded and published to the region, and
no programme, measure or call cap counts them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import PledgeStatus
from app.core.money import MAX_CENTS
from app.db.base import Base
from app.db.types import Money, str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class Pledge(IdMixin, TimestampsMixin, VersionedMixin, Base):
    __tablename__ = "pledge"
    __table_args__ = (
        CheckConstraint(
            f"amount_cents > 0 AND amount_cents <= {MAX_CENTS}", name="amount_in_range"
        ),
        CheckConstraint(
            "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="withdrawn_has_time"
        ),
        # Keyset pages of one foundation's pledges, oldest first.
        Index("pledge_organisation_id_created_at_id_idx", "organisation_id", "created_at", "id"),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("call.id"), index=True)
    amount: Mapped[Decimal] = mapped_column("amount_cents", Money)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[PledgeStatus] = mapped_column(str_enum(PledgeStatus, "pledge_status"))
    withdrawn_at: Mapped[datetime | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))
