"""Reviews: a reviewer assigned to an application by the region. Its scores, one per
criterion of the call's grid, are rows of ``review_score`` (app.models.scoring)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class Review(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A reviewer sees only the applications they are assigned to (see visibility)."""

    __tablename__ = "review"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id"),)

    # Led by application_id, the unique constraint also serves an application's reviews.
    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE")
    )
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    # When the reviewer declared no conflict of interest with the application.
    conflict_declared_at: Mapped[datetime | None]
    scored_at: Mapped[datetime | None]  # when last scored (scores: app.models.scoring)
