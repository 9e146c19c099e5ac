"""The webhook worker (`wecare worker`): fan the outbox out, claim, send, record.

Each round, in its own transactions:

1. Fan-out (one worker at a time: an advisory lock on PostgreSQL, the write lock on
   SQLite). The outbox rows not yet dispatched, in chain order: each becomes one delivery
   per subscription that asked for its type and whose owner may read it, numbered by the
   subscription's own counter (1, 2, 3... with no gap). The outbox rows are written under
   the audit chain's head lock, so they commit in chain order: a row visible to the worker
   has every earlier one visible too.
2. Claim: the due head of each active subscription's queue (FOR UPDATE SKIP LOCKED on
   PostgreSQL), leased for ``webhook_lease_seconds``. One event per subscription in flight:
   in order per subscription. A worker killed mid-delivery leaves its lease to expire;
   another worker (or the same, restarted) claims the delivery again: at least once.
3. Send, outside any transaction, then record the attempt and its outcome: delivered;
   retried with exponential backoff and jitter (about three days in all, then the
   subscription is disabled); a 410 Gone disables the subscription at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets as random_tokens
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import decrypt_webhook_secret
from app.db.session import Database
from app.models.webhook import WebhookAttempt, WebhookDelivery, WebhookSubscription
from app.repositories import webhooks as repo
from app.services import webhook_events, webhooks
from app.services.webhook_sending import Outcome, send

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
BATCH = 50  # deliveries of one subscription a worker takes in one round, in order
# Retry delays: 5 s x 3^n, at most 12 h, each with +-20 % jitter. Fifteen attempts span
# about three days (5 s, 15 s, 45 s, ... 9.1 h, then 12 h five times: 71.7 h before jitter).
FIRST_DELAY_SECONDS = 5.0
DELAY_FACTOR = 3.0
MAX_DELAY_SECONDS = 12 * 3600.0
MAX_ATTEMPTS = 15
JITTER = 0.2


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based)."""
    base = min(FIRST_DELAY_SECONDS * DELAY_FACTOR ** (attempts - 1), MAX_DELAY_SECONDS)
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=base * spread)


def body_of(
    event_type: str,
    *,
    sequence: int,
    audit_seq: int,
    subscription_id: uuid.UUID,
    entity_type: str,
    entity_id: str,
    occurred_at: datetime,
) -> str:
    """The event as sent (Standard Webhooks' type, timestamp, data): thin, naming what
    changed; the receiver reads it through the API, under the API's own visibility."""
    stamp = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
    return json.dumps(
        {
            "type": event_type,
            "timestamp": stamp.astimezone(UTC).isoformat(),
            "data": {
                "sequence": sequence,
                "audit_seq": audit_seq,
                "subscription_id": str(subscription_id),
                "entity_type": entity_type,
                "entity_id": entity_id,
            },
        },
        separators=(",", ":"),
    )


async def fan_out(session: AsyncSession, *, limit: int = FAN_OUT_BATCH) -> int:
    """Turn undispatched outbox rows into numbered deliveries; how many rows it took."""
    if not await repo.try_fan_out_lock(session):
        return 0
    messages = await repo.undispatched(session, channel=webhook_events.WEBHOOK_CHANNEL, limit=limit)
    if not messages:
        return 0
    owners = await repo.subscriptions_with_owners(session)
    now = datetime.now(UTC)
    for message in messages:
        for row in owners:
            subscription: WebhookSubscription = row[0]
            if message.kind not in subscription.event_types:
                continue
            is_client = subscription.owner_client_id is not None
            if (row.client_active if is_client else row.user_active) is not True:
                continue
            owner = subscription.owner_client_id or subscription.owner_user_id
            visible = webhook_events.may_see(
                message.kind,
                audience=message.audience,
                role=None if is_client else row.role,
                client_scopes=frozenset(row.scopes or ()) if is_client else None,
                client_organisation=str(row.organisation_id) if row.organisation_id else None,
                owner_id=str(owner),
            )
            if not visible:
                continue
            subscription.last_sequence += 1
            session.add(
                WebhookDelivery(
                    id=uuid.uuid4(),
                    subscription_id=subscription.id,
                    sequence=subscription.last_sequence,
                    audit_seq=message.audit_seq or 0,
                    event_type=message.kind,
                    body=body_of(
                        message.kind,
                        sequence=subscription.last_sequence,
                        audit_seq=message.audit_seq or 0,
                        subscription_id=subscription.id,
                        entity_type=message.entity_type,
                        entity_id=message.entity_id,
                        occurred_at=message.occurred_at,
                    ),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        message.dispatched_at = now
    await session.flush()
    return len(messages)


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    sequence: int
    attempts: int
    body: str
    lease_token: str
    url: str
    secrets: list[str]
    lease_until: datetime


async def claim(
    session: AsyncSession, *, settings: Settings, limit: int, batch: int = BATCH
) -> list[Claimed]:
    """Lease the due heads of the active subscriptions' queues, each with up to ``batch - 1``
    deliveries right after it (sent after it, in order, by this worker): fewer rounds per
    event when a subscription has a backlog. In subscription, then number order."""
    now = datetime.now(UTC)
    lease_until = now + timedelta(seconds=settings.webhook_lease_seconds)
    claimed: list[Claimed] = []
    for head in await repo.claim_due(session, now=now, limit=limit):
        subscription = await session.get(WebhookSubscription, head.subscription_id)
        assert subscription is not None  # the foreign key
        keys = [decrypt_webhook_secret(subscription.secret_encrypted, settings.secret)]
        if (
            subscription.previous_secret_encrypted is not None
            and subscription.previous_secret_expires_at is not None
            and _aware(subscription.previous_secret_expires_at) > now
        ):
            keys.append(
                decrypt_webhook_secret(subscription.previous_secret_encrypted, settings.secret)
            )
        group = [head, *await repo.followers(session, head=head, now=now, limit=batch - 1)]
        for delivery in group:
            token = random_tokens.token_hex(16)
            delivery.lease_token, delivery.lease_expires_at = token, lease_until
            claimed.append(
                Claimed(
                    delivery.id,
                    subscription.id,
                    delivery.sequence,
                    delivery.attempts,
                    delivery.body,
                    token,
                    subscription.url,
                    keys,
                    lease_until,
                )
            )
    await session.flush()
    return claimed


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def record_outcome(session: AsyncSession, claimed: Claimed, outcome: Outcome) -> None:
    """The attempt in the log; the delivery delivered or rescheduled; the subscription
    disabled on 410 or when the retries are spent."""
    now = datetime.now(UTC)
    attempts = claimed.attempts + 1
    values: dict[str, object] = {"attempts": attempts}
    if outcome.delivered:
        values |= {"status": "delivered", "delivered_at": now}
    else:
        values |= {"next_attempt_at": now + retry_delay(attempts)}
    if not await repo.finish(
        session, delivery_id=claimed.delivery_id, lease_token=claimed.lease_token, values=values
    ):
        return  # the lease was lost (replayed, or expired and claimed again): not ours
    session.add(
        WebhookAttempt(
            id=uuid.uuid4(),
            delivery_id=claimed.delivery_id,
            subscription_id=claimed.subscription_id,
            sequence=claimed.sequence,
            attempted_at=now,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            response_body=outcome.response_body,
        )
    )
    await session.flush()
    reason = None
    if outcome.status_code == 410:
        reason = "the endpoint answered 410 Gone"
    elif not outcome.delivered and attempts >= MAX_ATTEMPTS:
        reason = f"{attempts} attempts failed over about three days"
    if reason is not None:
        subscription = await session.get(WebhookSubscription, claimed.subscription_id)
        if subscription is not None and subscription.status == "active":
            await webhooks.disable(session, subscription, reason=reason)


@dataclass
class WorkerStats:
    fanned_out: int = 0
    attempts: int = 0
    delivered: int = 0
    rounds: int = 0
    latencies_ms: list[int] = field(default_factory=list)


async def run_once(database: Database, settings: Settings, stats: WorkerStats | None = None) -> int:
    """One round: fan out, claim, send (subscriptions concurrently, each one's events one
    after another), record each attempt. How many it sent."""
    stats = stats or WorkerStats()
    stats.rounds += 1
    async with database.session(write=True) as session:
        stats.fanned_out += await fan_out(session)
    async with database.session(write=True) as session:
        claimed = await claim(session, settings=settings, limit=settings.webhook_concurrency)
    if not claimed:
        return 0
    batches: dict[uuid.UUID, list[Claimed]] = {}
    for item in claimed:
        batches.setdefault(item.subscription_id, []).append(item)
    sent = await asyncio.gather(
        *(_deliver_in_order(database, settings, batch, stats) for batch in batches.values())
    )
    return sum(sent)


async def _deliver_in_order(
    database: Database, settings: Settings, batch: list[Claimed], stats: WorkerStats
) -> int:
    """Send one subscription's claimed events in order; stop at the first that is not
    delivered (or when the lease would run out before the next could finish). Then record
    the attempts, in one transaction, and give the rest back. A worker killed before the
    record leaves its leases to expire: those events are sent again (at least once)."""
    done: list[tuple[Claimed, Outcome]] = []
    for item in batch:
        deadline = datetime.now(UTC) + timedelta(seconds=settings.webhook_timeout_seconds)
        if deadline >= item.lease_until:
            break
        outcome = await _send(item, settings)
        done.append((item, outcome))
        stats.attempts += 1
        stats.delivered += outcome.delivered
        stats.latencies_ms.append(outcome.latency_ms)
        if not outcome.delivered:
            break
    rest = [(later.delivery_id, later.lease_token) for later in batch[len(done) :]]
    async with database.session(write=True) as session:
        for item, outcome in done:
            await record_outcome(session, item, outcome)
        if rest:
            await repo.release(session, leases=rest)
    return len(done)


async def _send(item: Claimed, settings: Settings) -> Outcome:
    return await send(
        item.url,
        body=item.body,
        msg_id=str(item.delivery_id),
        timestamp=datetime.now(UTC),
        secrets=item.secrets,
        settings=settings,
    )


async def run(
    database: Database,
    settings: Settings,
    stop: asyncio.Event,
    stats: WorkerStats | None = None,
    *,
    also: Callable[[], Awaitable[int]] | None = None,
) -> WorkerStats:
    """Rounds until ``stop`` is set: a round in progress finishes (its sends and their
    records), then the loop ends. Idle, it waits ``webhook_poll_seconds`` between rounds.
    ``also``: another outbox consumer's round (the e-mails), run after each of ours."""
    stats = stats or WorkerStats()
    while not stop.is_set():
        try:
            sent = await run_once(database, settings, stats)
        except Exception:  # a database hiccup must not end the worker: log, wait, go on
            log.exception("webhook worker round failed")
            sent = 0
        if also is not None:
            try:
                sent += await also()
            except Exception:
                log.exception("e-mail worker round failed")
        if sent == 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.webhook_poll_seconds)
    return stats
