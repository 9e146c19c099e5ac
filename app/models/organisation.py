"""Applicants: organisations, partnerships and their members."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.domain import (
    LegalNature,
    MemberRole,
    MemberStatus,
    PartnershipForm,
    PiemonteProvince,
    ProfitStatus,
    SizeClass,
)
from app.db.base import Base
from app.db.types import str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class Organisation(IdMixin, TimestampsMixin, VersionedMixin, Base):
    __tablename__ = "organisation"
    __table_args__ = (Index("organisation_legal_name_id_idx", "legal_name", "id"),)

    legal_name: Mapped[str] = mapped_column(String(300))
    # Normalised (upper case, no spaces) and validated with its check digit before storage.
    tax_code: Mapped[str] = mapped_column(String(16), unique=True)
    vat_number: Mapped[str | None] = mapped_column(String(11), unique=True)
    legal_nature: Mapped[LegalNature] = mapped_column(str_enum(LegalNature, "legal_nature"))
    profit_status: Mapped[ProfitStatus] = mapped_column(str_enum(ProfitStatus, "profit_status"))
    size_class: Mapped[SizeClass | None] = mapped_column(str_enum(SizeClass, "size_class"))
    province: Mapped[PiemonteProvince | None] = mapped_column(
        str_enum(PiemonteProvince, "province"), comment="NULL when based outside Piemonte"
    )
    accompaniment_experience: Mapped[bool] = mapped_column(Boolean, default=False)


class Partnership(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A partnership (ATS formed or to be formed) that applies through its lead ("capofila")."""

    __tablename__ = "partnership"
    # Keyset pages of partnerships, oldest first: deep pages cost what the first costs.
    __table_args__ = (Index("partnership_created_at_id_idx", "created_at", "id"),)

    name: Mapped[str] = mapped_column(String(300))
    form: Mapped[PartnershipForm] = mapped_column(str_enum(PartnershipForm, "partnership_form"))
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("district.id"), index=True)

    members: Mapped[list[PartnershipMember]] = relationship(
        lazy="raise", cascade="all, delete-orphan"
    )


class PartnershipMember(Base):
    __tablename__ = "partnership_member"
    __table_args__ = (
        # Exactly one lead: at most one by this index, at least one by the service.
        Index(
            "partnership_member_one_lead_key",
            "partnership_id",
            unique=True,
            postgresql_where=text("role = 'lead'"),
            sqlite_where=text("role = 'lead'"),
        ),
    )

    partnership_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partnership.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True, index=True
    )
    role: Mapped[MemberRole] = mapped_column(str_enum(MemberRole, "member_role"))
    # Only accepted members count: for visibility, participation limits and the freeze of
    # eligibility details. A submission needs every member accepted.
    # No default: whoever adds a member says whether it has consented.
    status: Mapped[MemberStatus] = mapped_column(str_enum(MemberStatus, "member_status"))
