"""Partnership members consent: partnership_member.status is 'invited' until one of the
organisation's own users (or the region, with a recorded reason) accepts, then 'accepted'.

Only accepted members count: visibility, participation limits, the freeze of eligibility
details; a submission needs every member accepted. Every membership that exists before this
migration becomes 'accepted' (it was formed under the old rules and may already be part of
live applications: nothing live changes). The column's server default serves only that
backfill and is dropped afterwards: the service always says which status a new member has.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partnership_member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "invited",
                    "accepted",
                    name="member_status",
                    native_enum=False,
                    create_constraint=True,
                ),
                nullable=False,
                server_default="accepted",
            )
        )
    with op.batch_alter_table("partnership_member", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)


def downgrade() -> None:
    # Back to the old rules, where every named organisation was a member: pending
    # invitations would become memberships nobody accepted, so they are removed.
    op.execute("DELETE FROM partnership_member WHERE status = 'invited'")
    with op.batch_alter_table("partnership_member", schema=None) as batch_op:
        # SQLite rebuilds the table: its CHECK on the column must go first.
        batch_op.drop_constraint(op.f("partnership_member_member_status_check"), type_="check")
        batch_op.drop_column("status")
