"""Stored responses of POST requests made with an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import json_type
from app.models.mixins import IdMixin


class IdempotencyKey(IdMixin, Base):
    """Written in the same transaction as the resource the request created."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("actor", "key"),)

    actor: Mapped[str] = mapped_column(String(200))  # keys are scoped to their caller
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[dict[str, str]] = mapped_column(json_type(), default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
