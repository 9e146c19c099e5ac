"""Indicators and monitoring (issue 20).

- ``indicator``: a measure's indicators, loaded from the programme's reference data.
- ``indicator_targets``: the targets an application sets (one JSON document of figures).
- ``project_schedule``: a funded project's start, planned end and actual end.
- ``monitoring_report``: a funded project's periodic reports, one row per revision.
- ``monitoring_terms``: a measure's reporting period in months (null: not given by the
  source). A table of its own, as ``payment_terms``: ``measure`` keeps its columns.

New tables only: nothing to carry over; the downgrade drops them.

Revision ID: 0028
Revises: 0025
Create Date: 2026-12-07 03:41:15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "indicator",
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("eu_code", sa.String(length=20), nullable=True),
        sa.Column("eu_code_basis", sa.String(length=300), nullable=True),
        sa.Column("name_it", sa.String(length=4000), nullable=False),
        sa.Column("name_en", sa.String(length=4000), nullable=False),
        sa.Column("unit_it", sa.String(length=4000), nullable=False),
        sa.Column("unit_en", sa.String(length=4000), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "output", "result", name="indicator_kind", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column(
            "accumulation",
            sa.Enum(
                "cumulative",
                "per_period",
                name="accumulation",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("breakdowns", JSON, nullable=False),
        sa.Column("target_required", sa.Boolean(), nullable=False),
        sa.Column("suppress_below", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "suppress_below >= 1", name=op.f("indicator_suppress_below_positive_check")
        ),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("indicator_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("indicator_pkey")),
        sa.UniqueConstraint("measure_id", "code", name=op.f("indicator_measure_id_code_key")),
    )
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("indicator_measure_id_idx"), ["measure_id"], unique=False)

    op.create_table(
        "indicator_targets",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("figures", JSON, nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("indicator_targets_application_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("indicator_targets_pkey")),
        sa.UniqueConstraint("application_id", name=op.f("indicator_targets_application_id_key")),
    )
    op.create_table(
        "monitoring_report",
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("figures", JSON, nullable=False),
        sa.Column("milestones", JSON, nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column(
            "narrative_language",
            sa.Enum(
                "it", "en", name="narrative_language", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "accepted",
                "returned",
                name="report_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column("checked_at", WHEN, nullable=True),
        sa.Column("checked_by", sa.String(length=200), nullable=True),
        sa.Column("return_reason", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(status = 'pending') = (checked_at IS NULL)",
            name=op.f("monitoring_report_checked_has_time_check"),
        ),
        sa.CheckConstraint(
            "(status = 'returned') = (return_reason IS NOT NULL)",
            name=op.f("monitoring_report_returned_has_reason_check"),
        ),
        sa.CheckConstraint("period >= 1", name=op.f("monitoring_report_period_positive_check")),
        sa.CheckConstraint(
            "period_end >= period_start", name=op.f("monitoring_report_period_ordered_check")
        ),
        sa.CheckConstraint("revision >= 1", name=op.f("monitoring_report_revision_positive_check")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("monitoring_report_allocation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("monitoring_report_pkey")),
        sa.UniqueConstraint(
            "allocation_id",
            "period",
            "revision",
            name=op.f("monitoring_report_allocation_id_period_revision_key"),
        ),
    )
    with op.batch_alter_table("monitoring_report", schema=None) as batch_op:
        batch_op.create_index(
            "monitoring_report_allocation_id_created_at_id_idx",
            ["allocation_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "project_schedule",
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("planned_end_on", sa.Date(), nullable=False),
        sa.Column("actual_end_on", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "actual_end_on IS NULL OR actual_end_on >= starts_on",
            name=op.f("project_schedule_actual_end_after_start_check"),
        ),
        sa.CheckConstraint(
            "planned_end_on >= starts_on",
            name=op.f("project_schedule_planned_end_after_start_check"),
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("project_schedule_allocation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("project_schedule_pkey")),
        sa.UniqueConstraint("allocation_id", name=op.f("project_schedule_allocation_id_key")),
    )
    with op.batch_alter_table("project_schedule", schema=None) as batch_op:
        batch_op.create_index(
            "project_schedule_created_at_id_idx", ["created_at", "id"], unique=False
        )

    op.create_table(
        "monitoring_terms",
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("period_months", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "period_months IS NULL OR period_months >= 1",
            name=op.f("monitoring_terms_period_positive_check"),
        ),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("monitoring_terms_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("monitoring_terms_pkey")),
        sa.UniqueConstraint("measure_id", name=op.f("monitoring_terms_measure_id_key")),
    )


def downgrade() -> None:
    op.drop_table("monitoring_terms")

    with op.batch_alter_table("project_schedule", schema=None) as batch_op:
        batch_op.drop_index("project_schedule_created_at_id_idx")

    op.drop_table("project_schedule")
    with op.batch_alter_table("monitoring_report", schema=None) as batch_op:
        batch_op.drop_index("monitoring_report_allocation_id_created_at_id_idx")

    op.drop_table("monitoring_report")
    op.drop_table("indicator_targets")
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("indicator_measure_id_idx"))

    op.drop_table("indicator")
