"""Queries of webhook subscriptions, the outbox, deliveries and attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.models.auth import OAuthClient, UserAccount
from app.models.webhook import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookSubscription
from app.repositories.paging import Order, keyset


async def page_subscriptions(
    session: AsyncSession,
    *,
    owner_client_id: uuid.UUID | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[WebhookSubscription]:
    statement = select(WebhookSubscription)
    if owner_client_id is not None:
        statement = statement.where(WebhookSubscription.owner_client_id == owner_client_id)
    return list(await session.scalars(keyset(statement, order, after, limit)))


async def page_attempts(
    session: AsyncSession,
    *,
    subscription_id: uuid.UUID,
    sequence: int | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[WebhookAttempt]:
    statement = select(WebhookAttempt).where(WebhookAttempt.subscription_id == subscription_id)
    if sequence is not None:
        statement = statement.where(WebhookAttempt.sequence == sequence)
    return list(await session.scalars(keyset(statement, order, after, limit)))


async def requeue_from(
    session: AsyncSession, *, subscription_id: uuid.UUID, from_sequence: int, now: datetime
) -> int:
    """Every delivery from ``from_sequence`` pending again, due now, its lease dropped (a
    worker sending one of them no longer counts it as delivered)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.sequence >= from_sequence,
        )
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=now,
            lease_expires_at=None,
            lease_token=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def retry_pending_now(
    session: AsyncSession, *, subscription_id: uuid.UUID, now: datetime
) -> None:
    """A re-enabled subscription's pending deliveries: due now, their attempts counted anew."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == "pending",
        )
        .values(attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


# The worker: fan-out.


async def try_fan_out_lock(session: AsyncSession) -> bool:
    """One fan-out at a time, so that each subscription numbers its events in chain order.
    PostgreSQL: a transaction-scoped advisory lock, skipped when taken; SQLite: the write
    transaction (BEGIN IMMEDIATE) already excludes every other writer."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(7310018)")))


async def undispatched(session: AsyncSession, *, channel: str, limit: int) -> list[OutboxMessage]:
    return list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.dispatched_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


async def subscriptions_with_owners(session: AsyncSession) -> list[Row[Any]]:
    """Every subscription, with what its owner may read: the user's role and state, or the
    client's scopes, organisation and state. The fan-out locks them (their counters move)."""
    statement = (
        select(
            WebhookSubscription,
            UserAccount.role,
            UserAccount.active.label("user_active"),
            OAuthClient.scopes,
            OAuthClient.organisation_id,
            OAuthClient.active.label("client_active"),
        )
        .outerjoin(UserAccount, UserAccount.id == WebhookSubscription.owner_user_id)
        .outerjoin(OAuthClient, OAuthClient.id == WebhookSubscription.owner_client_id)
        .order_by(WebhookSubscription.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=WebhookSubscription)
    return list((await session.execute(statement)).all())  # type: ignore[arg-type]


# The worker: sending.


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[WebhookDelivery]:
    """The due head of every active subscription's queue (its lowest pending number), not
    leased or with an expired lease: at most one event per subscription is in flight, so
    each receives its events in order. PostgreSQL: FOR UPDATE SKIP LOCKED, so that workers
    claim different deliveries."""
    earlier = aliased(WebhookDelivery)
    head = ~(
        select(earlier.id)
        .where(
            earlier.subscription_id == WebhookDelivery.subscription_id,
            earlier.status == "pending",
            earlier.sequence < WebhookDelivery.sequence,
        )
        .exists()
    )
    statement = (
        select(WebhookDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookSubscription.status == "active",
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at <= now,
            ),
            head,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=WebhookDelivery, skip_locked=True)
    return list(await session.scalars(statement))


async def followers(
    session: AsyncSession, *, head: WebhookDelivery, now: datetime, limit: int
) -> list[WebhookDelivery]:
    """The pending deliveries right after a claimed head, contiguous in number and not
    leased: the same worker sends them after it, in order, in the same round."""
    statement = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == head.subscription_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.sequence > head.sequence,
            WebhookDelivery.sequence <= head.sequence + limit,
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at <= now,
            ),
        )
        .order_by(WebhookDelivery.sequence)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    found: list[WebhookDelivery] = []
    for delivery in await session.scalars(statement):
        if delivery.sequence != head.sequence + len(found) + 1:
            break  # a hole (taken elsewhere): stop, so the order holds
        found.append(delivery)
    return found


async def release(session: AsyncSession, *, leases: list[tuple[uuid.UUID, str]]) -> None:
    """Give back deliveries claimed but not sent (a batch stopped at a failure)."""
    for delivery_id, token in leases:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_token == token)
            .values(lease_expires_at=None, lease_token=None)
            .execution_options(synchronize_session=False)
        )


async def finish(
    session: AsyncSession, *, delivery_id: uuid.UUID, lease_token: str, values: dict[str, Any]
) -> bool:
    """Record an attempt's outcome, if the lease is still this worker's (a replay, or an
    expired lease claimed by another worker, takes it away)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(and_(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_token == lease_token))
        .values(lease_expires_at=None, lease_token=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def pending_count(session: AsyncSession) -> int:
    found = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
    )
    return int(found or 0)
