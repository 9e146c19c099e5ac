"""E-mail notifications from the outbox (run by `wecare worker` beside the webhooks).

Each round, in its own transactions:

1. Fan-out. The e-mail outbox rows not taken yet (FOR UPDATE SKIP LOCKED on PostgreSQL):
   each becomes one ``email_delivery`` per recipient, rendered in the recipient's language.
   Recipients are resolved here, when the worker takes the row (normally within a second
   of the commit), not in the request: the request's transaction stays one INSERT longer
   and no more, and the set is fixed once, so a retry never changes who gets an e-mail.
   Opt-outs and deactivations that happen before the row is taken are honoured; one made
   after it is not (the e-mail is already on its way). Without SMTP configured the rows
   are marked taken and no e-mail is made: e-mails of that time are never sent later.
2. Claim the due pending e-mails (SKIP LOCKED), leased for ``webhook_lease_seconds``. A
   worker killed mid-send leaves its lease to expire; the e-mail is claimed again: at
   least once, with the same Message-ID.
3. Send, outside any transaction, then record the outcome: sent (never sent again), or
   retried with the webhooks' backoff (5 s x 3^n with jitter, about three days), then
   ``failed``. The row's status, attempts, last error and ``sent_at`` are its log.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random_tokens
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.config import Settings
from app.core.notices import LEGALLY_REQUIRED, OFFICERS, RECIPIENTS
from app.db.session import Database
from app.models.notification import EmailDelivery
from app.models.webhook import OutboxMessage
from app.repositories import notifications as repo
from app.services import email_events, email_templates
from app.services.email_events import NOTICES_OF_ACTION
from app.services.email_sending import SendOutcome, message_of, send
from app.services.webhook_worker import MAX_ATTEMPTS, retry_delay

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 200


@dataclass
class EmailStats:
    made: int = 0
    attempts: int = 0
    sent: int = 0


def message_id_of(outbox_id: int, user_id: uuid.UUID, sender: str) -> str:
    """One Message-ID per outbox row and recipient: every retry of the e-mail carries it."""
    domain = sender.rpartition("@")[2] or "wecare.invalid"
    return f"<wecare.{outbox_id}.{user_id.hex}@{domain}>"


async def fan_out(session: AsyncSession, settings: Settings, *, limit: int = FAN_OUT_BATCH) -> int:
    """Turn the e-mail outbox rows not taken yet into e-mails; how many e-mails it made."""
    messages = await repo.undispatched(session, channel=email_events.EMAIL_CHANNEL, limit=limit)
    now = datetime.now(UTC)
    made = 0
    for message in messages:
        message.dispatched_at = now
        if settings.smtp_configured:
            made += await _emails_of(session, settings, message, now)
    if messages and not settings.smtp_configured:
        log.info("SMTP is not configured: %d e-mail notices dropped", len(messages))
    await session.flush()
    return made


async def _emails_of(
    session: AsyncSession, settings: Settings, message: OutboxMessage, now: datetime
) -> int:
    facts = await repo.facts_of(
        session, entity_type=message.entity_type, entity_id=message.entity_id
    )
    if facts is None:
        return 0
    assert settings.smtp_sender is not None  # the settings' own rule
    occurred = message.occurred_at
    occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
    made = 0
    for kind in NOTICES_OF_ACTION.get(message.kind, ()):
        to_officers = RECIPIENTS[kind] == OFFICERS
        if not to_officers and facts.organisation_id is None:
            continue
        for recipient in await repo.recipients(
            session,
            organisation_id=None if to_officers else facts.organisation_id,
            kind=kind,
            may_opt_out=kind not in LEGALLY_REQUIRED,
        ):
            language = recipient.language
            text = email_templates.render(
                kind,
                language,
                name=recipient.display_name,
                title=facts.title,
                organisation=facts.organisation_name or "-",
                application_id=str(facts.application_id),
                amount=email_templates.money(facts.amount, language),
                verified=email_templates.money(facts.verified, language),
                outcome=email_templates.outcome(facts.outcome, language),
                day=email_templates.day(clock.day_of(occurred), language),
            )
            session.add(
                EmailDelivery(
                    id=uuid.uuid4(),
                    outbox_message_id=message.id,
                    user_id=recipient.id,
                    kind=kind,
                    recipient=recipient.email,
                    language=language,
                    message_id=message_id_of(message.id, recipient.id, settings.smtp_sender),
                    subject=text.subject,
                    body=text.body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            made += 1
    return made


@dataclass(frozen=True)
class ClaimedEmail:
    delivery_id: uuid.UUID
    attempts: int
    lease_token: str
    recipient: str
    subject: str
    body: str
    message_id: str
    language: str
    kind: str
    created_at: datetime


async def claim(session: AsyncSession, settings: Settings, *, limit: int) -> list[ClaimedEmail]:
    """Lease the due pending e-mails."""
    now = datetime.now(UTC)
    lease_until = now + timedelta(seconds=settings.webhook_lease_seconds)
    claimed: list[ClaimedEmail] = []
    for delivery in await repo.claim_due(session, now=now, limit=limit):
        token = random_tokens.token_hex(16)
        delivery.lease_token, delivery.lease_expires_at = token, lease_until
        claimed.append(
            ClaimedEmail(
                delivery.id,
                delivery.attempts,
                token,
                delivery.recipient,
                delivery.subject,
                delivery.body,
                delivery.message_id,
                delivery.language,
                delivery.kind,
                delivery.created_at,
            )
        )
    await session.flush()
    return claimed


async def record_outcome(
    session: AsyncSession, claimed: ClaimedEmail, outcome: SendOutcome
) -> None:
    """Sent, or rescheduled with backoff, or failed once the retries are spent; nothing if
    the lease was lost (another worker took the e-mail after this one's lease expired)."""
    now = datetime.now(UTC)
    attempts = claimed.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "last_error": outcome.error}
    if outcome.sent:
        values |= {"status": "sent", "sent_at": now}
    elif attempts >= MAX_ATTEMPTS:
        values |= {"status": "failed"}
    else:
        values |= {"next_attempt_at": now + retry_delay(attempts)}
    await repo.finish(
        session, delivery_id=claimed.delivery_id, lease_token=claimed.lease_token, values=values
    )


async def send_claimed(claimed: ClaimedEmail, settings: Settings) -> SendOutcome:
    assert settings.smtp_sender is not None
    message = message_of(
        sender=settings.smtp_sender,
        recipient=claimed.recipient,
        subject=claimed.subject,
        body=claimed.body,
        message_id=claimed.message_id,
        language=claimed.language,
        kind=claimed.kind,
        created_at=claimed.created_at,
    )
    return await send(message, settings)


async def run_once(database: Database, settings: Settings, stats: EmailStats | None = None) -> int:
    """One round: fan out, claim, send (concurrently, up to ``webhook_concurrency``),
    record. How many sends it attempted."""
    stats = stats or EmailStats()
    async with database.session(write=True) as session:
        stats.made += await fan_out(session, settings)
    if not settings.smtp_configured:
        return 0
    async with database.session(write=True) as session:
        claimed = await claim(session, settings, limit=settings.webhook_concurrency)
    if not claimed:
        return 0
    outcomes = await asyncio.gather(*(send_claimed(item, settings) for item in claimed))
    async with database.session(write=True) as session:
        for item, outcome in zip(claimed, outcomes, strict=True):
            await record_outcome(session, item, outcome)
    stats.attempts += len(outcomes)
    sent = sum(outcome.sent for outcome in outcomes)
    stats.sent += sent
    return len(outcomes)
