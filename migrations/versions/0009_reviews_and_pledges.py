"""Reviews with their own ids and scores (replacing review_assignment), and partner
foundations' co-funding pledges.

Existing assignments are carried over as unscored reviews, and back on downgrade
(scores are then lost: review_assignment had no place for them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 07:31:00.036857
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "pledge",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "withdrawn",
                name="pledge_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)",
            name=op.f("pledge_withdrawn_has_time_check"),
        ),
        sa.CheckConstraint(
            "amount_cents > 0 AND amount_cents <= 100000000000",
            name=op.f("pledge_amount_in_range_check"),
        ),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("pledge_call_id_fkey")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisation.id"], name=op.f("pledge_organisation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pledge_pkey")),
    )
    with op.batch_alter_table("pledge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("pledge_call_id_idx"), ["call_id"], unique=False)
        batch_op.create_index(
            "pledge_organisation_id_created_at_id_idx",
            ["organisation_id", "created_at", "id"],
            unique=False,
        )

    review = op.create_table(
        "review",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "(score IS NULL) = (scored_at IS NULL)", name=op.f("review_scored_has_time_check")
        ),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 0 AND score <= 100)",
            name=op.f("review_score_range_check"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("review_application_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["user_account.id"], name=op.f("review_reviewer_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("review_pkey")),
        sa.UniqueConstraint(
            "application_id", "reviewer_id", name=op.f("review_application_id_reviewer_id_key")
        ),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("review_reviewer_id_idx"), ["reviewer_id"], unique=False)

    old = sa.table(
        "review_assignment",
        sa.column("application_id", sa.Uuid()),
        sa.column("reviewer_id", sa.Uuid()),
        sa.column("assigned_at", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(old)).all()
    if rows:
        op.bulk_insert(
            review,
            [
                {
                    "id": uuid.uuid4(),
                    "application_id": row.application_id,
                    "reviewer_id": row.reviewer_id,
                    "created_at": row.assigned_at,
                    "updated_at": row.assigned_at,
                    "version": 1,
                }
                for row in rows
            ],
        )

    with op.batch_alter_table("review_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("review_assignment_reviewer_id_idx"))
    op.drop_table("review_assignment")


def downgrade() -> None:
    assignment = op.create_table(
        "review_assignment",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("review_assignment_application_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["user_account.id"], name=op.f("review_assignment_reviewer_id_fkey")
        ),
        sa.PrimaryKeyConstraint(
            "application_id", "reviewer_id", name=op.f("review_assignment_pkey")
        ),
    )
    with op.batch_alter_table("review_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("review_assignment_reviewer_id_idx"), ["reviewer_id"], unique=False
        )
    new = sa.table(
        "review",
        sa.column("application_id", sa.Uuid()),
        sa.column("reviewer_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(new)).all()
    if rows:
        op.bulk_insert(
            assignment,
            [
                {
                    "application_id": row.application_id,
                    "reviewer_id": row.reviewer_id,
                    "assigned_at": row.created_at or datetime.now(UTC),
                }
                for row in rows
            ],
        )

    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("review_reviewer_id_idx"))
    op.drop_table("review")
    with op.batch_alter_table("pledge", schema=None) as batch_op:
        batch_op.drop_index("pledge_organisation_id_created_at_id_idx")
        batch_op.drop_index(batch_op.f("pledge_call_id_idx"))
    op.drop_table("pledge")
