"""The FESR mixed instrument: a measure's instrument, its loans, their schedules and
repayments, and the revolving fund's counters.

- ``measure.instrument`` (``grant`` or ``mixed``, every existing measure a grant) and
  ``measure.loan_terms`` (JSON: loan share, rate, term, grace, frequency, amortisation; a
  null figure is "not given by the source").
- ``lent_cents`` / ``repaid_cents`` on ``programme`` and ``measure``: the loan parts of
  active allocations and the principal repaid on them, guarded by ``*_lent_non_negative``
  and ``*_repaid_within_lent``; ``measure_loans_only_mixed`` keeps loans on mixed measures.
- ``loan`` (one per mixed allocation: principal and grant parts, principal repaid within the
  principal, the terms its schedule used), ``loan_instalment`` (the schedule, each paid
  within what it asks) and ``loan_repayment`` (each split into interest then principal).

Plain ALTER TABLE for the new columns on both databases, as 0017: SQLite's batch mode would
rebuild the tables and lose their triggers; there each CHECK rides on its column.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, type and default, the CHECK attached to that column, its expression)
COLUMNS: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    (
        "programme",
        "lent_cents",
        "BIGINT NOT NULL DEFAULT 0",
        "programme_lent_non_negative_check",
        "lent_cents >= 0",
    ),
    (
        "programme",
        "repaid_cents",
        "BIGINT NOT NULL DEFAULT 0",
        "programme_repaid_within_lent_check",
        "repaid_cents >= 0 AND repaid_cents <= lent_cents",
    ),
    (
        "measure",
        "instrument",
        "VARCHAR(5) NOT NULL DEFAULT 'grant'",
        "measure_instrument_check",
        "instrument IN ('grant', 'mixed')",
    ),
    ("measure", "loan_terms", "{json}", None, None),
    (
        "measure",
        "lent_cents",
        "BIGINT NOT NULL DEFAULT 0",
        "measure_lent_non_negative_check",
        "lent_cents >= 0",
    ),
    (
        "measure",
        "repaid_cents",
        "BIGINT NOT NULL DEFAULT 0",
        "measure_repaid_within_lent_check",
        "repaid_cents >= 0 AND repaid_cents <= lent_cents",
    ),
)
# Checks of several columns, added once their columns exist (SQLite: on the last one).
LATE_CHECKS = (
    ("measure", "measure_loans_only_mixed_check", "instrument = 'mixed' OR lent_cents = 0"),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    json = "JSON" if sqlite else "JSONB"
    for table, column, kind, check, expression in COLUMNS:
        guards = [(check, expression)] if check else []
        if sqlite and (table, column) == ("measure", "repaid_cents"):
            guards += [(name, expr) for _t, name, expr in LATE_CHECKS]
        inline = "".join(f" CONSTRAINT {n} CHECK ({e})" for n, e in guards) if sqlite else ""
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {kind.format(json=json)}{inline}')
        if not sqlite and check:
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {check} CHECK ({expression})')
    if not sqlite:
        for table, name, expression in LATE_CHECKS:
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {name} CHECK ({expression})')

    op.create_table(
        "loan",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("principal_cents", sa.BigInteger(), nullable=False),
        sa.Column("grant_cents", sa.BigInteger(), nullable=False),
        sa.Column("repaid_cents", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate_bp", sa.Integer(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column(
            "grace_payment",
            sa.Enum(
                "interest_only",
                "nothing",
                name="grace_payment",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("repayments_per_year", sa.Integer(), nullable=False),
        sa.Column(
            "amortisation",
            sa.Enum(
                "french", "italian", name="amortisation", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("principal_cents > 0", name=op.f("loan_principal_positive_check")),
        sa.CheckConstraint("grant_cents >= 0", name=op.f("loan_grant_non_negative_check")),
        sa.CheckConstraint(
            "repaid_cents >= 0 AND repaid_cents <= principal_cents",
            name=op.f("loan_repaid_within_principal_check"),
        ),
        sa.CheckConstraint(
            "annual_rate_bp >= 0 AND annual_rate_bp <= 10000", name=op.f("loan_rate_in_range_check")
        ),
        sa.CheckConstraint(
            "grace_months >= 0 AND grace_months < term_months",
            name=op.f("loan_grace_within_term_check"),
        ),
        sa.CheckConstraint(
            "repayments_per_year IN (1, 2, 4, 12)", name=op.f("loan_frequency_known_check")
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("loan_allocation_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("loan_programme_id_fkey")
        ),
        sa.ForeignKeyConstraint(["measure_id"], ["measure.id"], name=op.f("loan_measure_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("loan_pkey")),
        sa.UniqueConstraint("allocation_id", name=op.f("loan_allocation_id_key")),
    )
    op.create_index(op.f("loan_programme_id_idx"), "loan", ["programme_id"])
    op.create_index(op.f("loan_measure_id_idx"), "loan", ["measure_id"])
    op.create_table(
        "loan_instalment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("principal_cents", sa.BigInteger(), nullable=False),
        sa.Column("interest_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("number > 0", name=op.f("loan_instalment_number_positive_check")),
        sa.CheckConstraint(
            "principal_cents >= 0 AND interest_cents >= 0",
            name=op.f("loan_instalment_parts_non_negative_check"),
        ),
        sa.CheckConstraint(
            "paid_cents >= 0 AND paid_cents <= principal_cents + interest_cents",
            name=op.f("loan_instalment_paid_within_due_check"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loan.id"], name=op.f("loan_instalment_loan_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("loan_instalment_pkey")),
        sa.UniqueConstraint("loan_id", "number", name=op.f("loan_instalment_loan_id_number_key")),
    )
    op.create_table(
        "loan_repayment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("instalment_id", sa.Uuid(), nullable=False),
        sa.Column("instalment_number", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("principal_cents", sa.BigInteger(), nullable=False),
        sa.Column("interest_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("loan_repayment_amount_positive_check")),
        sa.CheckConstraint(
            "principal_cents >= 0 AND interest_cents >= 0 "
            "AND principal_cents + interest_cents = amount_cents",
            name=op.f("loan_repayment_split_adds_up_check"),
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loan.id"], name=op.f("loan_repayment_loan_id_fkey")),
        sa.ForeignKeyConstraint(
            ["instalment_id"],
            ["loan_instalment.id"],
            name=op.f("loan_repayment_instalment_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("loan_repayment_pkey")),
    )
    op.create_index(op.f("loan_repayment_loan_id_idx"), "loan_repayment", ["loan_id"])
    op.create_index(op.f("loan_repayment_instalment_id_idx"), "loan_repayment", ["instalment_id"])


def downgrade() -> None:
    op.drop_table("loan_repayment")
    op.drop_table("loan_instalment")
    op.drop_table("loan")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        for late_table, name, _late in LATE_CHECKS:
            op.execute(f'ALTER TABLE "{late_table}" DROP CONSTRAINT {name}')
    for table, column, _kind, check, _expression in reversed(COLUMNS):
        if not sqlite and check:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {check}')
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN {column}')
