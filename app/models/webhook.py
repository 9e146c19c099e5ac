"""Webhooks: subscriptions, the outbox the audit chain feeds, deliveries and their log.

The outbox (``outbox_message``) is written by ``audit.record`` in the change's own
transaction, one row per event of interest, whatever the subscriptions; ``channel`` says who
consumes it (``webhook`` today; e-mail notifications can share the table and the worker).
The worker fans each row out, in chain order, to the subscriptions that may see it: one
``webhook_delivery`` per subscription, numbered by the subscription's own counter, so the
numbers a receiver sees have no gap.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow
from app.db.types import json_type
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin

SERIAL = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY is rowid


class OutboxMessage(Base):
    """One event to send, written in the same transaction as its audit event."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        # The worker reads what it has not dispatched yet, in order.
        Index(
            "outbox_message_pending_idx",
            "channel",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))  # webhook (e-mail later)
    kind: Mapped[str] = mapped_column(String(60))  # the event type, e.g. allocation.granted
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    # Who may see the event, beyond its type: the owning organisation or subscription.
    audience: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]


class WebhookSubscription(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """An endpoint a partner client or an administrator registered, and the events it wants."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (
        CheckConstraint("(owner_user_id IS NULL) <> (owner_client_id IS NULL)", name="one_owner"),
        CheckConstraint("status IN ('active', 'disabled')", name="status_known"),
        CheckConstraint("last_sequence >= 0", name="last_sequence_non_negative"),
    )

    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id"), index=True
    )
    owner_client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oauth_client.id"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(json_type(), default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    # Fernet-encrypted with the server secret; the previous one still signs until it expires.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    secret_rotated_at: Mapped[datetime | None]
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    replayed_from: Mapped[int | None] = mapped_column(BigInteger)
    replayed_at: Mapped[datetime | None]


class WebhookDelivery(IdMixin, Base):
    """One event for one subscription: its number there, its body, where its sending is."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "sequence"),
        CheckConstraint("status IN ('pending', 'delivered')", name="status_known"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
        Index("webhook_delivery_pending_idx", "subscription_id", "status", "sequence"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    sequence: Mapped[int] = mapped_column(BigInteger)
    audit_seq: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(IdMixin, Base):
    """The delivery log: every attempt, its answer and how long it took."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("webhook_attempt_subscription_idx", "subscription_id", "attempted_at"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    sequence: Mapped[int] = mapped_column(BigInteger)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    response_body: Mapped[str | None] = mapped_column(Text)  # the first KiB
