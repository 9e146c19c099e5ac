"""Revocation after payment (issue 16): recoveries.

- ``allocation``, ``call``, ``measure``, ``programme``: the counters ``due_cents`` (paid
  beyond the grant's new amount, asked back) and ``recovered_cents`` (came back), with
  their CHECKs: due within paid, recovered within due.
- ``paid_within_grant`` becomes ``paid_cents - due_cents <= cap``: what was paid and is not
  due back stays within the grant (a revoked grant's payments stay counted as paid).
- ``payment_terms.recovery_days`` (NULL: not given by the source).
- New tables ``recovery`` and ``recovery_receipt``.

On SQLite a CHECK rides on the column it was added with, and a table rebuild would lose
the triggers that guard the table: ``paid_cents`` is swapped for a new column carrying
the new CHECKs (added, copied, the old one dropped, the new one renamed).

Existing rows start with nothing due nor recovered.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CAPS = {
    "allocation": "amount_cents",
    "call": "allocated_cents",
    "measure": "allocated_cents",
    "programme": "allocated_cents",
}
# A copy of app.models.mixins.FUNDING_CHECKS as of this revision (migrations never import
# the models): the new counters' CHECKs, by the column each rides on on SQLite.
_NEW: dict[str, dict[str, str]] = {
    "due_cents": {"due_non_negative": "due_cents >= 0"},
    "recovered_cents": {
        "recovered_within_due": "recovered_cents >= 0 AND recovered_cents <= due_cents"
    },
}
_PAID_OLD = {
    "paid_within_grant": "paid_cents <= {cap}",
    "advanced_within_paid": "advanced_cents <= paid_cents",
    "paid_within_verified": "paid_cents - advanced_cents <= verified_cents",
}
_PAID_NEW = {
    "paid_within_grant": "paid_cents - due_cents <= {cap}",
    "advanced_within_paid": "advanced_cents <= paid_cents",
    "paid_within_verified": "paid_cents - advanced_cents <= verified_cents",
    "due_within_paid": "due_cents <= paid_cents",
}
_ACCEPTED = {"paid_after_acceptance": "paid_cents = 0 OR accepted_at IS NOT NULL"}
_SWAP = "paid_cents_0023"


def _paid_checks(table: str, checks: dict[str, str]) -> list[tuple[str, str]]:
    found = [(f"{table}_{n}_check", sql.format(cap=_CAPS[table])) for n, sql in checks.items()]
    if table == "allocation":
        found += [(f"allocation_{n}_check", sql) for n, sql in _ACCEPTED.items()]
    return found


def _swap_paid_sqlite(table: str, checks: list[tuple[str, str]]) -> None:
    """``paid_cents`` again, with ``checks``: a new column with them (the old one's values
    copied), the old one dropped, the new one renamed. The CHECKs are off meanwhile: the
    new column is 0 until copied."""
    inline = "".join(
        f" CONSTRAINT {name} CHECK ({sql.replace('paid_cents', _SWAP)})" for name, sql in checks
    )
    op.execute(f'ALTER TABLE "{table}" ADD COLUMN {_SWAP} BIGINT NOT NULL DEFAULT 0{inline}')
    op.execute(f'UPDATE "{table}" SET {_SWAP} = paid_cents')
    op.execute(f'ALTER TABLE "{table}" DROP COLUMN paid_cents')
    op.execute(f'ALTER TABLE "{table}" RENAME COLUMN {_SWAP} TO paid_cents')


def _swap_paid_postgres(table: str, old: list[tuple[str, str]], new: list[tuple[str, str]]) -> None:
    for name, _sql in old:
        op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {name}')
    for name, sql in new:
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {name} CHECK ({sql})')


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA ignore_check_constraints = ON")
    for table in _CAPS:
        for column, checks in _NEW.items():
            guards = [(f"{table}_{n}_check", sql) for n, sql in checks.items()]
            inline = "".join(f" CONSTRAINT {n} CHECK ({sql})" for n, sql in guards)
            op.execute(
                f'ALTER TABLE "{table}" ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0'
                f"{inline if sqlite else ''}"
            )
            if not sqlite:
                for name, sql in guards:
                    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {name} CHECK ({sql})')
        old, new = _paid_checks(table, _PAID_OLD), _paid_checks(table, _PAID_NEW)
        if sqlite:
            _swap_paid_sqlite(table, new)
        else:
            _swap_paid_postgres(table, old, new)
    if sqlite:
        op.execute("PRAGMA ignore_check_constraints = OFF")
    guard = (
        "CONSTRAINT payment_terms_recovery_days_positive_check "
        "CHECK (recovery_days IS NULL OR recovery_days > 0)"
    )
    op.execute(
        f"ALTER TABLE payment_terms ADD COLUMN recovery_days INTEGER{' ' + guard if sqlite else ''}"
    )
    if not sqlite:
        op.execute(f"ALTER TABLE payment_terms ADD {guard}")
    _tables()


def _tables() -> None:
    op.create_table(
        "recovery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("due_cents", sa.BigInteger(), nullable=False),
        sa.Column("recovered_cents", sa.BigInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("due_cents > 0", name=op.f("recovery_due_positive_check")),
        sa.CheckConstraint(
            "recovered_cents >= 0 AND recovered_cents <= due_cents",
            name=op.f("recovery_recovered_within_due_check"),
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocation.id"], name=op.f("recovery_allocation_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("recovery_pkey")),
    )
    op.create_index(
        op.f("recovery_allocation_id_created_at_idx"),
        "recovery",
        ["allocation_id", "created_at"],
    )
    op.create_table(
        "recovery_receipt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recovery_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("treasury_reference", sa.String(length=100), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("recovery_receipt_amount_positive_check")),
        sa.ForeignKeyConstraint(
            ["recovery_id"], ["recovery.id"], name=op.f("recovery_receipt_recovery_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("recovery_receipt_pkey")),
        sa.UniqueConstraint(
            "treasury_reference", name=op.f("recovery_receipt_treasury_reference_key")
        ),
    )
    op.create_index(op.f("recovery_receipt_recovery_id_idx"), "recovery_receipt", ["recovery_id"])


def downgrade() -> None:
    op.drop_table("recovery_receipt")
    op.drop_table("recovery")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(
            "ALTER TABLE payment_terms DROP CONSTRAINT payment_terms_recovery_days_positive_check"
        )
    op.execute("ALTER TABLE payment_terms DROP COLUMN recovery_days")
    if sqlite:
        op.execute("PRAGMA ignore_check_constraints = ON")
    for table in reversed(_CAPS):
        old, new = _paid_checks(table, _PAID_OLD), _paid_checks(table, _PAID_NEW)
        if sqlite:
            _swap_paid_sqlite(table, old)
        else:
            _swap_paid_postgres(table, new, old)
        for column, checks in reversed(_NEW.items()):
            if not sqlite:
                for name in checks:
                    op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {table}_{name}_check')
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN {column}')
    if sqlite:
        op.execute("PRAGMA ignore_check_constraints = OFF")
