"""Guards for the API flows and the idempotency store.

- one live application per district (district_slot_id) and one live executive project per
  preliminary, as partial unique indexes;
- one funded project per district (allocation.district_id), as a partial unique index;
- idempotency_key: stored responses of POSTs made with an Idempotency-Key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 16:25:10.943619
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:

    op.create_table(
        "idempotency_key",
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("response_headers", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("idempotency_key_pkey")),
        sa.UniqueConstraint("actor", "key", name=op.f("idempotency_key_actor_key_key")),
    )
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("idempotency_key_expires_at_idx"), ["expires_at"], unique=False
        )

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            "allocation_one_funded_per_district_key",
            ["measure_id", "district_id"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.create_foreign_key(
            batch_op.f("allocation_district_id_fkey"), "district", ["district_id"], ["id"]
        )

    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district_slot_id", sa.Uuid(), nullable=True))
        batch_op.drop_constraint(batch_op.f("application_preliminary_id_key"), type_="unique")
        batch_op.create_index(
            "application_one_live_executive_per_preliminary_key",
            ["preliminary_id"],
            unique=True,
            postgresql_where=sa.text(
                "status IN ('submitted', 'under_review', 'admitted', 'approved')"
            ),
            sqlite_where=sa.text("status IN ('submitted', 'under_review', 'admitted', 'approved')"),
        )
        batch_op.create_index(
            "application_one_live_per_district_key",
            ["measure_id", "district_slot_id"],
            unique=True,
            postgresql_where=sa.text(
                "status IN ('submitted', 'under_review', 'admitted', 'approved')"
            ),
            sqlite_where=sa.text("status IN ('submitted', 'under_review', 'admitted', 'approved')"),
        )
        batch_op.create_index(
            batch_op.f("application_preliminary_id_idx"), ["preliminary_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("application_district_slot_id_fkey"),
            "district",
            ["district_slot_id"],
            ["id"],
        )


def downgrade() -> None:

    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("application_district_slot_id_fkey"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("application_preliminary_id_idx"))
        batch_op.drop_index(
            "application_one_live_per_district_key",
            postgresql_where=sa.text(
                "status IN ('submitted', 'under_review', 'admitted', 'approved')"
            ),
            sqlite_where=sa.text("status IN ('submitted', 'under_review', 'admitted', 'approved')"),
        )
        batch_op.drop_index(
            "application_one_live_executive_per_preliminary_key",
            postgresql_where=sa.text(
                "status IN ('submitted', 'under_review', 'admitted', 'approved')"
            ),
            sqlite_where=sa.text("status IN ('submitted', 'under_review', 'admitted', 'approved')"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("application_preliminary_id_key"), ["preliminary_id"]
        )
        batch_op.drop_column("district_slot_id")

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("allocation_district_id_fkey"), type_="foreignkey")
        batch_op.drop_index(
            "allocation_one_funded_per_district_key",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_column("district_id")

    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idempotency_key_expires_at_idx"))

    op.drop_table("idempotency_key")
