"""Columns many tables share."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Integer, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.db.base import utcnow
from app.db.types import json_type


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
