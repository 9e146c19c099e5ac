"""After the grant (issue 16): acceptance, payment terms, expenditure claims, first-level
checks and payments.

- ``allocation``: the acceptance (``accepted_on``, ``accepted_at``, ``accepted_by``), the
  guarantee's reference, ``completed_at`` (the balance is paid), and the funding counters
  ``claimed_cents``, ``verified_cents``, ``advanced_cents``, ``paid_cents``.
- ``call``, ``measure``, ``programme``: the same four counters, summed from their
  allocations; ``call.advance_guarantee_required`` (NULL: not given by the source).
- Every counter row's CHECKs (app.models.mixins.FUNDING_CHECKS): verified within claimed,
  advanced within paid, paid within the grant (the active grants above an allocation) and
  paid less advanced within verified; on an allocation, nothing paid before acceptance.
- New tables ``payment_terms`` (per measure), ``expenditure_claim``, ``claim_line`` and
  ``payment``.

Existing rows start with nothing accepted, claimed or paid.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy of app.models.mixins.FUNDING_CHECKS as of this revision (migrations never import
# the models), by the column each is attached to on SQLite.
_COUNTER_CHECKS: dict[str, dict[str, str]] = {
    "claimed_cents": {"claimed_non_negative": "claimed_cents >= 0"},
    "verified_cents": {
        "verified_within_claimed": "verified_cents >= 0 AND verified_cents <= claimed_cents"
    },
    "advanced_cents": {"advanced_non_negative": "advanced_cents >= 0"},
    "paid_cents": {
        "paid_within_grant": "paid_cents <= {cap}",
        "advanced_within_paid": "advanced_cents <= paid_cents",
        "paid_within_verified": "paid_cents - advanced_cents <= verified_cents",
    },
}
_CAPS = {
    "allocation": "amount_cents",
    "call": "allocated_cents",
    "measure": "allocated_cents",
    "programme": "allocated_cents",
}
_ALLOCATION_PLAIN = (
    ("accepted_on", "DATE"),
    ("accepted_at", "{timestamp}"),
    ("accepted_by", "VARCHAR(200)"),
    ("guarantee_reference", "VARCHAR(200)"),
    ("completed_at", "{timestamp}"),
)
_ACCEPTED_CHECK = ("paid_after_acceptance", "paid_cents = 0 OR accepted_at IS NOT NULL")


def _columns(table: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(column, type, [(CHECK name, expression)]) in the order they are added."""
    found: list[tuple[str, str, list[tuple[str, str]]]] = []
    if table == "allocation":
        found += [(name, kind, []) for name, kind in _ALLOCATION_PLAIN]
    for column, checks in _COUNTER_CHECKS.items():
        guards = [
            (f"{table}_{name}_check", sql.format(cap=_CAPS[table])) for name, sql in checks.items()
        ]
        if table == "allocation" and column == "paid_cents":
            guards.append((f"allocation_{_ACCEPTED_CHECK[0]}_check", _ACCEPTED_CHECK[1]))
        found.append((column, "BIGINT NOT NULL DEFAULT 0", guards))
    if table == "call":
        found.append(("advance_guarantee_required", "BOOLEAN", []))
    return found


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases, as 0017: SQLite's batch mode would rebuild the
    # tables and lose the triggers that guard them. On SQLite each CHECK rides on the
    # column it is added with.
    sqlite = op.get_bind().dialect.name == "sqlite"
    timestamp = "DATETIME" if sqlite else "TIMESTAMP WITH TIME ZONE"
    for table in _CAPS:
        for column, kind, checks in _columns(table):
            kind = kind.format(timestamp=timestamp)
            inline = "".join(f" CONSTRAINT {n} CHECK ({sql})" for n, sql in checks)
            op.execute(
                f'ALTER TABLE "{table}" ADD COLUMN {column} {kind}{inline if sqlite else ""}'
            )
            if not sqlite:
                for name, sql in checks:
                    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {name} CHECK ({sql})')
    _tables()


def _tables() -> None:
    op.create_table(
        "payment_terms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("acceptance_days", sa.Integer(), nullable=True),
        sa.Column("advance_share_pct", sa.Integer(), nullable=True),
        sa.Column("interim_payments", sa.Boolean(), nullable=True),
        sa.Column("retention_share_pct", sa.Integer(), nullable=True),
        sa.Column("cost_categories", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "acceptance_days IS NULL OR acceptance_days > 0",
            name=op.f("payment_terms_acceptance_days_positive_check"),
        ),
        sa.CheckConstraint(
            "advance_share_pct IS NULL OR (advance_share_pct >= 0 AND advance_share_pct <= 100)",
            name=op.f("payment_terms_advance_share_in_range_check"),
        ),
        sa.CheckConstraint(
            "retention_share_pct IS NULL "
            "OR (retention_share_pct >= 0 AND retention_share_pct <= 100)",
            name=op.f("payment_terms_retention_share_in_range_check"),
        ),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("payment_terms_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("payment_terms_pkey")),
        sa.UniqueConstraint("measure_id", name=op.f("payment_terms_measure_id_key")),
    )
    op.create_table(
        "expenditure_claim",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", _enum("claim_status", "draft", "submitted"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("verified_cents", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("checked_lines", sa.Integer(), nullable=False),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_by", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "period_end >= period_start", name=op.f("expenditure_claim_period_ordered_check")
        ),
        sa.CheckConstraint(
            "amount_cents > 0", name=op.f("expenditure_claim_amount_positive_check")
        ),
        sa.CheckConstraint(
            "verified_cents >= 0 AND verified_cents <= amount_cents",
            name=op.f("expenditure_claim_verified_within_amount_check"),
        ),
        sa.CheckConstraint(
            "(status = 'submitted') = (submitted_at IS NOT NULL)",
            name=op.f("expenditure_claim_submitted_has_time_check"),
        ),
        sa.CheckConstraint(
            "checked_lines >= 0 AND checked_lines <= line_count",
            name=op.f("expenditure_claim_checked_within_lines_check"),
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("expenditure_claim_allocation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("expenditure_claim_pkey")),
    )
    op.create_index(
        op.f("expenditure_claim_allocation_id_created_at_idx"),
        "expenditure_claim",
        ["allocation_id", "created_at"],
    )
    op.create_table(
        "claim_line",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("cost_category", sa.String(length=60), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("document_reference", sa.String(length=200), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column(
            "outcome",
            _enum("line_outcome", "pending", "accepted", "cut", "refused"),
            nullable=False,
        ),
        sa.Column("cut_cents", sa.BigInteger(), nullable=True),
        sa.Column("verified_cents", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("checked_by", sa.String(length=200), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("claim_line_amount_positive_check")),
        sa.CheckConstraint(
            "(outcome = 'pending' AND cut_cents IS NULL AND verified_cents IS NULL "
            "AND checked_by IS NULL) "
            "OR (outcome = 'accepted' AND cut_cents IS NULL AND verified_cents = amount_cents) "
            "OR (outcome = 'cut' AND cut_cents > 0 AND cut_cents < amount_cents "
            "AND verified_cents = amount_cents - cut_cents AND reason IS NOT NULL) "
            "OR (outcome = 'refused' AND cut_cents IS NULL AND verified_cents = 0 "
            "AND reason IS NOT NULL)",
            name=op.f("claim_line_outcome_derives_verified_check"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["expenditure_claim.id"], name=op.f("claim_line_claim_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("claim_line_allocation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("claim_line_pkey")),
        sa.UniqueConstraint("claim_id", "number", name=op.f("claim_line_claim_id_number_key")),
    )
    op.create_index(
        op.f("claim_line_allocation_id_checked_by_idx"),
        "claim_line",
        ["allocation_id", "checked_by"],
    )
    op.create_table(
        "payment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("kind", _enum("payment_kind", "advance", "interim", "balance"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("treasury_reference", sa.String(length=100), nullable=False),
        sa.Column("authorised_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("payment_amount_positive_check")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("payment_allocation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("payment_pkey")),
        sa.UniqueConstraint("treasury_reference", name=op.f("payment_treasury_reference_key")),
    )
    op.create_index(
        op.f("payment_allocation_id_authorised_by_idx"),
        "payment",
        ["allocation_id", "authorised_by"],
    )


def downgrade() -> None:
    op.drop_table("payment")
    op.drop_table("claim_line")
    op.drop_table("expenditure_claim")
    op.drop_table("payment_terms")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in reversed(_CAPS):
        for column, _kind, checks in reversed(_columns(table)):
            if not sqlite:
                for name, _sql in checks:
                    op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {name}')
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN {column}')
