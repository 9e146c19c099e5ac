"""A partial index on the active allocations of each call: counting a call's published grants
(?include_total=true) becomes an index-only scan instead of reading the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 17:51:46.293742
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.create_index(
            "allocation_active_call_id_idx",
            ["call_id"],
            unique=False,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.drop_index(
            "allocation_active_call_id_idx",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
