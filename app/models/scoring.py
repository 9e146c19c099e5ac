"""Scoring grids: a call's published criteria, and each reviewer's score per criterion.

Scores are whole points (integers): exact, and what Italian grids publish ("fino a 20
punti"). Totals are never stored: a review's total is the sum of its criterion scores.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.domain import ScoreCombination
from app.db.base import Base
from app.db.types import json_type, str_enum
from app.models.mixins import IdMixin, TimestampsMixin


class ScoringGrid(IdMixin, TimestampsMixin, Base):
    """One per call that selects by ranking. A null figure is one the source did not give:
    the grid is then incomplete and nobody scores on it until it is completed.

    ``locked_at`` is set in the transaction of the call's first score; from then on the
    database refuses any change to the grid and its criteria (migration 0015's triggers).
    """

    __tablename__ = "scoring_grid"
    __table_args__ = (
        CheckConstraint("min_total IS NULL OR min_total >= 0", name="min_total_non_negative"),
        CheckConstraint(
            "reviewers_per_application IS NULL OR reviewers_per_application >= 1",
            name="reviewers_positive",
        ),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("call.id", ondelete="CASCADE"), unique=True
    )
    min_total: Mapped[int | None] = mapped_column(Integer)
    reviewers_per_application: Mapped[int | None] = mapped_column(Integer)
    combination: Mapped[ScoreCombination | None] = mapped_column(
        str_enum(ScoreCombination, "score_combination")
    )
    # [{"kind": "criterion", "criterion": "Q1"}, {"kind": "earlier_submission"}], in order.
    tie_breaks: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)
    note: Mapped[str | None] = mapped_column(String(2000))
    locked_at: Mapped[datetime | None]

    criteria: Mapped[list[ScoringCriterion]] = relationship(
        lazy="raise", order_by="ScoringCriterion.ordinal"
    )


class ScoringCriterion(IdMixin, Base):
    __tablename__ = "scoring_criterion"
    __table_args__ = (
        UniqueConstraint("grid_id", "code"),
        UniqueConstraint("grid_id", "ordinal"),
        CheckConstraint("max_score IS NULL OR max_score > 0", name="max_positive"),
        CheckConstraint(
            "min_score IS NULL OR (min_score >= 0 AND (max_score IS NULL OR min_score <= "
            "max_score))",
            name="min_within_max",
        ),
    )

    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scoring_grid.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    name_it: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    max_score: Mapped[int | None] = mapped_column(Integer)
    min_score: Mapped[int | None] = mapped_column(Integer)


class ReviewScore(IdMixin, Base):
    """A reviewer's score on one criterion, with its comment."""

    __tablename__ = "review_score"
    __table_args__ = (
        UniqueConstraint("review_id", "criterion_id"),
        CheckConstraint("score >= 0", name="score_non_negative"),
    )

    review_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"))
    criterion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scoring_criterion.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
