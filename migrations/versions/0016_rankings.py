"""Published rankings: immutable, versioned snapshots of an evaluative call's ranking.

- ``ranking``: one row per publication, the call's ``version`` (1, 2, ...; unique per call,
  so two publications at once can never both be version 1), ``replaces_id`` the version it
  corrects (null exactly for version 1, each version replaced at most once), the decree's
  reference and date, the call's budget and allocated counters when published, and the grid
  applied.
- ``ranking_entry``: each ranked application as published (position, applicant's name
  unless a natural person, requested amount, criterion averages, total, outcome, the failed
  thresholds, the tie-break rule that placed it).
- Triggers on both databases refuse every UPDATE and DELETE of either table
  (``ranking_published_immutable_check``): a published version is never edited; a
  correction is a new version.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMMUTABLE = "ranking_published_immutable_check"
TABLES = ("ranking", "ranking_entry")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ranking",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("decree_reference", sa.String(length=200), nullable=False),
        sa.Column("decree_date", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=False),
        sa.Column("grid", _json(), nullable=False),
        sa.CheckConstraint(
            "(version = 1 AND replaces_id IS NULL) OR (version > 1 AND replaces_id IS NOT NULL)",
            name=op.f("ranking_version_replaces_check"),
        ),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("ranking_call_id_fkey")),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["ranking.id"], name=op.f("ranking_replaces_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ranking_pkey")),
        sa.UniqueConstraint("call_id", "version", name=op.f("ranking_call_id_version_key")),
        sa.UniqueConstraint("replaces_id", name=op.f("ranking_replaces_id_key")),
    )
    op.create_table(
        "ranking_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ranking_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("applicant_name", sa.String(length=300), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("requested_cents", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.Column("averages", _json(), nullable=False),
        sa.Column("total_hundredths", sa.BigInteger(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "fundable",
                "eligible_not_funded",
                "below_threshold",
                name="ranking_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("failed", _json(), nullable=False),
        sa.Column("tie_break", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["ranking_id"], ["ranking.id"], name=op.f("ranking_entry_ranking_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["application.id"], name=op.f("ranking_entry_application_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ranking_entry_pkey")),
        sa.UniqueConstraint(
            "ranking_id", "ordinal", name=op.f("ranking_entry_ranking_id_ordinal_key")
        ),
        sa.UniqueConstraint(
            "ranking_id", "application_id", name=op.f("ranking_entry_ranking_id_application_id_key")
        ),
    )
    op.create_index(
        op.f("ranking_entry_application_id_idx"), "ranking_entry", ["application_id"], unique=False
    )
    _triggers()


def _triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ranking_published_immutable() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$\nBEGIN\nRAISE EXCEPTION '{IMMUTABLE}: a published ranking is never changed' "
            f"USING ERRCODE = 'check_violation', CONSTRAINT = '{IMMUTABLE}', "
            "TABLE = TG_TABLE_NAME;\nEND $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ranking_published_immutable()"
            )
        return
    for table in TABLES:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_immutable_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {IMMUTABLE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ranking_published_immutable()")
    else:
        for table in TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable_{event}")
    op.drop_index(op.f("ranking_entry_application_id_idx"), table_name="ranking_entry")
    op.drop_table("ranking_entry")
    op.drop_table("ranking")
