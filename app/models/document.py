"""Documents (issue 19): the files attached to applications, expenditure claims, calls and
rankings, and the kinds a measure's data allows.

The bytes live in the configured storage (a local directory or S3-compatible object
storage) under ``storage_key``; the row holds what proves them: size and SHA-256.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import DocumentOwner
from app.db.base import Base, utcnow
from app.db.types import json_type, str_enum
from app.models.mixins import IdMixin


class DocumentRetention(IdMixin, Base):
    """A programme's document retention, from its data: the years its documents are kept
    after it closes; None (the default) never deletes them (structural-fund documents are
    kept for years, and the WECARE source gives no term). Its own row, not a programme
    column: what the documents need stays beside them."""

    __tablename__ = "document_retention"
    __table_args__ = (CheckConstraint("years IS NULL OR years >= 1", name="years_positive"),)

    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programme.id"), unique=True)
    years: Mapped[int | None] = mapped_column(Integer)


class DocumentKind(IdMixin, Base):
    """A kind of document a measure's data allows for one owner type: whether an
    application (or claim) must have one before it is submitted, how many, how large and
    of which media types. A None figure is "not given by the source"."""

    __tablename__ = "document_kind"
    __table_args__ = (
        Index(
            "document_kind_measure_owner_code_key", "measure_id", "owner_type", "code", unique=True
        ),
        CheckConstraint("max_count IS NULL OR max_count >= 1", name="max_count_positive"),
        CheckConstraint("max_bytes IS NULL OR max_bytes >= 1", name="max_bytes_positive"),
    )

    measure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("measure.id"))
    owner_type: Mapped[DocumentOwner] = mapped_column(
        str_enum(DocumentOwner, "document_kind_owner")
    )
    code: Mapped[str] = mapped_column(String(60))
    ordinal: Mapped[int] = mapped_column(Integer)
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    max_count: Mapped[int | None] = mapped_column(Integer)
    max_bytes: Mapped[int | None] = mapped_column(BigInteger)
    media_types: Mapped[list[str]] = mapped_column(json_type(), default=list)
    note: Mapped[str | None] = mapped_column(String(2000))


class Document(IdMixin, Base):
    """One stored file and what proves it. Immutable: never updated, only deleted while
    its owner is still a draft."""

    __tablename__ = "document"
    __table_args__ = (
        Index(
            "document_owner_type_owner_id_created_at_id_idx",
            "owner_type",
            "owner_id",
            "created_at",
            "id",
        ),
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
        CheckConstraint("length(sha256) = 64", name="sha256_hex"),
    )

    owner_type: Mapped[DocumentOwner] = mapped_column(str_enum(DocumentOwner, "document_owner"))
    # The application's, claim's, call's or ranking's id (one column for the four owners:
    # the owner's rows are never deleted, so no foreign key is lost).
    owner_id: Mapped[uuid.UUID] = mapped_column(index=False)
    kind_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document_kind.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    file_name: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(500), unique=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
