"""Documents (issue 19): the kinds a measure's data allows, the stored files' rows, and a
programme's document retention.

- ``document_kind``: per measure and owner type (application, claim, call, ranking).
- ``document``: one stored file (its storage key, media type, size, SHA-256, uploader).
- ``document_retention``: a programme's years of retention; null, the default, keeps its
  documents for ever.

New tables only: nothing to carry over, the downgrade drops them.

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-07 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OWNERS = "'application', 'claim', 'call', 'ranking'"


def upgrade() -> None:
    op.create_table(
        "document_retention",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "years IS NULL OR years >= 1", name=op.f("document_retention_years_positive_check")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("document_retention_programme_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("document_retention_pkey")),
        sa.UniqueConstraint("programme_id", name=op.f("document_retention_programme_id_key")),
    )
    op.create_table(
        "document_kind",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("owner_type", sa.String(length=11), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("title_it", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=True),
        sa.Column("max_bytes", sa.BigInteger(), nullable=True),
        sa.Column("media_types", JSON, nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.CheckConstraint(
            f"owner_type IN ({OWNERS})", name=op.f("document_kind_document_kind_owner_check")
        ),
        sa.CheckConstraint(
            "max_count IS NULL OR max_count >= 1",
            name=op.f("document_kind_max_count_positive_check"),
        ),
        sa.CheckConstraint(
            "max_bytes IS NULL OR max_bytes >= 1",
            name=op.f("document_kind_max_bytes_positive_check"),
        ),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("document_kind_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("document_kind_pkey")),
    )
    op.create_index(
        "document_kind_measure_owner_code_key",
        "document_kind",
        ["measure_id", "owner_type", "code"],
        unique=True,
    )
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_type", sa.String(length=11), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("kind_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(f"owner_type IN ({OWNERS})", name=op.f("document_document_owner_check")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("document_size_non_negative_check")),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("document_sha256_hex_check")),
        sa.ForeignKeyConstraint(
            ["kind_id"], ["document_kind.id"], name=op.f("document_kind_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("document_pkey")),
        sa.UniqueConstraint("storage_key", name=op.f("document_storage_key_key")),
    )
    op.create_index("document_kind_id_idx", "document", ["kind_id"])
    op.create_index(
        "document_owner_type_owner_id_created_at_id_idx",
        "document",
        ["owner_type", "owner_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("document")
    op.drop_table("document_kind")
    op.drop_table("document_retention")
