"""E-mail notifications: each account's opt-outs, and the e-mails the worker sends.

The outbox (``outbox_message``, channel ``email``) holds one row per audit event of
interest, written in the change's own transaction. The worker turns each into one
``email_delivery`` per recipient (resolved then: README "E-mail notifications"), rendered
in the recipient's language, then sends, retries and records it there: the delivery row
is its own log (attempts, last error, when sent).
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
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow
from app.models.mixins import IdMixin


class NotificationOptOut(Base):
    """A kind of e-mail an account asked not to receive (legally required ones excepted:
    the service refuses those, app/services/notifications.py)."""

    __tablename__ = "notification_opt_out"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailDelivery(IdMixin, Base):
    """One e-mail to one account, from one outbox row: its text as sent, where its sending is."""

    __tablename__ = "email_delivery"
    __table_args__ = (
        # A fan-out run twice (a worker killed after it) never makes a second e-mail.
        UniqueConstraint("outbox_message_id", "user_id"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        CheckConstraint("language IN ('it', 'en')", name="language_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("email_delivery_due_idx", "status", "next_attempt_at"),
    )

    outbox_message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox_message.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2))
    # Derived from the outbox row and the account: every retry carries the same one.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
