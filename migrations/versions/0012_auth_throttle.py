"""Throttling by client address: login failures record the address they came from (counted
per e-mail and address, and per address across e-mails), and failed client
authentications at the OAuth endpoints get a table of their own, counted per address.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Failures recorded before this revision keep counting for their e-mail, under the
    # empty address: they expire with the window like any other.
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("address", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.drop_index("login_failure_email_failed_at_idx")
        batch_op.create_index(
            "login_failure_email_address_failed_at_idx",
            ["email", "address", "failed_at"],
            unique=False,
        )
        batch_op.create_index(
            "login_failure_address_failed_at_idx", ["address", "failed_at"], unique=False
        )
    op.create_table(
        "client_auth_failure",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("client_auth_failure_pkey")),
    )
    with op.batch_alter_table("client_auth_failure", schema=None) as batch_op:
        batch_op.create_index(
            "client_auth_failure_address_failed_at_idx", ["address", "failed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("client_auth_failure", schema=None) as batch_op:
        batch_op.drop_index("client_auth_failure_address_failed_at_idx")
    op.drop_table("client_auth_failure")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("login_failure_address_failed_at_idx")
        batch_op.drop_index("login_failure_email_address_failed_at_idx")
        batch_op.create_index(
            "login_failure_email_failed_at_idx", ["email", "failed_at"], unique=False
        )
        batch_op.drop_column("address")
