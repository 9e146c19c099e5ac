"""Published rankings (graduatorie): immutable, versioned snapshots of a call's ranking.

A publication is one ``ranking`` row (the call's next version, linked to the one it
replaces) and its ``ranking_entry`` rows, written once: the database refuses any UPDATE or
DELETE of either (migration 0016's triggers). A correction is a new version.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import RankingOutcome
from app.db.base import Base
from app.db.types import Money, Points, json_type, str_enum
from app.models.mixins import IdMixin


class Ranking(IdMixin, Base):
    __tablename__ = "ranking"
    __table_args__ = (
        UniqueConstraint("call_id", "version"),
        CheckConstraint(
            "(version = 1 AND replaces_id IS NULL) OR (version > 1 AND replaces_id IS NOT NULL)",
            name="version_replaces",
        ),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("call.id"))
    version: Mapped[int] = mapped_column(Integer)
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ranking.id"), unique=True)
    decree_reference: Mapped[str] = mapped_column(String(200))
    decree_date: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime]
    published_by: Mapped[uuid.UUID | None]
    # The call's counters when published: the budget and what was already allocated.
    budget: Mapped[Decimal] = mapped_column("budget_cents", Money)
    allocated: Mapped[Decimal] = mapped_column("allocated_cents", Money)
    grid: Mapped[dict[str, Any]] = mapped_column(json_type())  # the grid applied, as its spec


class RankingEntry(IdMixin, Base):
    """One application in a published ranking. ``applicant_name`` is null for a natural
    person (the transparency register's rule for personal data)."""

    __tablename__ = "ranking_entry"
    __table_args__ = (
        UniqueConstraint("ranking_id", "ordinal"),
        UniqueConstraint("ranking_id", "application_id"),
    )

    ranking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ranking.id"))
    ordinal: Mapped[int] = mapped_column(Integer)  # the order of the list, 1..n
    position: Mapped[int | None] = mapped_column(Integer)  # null when below threshold
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("application.id"), index=True)
    applicant_name: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(300))
    requested: Mapped[Decimal] = mapped_column("requested_cents", Money)
    submitted_at: Mapped[datetime | None]
    reviews: Mapped[int] = mapped_column(Integer)
    # [{"criterion": "Q1", "average": "32.50"}, ...] in the grid's order
    averages: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    total: Mapped[Decimal] = mapped_column("total_hundredths", Points)
    outcome: Mapped[RankingOutcome] = mapped_column(str_enum(RankingOutcome, "ranking_outcome"))
    failed: Mapped[list[str]] = mapped_column(json_type())
    tie_break: Mapped[str | None] = mapped_column(String(60))
