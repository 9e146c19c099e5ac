"""First-come closure recorded.

- ``call.closed_at``: when a first-come call closed itself for new submissions (its waiting
  list full and, with no room for a list, nothing left); NULL while it takes submissions,
  and on every call that is not first-come (``call_closed_only_first_come_check``).
  app.services.first_come sets and clears it with the call locked; ``wecare check``
  compares it with the counters. Existing first-come calls get it from their counters now.

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
# The closure as app.models.call.Call.closed_for_submissions decides it.
CLOSED_NOW = (
    "selection_method = 'first_come' AND waiting_list_length IS NOT NULL"
    " AND waiting_count >= waiting_list_length"
    " AND (waiting_count > 0 OR budget_cents - allocated_cents - reserved_cents <= 0)"
)


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
    _add_closed_at()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(f'ALTER TABLE "call" DROP CONSTRAINT {CLOSED_CHECK}')
    op.execute('ALTER TABLE "call" DROP COLUMN closed_at')
