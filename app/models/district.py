"""The district aggregate: a social-cohesion district and its lead body."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class District(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A "Distretto di Coesione Sociale" and the public body that leads it."""

    __tablename__ = "district"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    lead_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id"), index=True
    )
