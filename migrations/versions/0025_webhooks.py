"""Webhooks (issue 18): subscriptions, the outbox, deliveries and their log.

- ``outbox_message``: one row per event of interest, written by ``audit.record`` in the
  change's own transaction; ``channel`` names its consumer (``webhook``; e-mail later).
- ``webhook_subscription``: an endpoint, its event types, its owner (a user or a partner
  client, exactly one), its encrypted signing secrets and its own event counter.
- ``webhook_delivery``: one event for one subscription, numbered gap-free per subscription.
- ``webhook_attempt``: the delivery log.

New tables only: nothing to carry over, the downgrade drops them.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("dispatched_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("outbox_message_pkey")),
    )
    op.create_index(
        "outbox_message_pending_idx",
        "outbox_message",
        ["channel", "id"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    )
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(), nullable=True),
        sa.Column("owner_client_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column(
            "event_types", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", WHEN, nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("previous_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", WHEN, nullable=True),
        sa.Column("secret_rotated_at", WHEN, nullable=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("replayed_from", sa.BigInteger(), nullable=True),
        sa.Column("replayed_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(owner_user_id IS NULL) <> (owner_client_id IS NULL)",
            name=op.f("webhook_subscription_one_owner_check"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'disabled')", name=op.f("webhook_subscription_status_known_check")
        ),
        sa.CheckConstraint(
            "last_sequence >= 0",
            name=op.f("webhook_subscription_last_sequence_non_negative_check"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["user_account.id"],
            name=op.f("webhook_subscription_owner_user_id_fkey"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_client_id"],
            ["oauth_client.id"],
            name=op.f("webhook_subscription_owner_client_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_subscription_pkey")),
    )
    op.create_index(
        op.f("webhook_subscription_owner_user_id_idx"), "webhook_subscription", ["owner_user_id"]
    )
    op.create_index(
        op.f("webhook_subscription_owner_client_id_idx"),
        "webhook_subscription",
        ["owner_client_id"],
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("lease_expires_at", WHEN, nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered')", name=op.f("webhook_delivery_status_known_check")
        ),
        sa.CheckConstraint("sequence >= 1", name=op.f("webhook_delivery_sequence_positive_check")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("webhook_delivery_subscription_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_delivery_pkey")),
        sa.UniqueConstraint(
            "subscription_id",
            "sequence",
            name=op.f("webhook_delivery_subscription_id_sequence_key"),
        ),
    )
    op.create_index(
        "webhook_delivery_pending_idx",
        "webhook_delivery",
        ["subscription_id", "status", "sequence"],
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("attempted_at", WHEN, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("webhook_attempt_delivery_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("webhook_attempt_subscription_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_attempt_pkey")),
    )
    op.create_index(op.f("webhook_attempt_delivery_id_idx"), "webhook_attempt", ["delivery_id"])
    op.create_index(
        "webhook_attempt_subscription_idx",
        "webhook_attempt",
        ["subscription_id", "attempted_at"],
    )


def downgrade() -> None:
    op.drop_table("webhook_attempt")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_subscription")
    op.drop_index("outbox_message_pending_idx", table_name="outbox_message")
    op.drop_table("outbox_message")
