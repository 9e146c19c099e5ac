"""E-mail notifications (issue 18): the account's language, opt-outs, e-mails sent.

- ``user_account.language``: ``it`` (the region's language, every existing account) or
  ``en``; the e-mails an account receives are in it.
- ``notification_opt_out``: a kind of e-mail an account does not want (never a legally
  required one: the service refuses those).
- ``email_delivery``: one e-mail to one account from one outbox row (channel ``email``),
  rendered when the worker takes the row; its status, attempts and last error are its log.

The downgrade drops the two tables and the column: the opt-outs and the log go with them.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
LANGUAGE_CHECK = "user_account_language_known_check"


def upgrade() -> None:
    # Added in place, not by rebuilding user_account (SQLite's batch mode drops and
    # recreates the table, which its foreign keys refuse once accounts are referenced).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE user_account ADD COLUMN language VARCHAR(2) DEFAULT 'it' NOT NULL "
            f"CONSTRAINT {LANGUAGE_CHECK} CHECK (language IN ('it', 'en'))"
        )
    else:
        op.add_column(
            "user_account",
            sa.Column("language", sa.String(length=2), server_default="it", nullable=False),
        )
        op.create_check_constraint(op.f(LANGUAGE_CHECK), "user_account", "language IN ('it', 'en')")
    op.create_table(
        "notification_opt_out",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("notification_opt_out_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("notification_opt_out_pkey")),
    )
    op.create_table(
        "email_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("outbox_message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("lease_expires_at", WHEN, nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')",
            name=op.f("email_delivery_status_known_check"),
        ),
        sa.CheckConstraint(
            "language IN ('it', 'en')", name=op.f("email_delivery_language_known_check")
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("email_delivery_attempts_non_negative_check")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox_message.id"],
            name=op.f("email_delivery_outbox_message_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("email_delivery_user_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("email_delivery_pkey")),
        sa.UniqueConstraint(
            "outbox_message_id",
            "user_id",
            name=op.f("email_delivery_outbox_message_id_user_id_key"),
        ),
        sa.UniqueConstraint("message_id", name=op.f("email_delivery_message_id_key")),
    )
    op.create_index(
        "email_delivery_due_idx", "email_delivery", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(op.f("email_delivery_user_id_idx"), "email_delivery", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("email_delivery_user_id_idx"), table_name="email_delivery")
    op.drop_index("email_delivery_due_idx", table_name="email_delivery")
    op.drop_table("email_delivery")
    op.drop_table("notification_opt_out")
    if op.get_bind().dialect.name == "sqlite":
        # A column-level CHECK goes with its column (SQLite 3.35+ drops it in place).
        op.execute("ALTER TABLE user_account DROP COLUMN language")
    else:
        op.drop_constraint(op.f(LANGUAGE_CHECK), "user_account", type_="check")
        op.drop_column("user_account", "language")
