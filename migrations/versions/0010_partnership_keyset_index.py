"""An index on partnership (created_at, id): the partnership list pages by that key, and
without it a deep page sorted the whole table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 07:40:43.892955
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partnership", schema=None) as batch_op:
        batch_op.create_index("partnership_created_at_id_idx", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("partnership", schema=None) as batch_op:
        batch_op.drop_index("partnership_created_at_id_idx")
