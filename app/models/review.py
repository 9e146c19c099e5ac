"""Reviews: a reviewer assigned to an application by the region, and the score they give."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin

MAX_SCORE = 100


class Review(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A reviewer sees only the applications they are assigned to (see visibility)."""

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id"),
        CheckConstraint(
            f"score IS NULL OR (score >= 0 AND score <= {MAX_SCORE})", name="score_range"
        ),
        CheckConstraint("(score IS NULL) = (scored_at IS NULL)", name="scored_has_time"),
    )

    # Led by application_id, the unique constraint also serves an application's reviews.
    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE")
    )
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    scored_at: Mapped[datetime | None]
