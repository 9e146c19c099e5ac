"""Indexes on (filter, sort key, id) for the keyset-paginated lists: a deep page costs what
the first page costs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 17:13:02.615083
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.create_index(
            "allocation_call_id_granted_at_id_idx", ["call_id", "granted_at", "id"], unique=False
        )
        batch_op.create_index("allocation_granted_at_id_idx", ["granted_at", "id"], unique=False)

    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            "application_call_id_created_at_id_idx", ["call_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("application_created_at_id_idx", ["created_at", "id"], unique=False)

    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.create_index("organisation_legal_name_id_idx", ["legal_name", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_index("organisation_legal_name_id_idx")

    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index("application_created_at_id_idx")
        batch_op.drop_index("application_call_id_created_at_id_idx")

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.drop_index("allocation_granted_at_id_idx")
        batch_op.drop_index("allocation_call_id_granted_at_id_idx")
