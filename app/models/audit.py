"""The audit trail: an append-only, hash-chained record of every change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One change. UPDATE and DELETE are refused by triggers (migrations/)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("audit_event_entity_idx", "entity_type", "entity_id", "seq"),
        Index("audit_event_actor_idx", "actor_id", "seq"),
        Index("audit_event_occurred_at_idx", "occurred_at", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(20))  # user, client, system, anonymous
    actor_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))  # e.g. allocation.grant
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text)  # canonical JSON
    after: Mapped[str | None] = mapped_column(Text)  # canonical JSON
    reason: Mapped[str | None] = mapped_column(String(2000))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's head: one row, locked by every writer, so the chain never forks.

    A trigger (migration 0013) lets it move only one step forward, onto the event that
    chains from it, and refuses its deletion."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """The chain's head at one moment, signed with the token signing key (a compact JWS).

    Append-only like the events (migration 0013). ``wecare audit verify`` checks the chain
    against every checkpoint, so history below a checkpoint cannot be rewritten, nor the
    trail cut below it, without the signing key."""

    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[str] = mapped_column(String(64))
    jws: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
