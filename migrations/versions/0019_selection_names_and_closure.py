"""First-come closure recorded, and the ranking method called by its name.

- ``call.closed_at``: when a first-come call closed itself for new submissions (its waiting
  list full and, with no room for a list, nothing left); NULL while it takes submissions,
  and on every call that is not first-come (``call_closed_only_first_come_check``).
  app.services.first_come sets and clears it with the call locked; ``wecare check``
  compares it with the counters. Existing first-come calls get it from their counters now.
- ``call.selection_method``: ``evaluative`` becomes ``ranking`` (issue 15 names the methods
  ``ranking`` and ``first_come``). The value sits in a named CHECK constraint and the
  column's default: PostgreSQL replaces them in place. SQLite cannot alter a constraint; it
  gets the change SQLite documents for a CHECK or a default (the table's CREATE statement
  rewritten in the schema, ``'evaluative'`` -> ``'ranking'``, nothing else), not a batch-mode
  rebuild: a rebuild turns 0017's column CHECKs into table CHECKs, which SQLite then refuses
  to let 0017's downgrade drop the columns past, and it must run with foreign keys off (the
  DROP TABLE would cascade to the call's windows and limits). The audit trail keeps
  ``evaluative`` in the events written before: history is not rewritten.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSED_CHECK = "call_closed_only_first_come_check"
CLOSED_EXPRESSION = "closed_at IS NULL OR selection_method = 'first_come'"
METHOD_CHECK = "call_selection_method_check"
# The closure as app.models.call.Call.closed_for_submissions decides it.
CLOSED_NOW = (
    "selection_method = 'first_come' AND waiting_list_length IS NOT NULL"
    " AND waiting_count >= waiting_list_length"
    " AND (waiting_count > 0 OR budget_cents - allocated_cents - reserved_cents <= 0)"
)


def _methods(*values: str) -> str:
    return "selection_method IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _rename(old: str, new: str, final: tuple[str, ...]) -> None:
    """``old`` -> ``new`` in the column's values, its CHECK and its default."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f'ALTER TABLE "call" DROP CONSTRAINT {METHOD_CHECK}')
        op.execute(
            f"UPDATE \"call\" SET selection_method = '{new}' WHERE selection_method = '{old}'"
        )
        op.execute(f'ALTER TABLE "call" ADD CONSTRAINT {METHOD_CHECK} CHECK ({_methods(*final)})')
        op.execute(f"ALTER TABLE \"call\" ALTER COLUMN selection_method SET DEFAULT '{new}'")
        return
    # SQLite cannot alter a constraint. Its own documented way for a CHECK or a default
    # (sqlite.org/lang_altertable.html, "other kinds of table schema changes"): rewrite the
    # table's CREATE statement in the schema, bump schema_version, in this transaction. The
    # rows are updated after it, under the new CHECK (an UPDATE to the new value would fail
    # under the old one, so it also proves the new one is in force).
    current = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'call'",
        (f"'{old}'", f"'{new}'"),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(current) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    op.execute(f"UPDATE \"call\" SET selection_method = '{new}' WHERE selection_method = '{old}'")
    problems = bind.exec_driver_sql("PRAGMA quick_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"the call table's new definition does not check: {problems}")


def _add_closed_at() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    kind = "DATETIME" if sqlite else "TIMESTAMP WITH TIME ZONE"
    # On SQLite the CHECK rides on the column (SQLite adds no table constraint), as in 0017.
    guard = f" CONSTRAINT {CLOSED_CHECK} CHECK ({CLOSED_EXPRESSION})" if sqlite else ""
    op.execute(f'ALTER TABLE "call" ADD COLUMN closed_at {kind}{guard}')
    if not sqlite:
        op.execute(f'ALTER TABLE "call" ADD CONSTRAINT {CLOSED_CHECK} CHECK ({CLOSED_EXPRESSION})')
    now = sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))
    op.get_bind().execute(
        sa.text(f'UPDATE "call" SET closed_at = :now WHERE {CLOSED_NOW}').bindparams(now)
    )


def upgrade() -> None:
    # The rebuild first: the new column and its CHECK are added after it, as plain ALTERs.
    _rename("evaluative", "ranking", final=("ranking", "first_come", "negotiated"))
    _add_closed_at()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(f'ALTER TABLE "call" DROP CONSTRAINT {CLOSED_CHECK}')
    op.execute('ALTER TABLE "call" DROP COLUMN closed_at')
    _rename("ranking", "evaluative", final=("evaluative", "first_come", "negotiated"))
