"""State-aid declarations an applicant organisation makes for the de minimis ceiling."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.domain import DeclarationKind, DeMinimisRegulation
from app.core.money import MAX_CENTS
from app.db.base import Base
from app.db.types import Money, str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class StateAidDeclaration(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """``linked_undertaking``: another undertaking (by tax code) that forms one single
    undertaking with the declaring organisation (Regulation (EU) 2023/2831 art. 2(2));
    ``other_aid``: de minimis aid the single undertaking received from another granting
    body (amount, day, body, regulation). Both count in app.services.de_minimis."""

    __tablename__ = "state_aid_declaration"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'linked_undertaking' AND linked_tax_code IS NOT NULL "
            "AND amount_cents IS NULL AND granted_on IS NULL AND granting_body IS NULL "
            "AND regulation IS NULL) OR (kind = 'other_aid' AND linked_tax_code IS NULL "
            f"AND amount_cents > 0 AND amount_cents <= {MAX_CENTS} AND granted_on IS NOT NULL "
            "AND granting_body IS NOT NULL AND regulation IS NOT NULL)",
            name="fields_of_kind",
        ),
        # Keyset pages of one organisation's declarations, oldest first.
        Index(
            "state_aid_declaration_organisation_id_created_at_id_idx",
            "organisation_id",
            "created_at",
            "id",
        ),
        # Who declared a tax code linked (the other side of a single undertaking).
        Index("state_aid_declaration_linked_tax_code_idx", "linked_tax_code"),
        Index(
            "state_aid_declaration_one_link_key",
            "organisation_id",
            "linked_tax_code",
            unique=True,
        ),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    kind: Mapped[DeclarationKind] = mapped_column(str_enum(DeclarationKind, "declaration_kind"))
    linked_tax_code: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column("amount_cents", Money)
    granted_on: Mapped[date | None] = mapped_column(Date)
    granting_body: Mapped[str | None] = mapped_column(String(300))
    regulation: Mapped[DeMinimisRegulation | None] = mapped_column(
        str_enum(DeMinimisRegulation, "regulation")
    )
    declared_by: Mapped[str] = mapped_column(String(200))
