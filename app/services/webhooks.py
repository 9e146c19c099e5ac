"""Webhook subscriptions: a partner client (scope webhooks:write) or an administrator
registers an endpoint and the event types it wants; its secret is shown once.

A client sees and changes only its own subscriptions; an administrator all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.config import Settings
from app.core.context import SYSTEM
from app.core.errors import NotFound, WebhookEventNotVisible
from app.core.i18n import msg
from app.core.security import encrypt_webhook_secret, new_webhook_secret
from app.models.webhook import WebhookAttempt, WebhookSubscription
from app.repositories import webhooks as repo
from app.schemas.common import from_attributes
from app.schemas.page import Page
from app.schemas.webhook import (
    WebhookAttemptQuery,
    WebhookAttemptRead,
    WebhookReplay,
    WebhookSecretRotate,
    WebhookSecretRotated,
    WebhookSubscriptionCreate,
    WebhookSubscriptionCreated,
    WebhookSubscriptionQuery,
    WebhookSubscriptionRead,
    WebhookSubscriptionUpdate,
)
from app.services import audit, webhook_events
from app.services.paging import SortKey
from app.services.webhook_sending import check_url

SUBSCRIPTION_ORDER = SortKey[WebhookSubscription](WebhookSubscription.id)
ATTEMPT_ORDER = SortKey[WebhookAttempt](WebhookAttempt.attempted_at, WebhookAttempt.id)
_SECRETS = {"secret_encrypted", "previous_secret_encrypted"}


def _snapshot(subscription: WebhookSubscription) -> dict[str, Any]:
    """The subscription as the trail records it: never its secrets, even encrypted."""
    return {k: v for k, v in audit.snapshot(subscription).items() if k not in _SECRETS}


def _owns(principal: Principal, subscription: WebhookSubscription) -> bool:
    if principal.kind == "client":
        return subscription.owner_client_id == principal.id
    return principal.kind == "user"  # the route lets only administrators' tokens through


def _check_event_types(principal: Principal, event_types: Sequence[str]) -> None:
    client_scopes = principal.scopes if principal.kind == "client" else None
    hidden = [
        kind
        for kind in event_types
        if not webhook_events.subscribable(kind, role=principal.role, client_scopes=client_scopes)
    ]
    if hidden:
        raise WebhookEventNotVisible(
            msg(
                "Your credentials may not read these events: {hidden}.",
                hidden=", ".join(sorted(hidden)),
            ),
            event_types=sorted(hidden),
        )


async def list_subscriptions(
    session: AsyncSession, principal: Principal, query: WebhookSubscriptionQuery
) -> Page[WebhookSubscriptionRead]:
    owner = principal.id if principal.kind == "client" else None
    rows = partial(repo.page_subscriptions, session, owner_client_id=owner)
    return await SUBSCRIPTION_ORDER.page_of(query, rows, WebhookSubscriptionRead.model_validate)


async def load_subscription(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID
) -> WebhookSubscription:
    """The subscription, or 404 (another client's too)."""
    found = await session.get(WebhookSubscription, subscription_id)
    if found is None or not _owns(principal, found):
        raise NotFound(
            msg("No webhook subscription {subscription_id}.", subscription_id=subscription_id)
        )
    return found


async def read_subscription(
    session: AsyncSession, subscription: WebhookSubscription
) -> WebhookSubscriptionRead:
    return WebhookSubscriptionRead.model_validate(subscription)


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID
) -> WebhookSubscriptionRead:
    return WebhookSubscriptionRead.model_validate(
        await load_subscription(session, principal, subscription_id)
    )


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    *,
    settings: Settings,
    data: WebhookSubscriptionCreate,
) -> WebhookSubscriptionCreated:
    """Register an endpoint; the answer holds its signing secret, the only time it is shown."""
    check_url(data.url, settings)
    event_types = sorted(set(data.event_types))
    _check_event_types(principal, event_types)
    secret = new_webhook_secret()
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        owner_user_id=principal.id if principal.kind == "user" else None,
        owner_client_id=principal.id if principal.kind == "client" else None,
        url=data.url,
        description=data.description,
        event_types=event_types,
        status="active",
        secret_encrypted=encrypt_webhook_secret(secret, settings.secret),
        last_sequence=0,
    )
    session.add(subscription)
    await session.flush()
    await audit.record(
        session,
        action="webhook_subscription.create",
        entity_type="webhook_subscription",
        entity_id=subscription.id,
        after=_snapshot(subscription),
    )
    return from_attributes(WebhookSubscriptionCreated, subscription, secret=secret)


async def update_subscription(
    session: AsyncSession,
    subscription: WebhookSubscription,
    *,
    data: WebhookSubscriptionUpdate,
    principal: Principal,
    settings: Settings,
) -> WebhookSubscription:
    """Change the URL, the event types, the description, or enable/disable."""
    before = _snapshot(subscription)
    now = datetime.now(UTC)
    if data.url is not None:
        check_url(data.url, settings)
        subscription.url = data.url
    if data.event_types is not None:
        _check_event_types(principal, data.event_types)
        subscription.event_types = sorted(set(data.event_types))
    if "description" in data.model_fields_set:
        subscription.description = data.description
    if data.status == "active" and subscription.status != "active":
        subscription.status, subscription.disabled_reason = "active", None
        subscription.disabled_at = None
        await repo.retry_pending_now(session, subscription_id=subscription.id, now=now)
    elif data.status == "disabled" and subscription.status != "disabled":
        subscription.status, subscription.disabled_reason = "disabled", "by its owner"
        subscription.disabled_at = now
    await session.flush()
    await audit.record(
        session,
        action="webhook_subscription.update",
        entity_type="webhook_subscription",
        entity_id=subscription.id,
        before=before,
        after=_snapshot(subscription),
    )
    return subscription


async def delete_subscription(session: AsyncSession, subscription: WebhookSubscription) -> None:
    """Remove the subscription, its pending events and its log."""
    before = _snapshot(subscription)
    await session.delete(subscription)
    await session.flush()
    await audit.record(
        session,
        action="webhook_subscription.delete",
        entity_type="webhook_subscription",
        entity_id=before["id"],
        before=before,
    )


async def rotate_secret(
    session: AsyncSession,
    subscription: WebhookSubscription,
    *,
    data: WebhookSecretRotate,
    settings: Settings,
) -> WebhookSecretRotated:
    """A new secret; the previous one keeps signing (a second signature) for the overlap."""
    before = _snapshot(subscription)
    now = datetime.now(UTC)
    secret = new_webhook_secret()
    if data.overlap_seconds > 0:
        subscription.previous_secret_encrypted = subscription.secret_encrypted
        subscription.previous_secret_expires_at = now + timedelta(seconds=data.overlap_seconds)
    else:
        subscription.previous_secret_encrypted = None
        subscription.previous_secret_expires_at = None
    subscription.secret_encrypted = encrypt_webhook_secret(secret, settings.secret)
    subscription.secret_rotated_at = now
    await session.flush()
    await audit.record(
        session,
        action="webhook_subscription.rotate_secret",
        entity_type="webhook_subscription",
        entity_id=subscription.id,
        before=before,
        after=_snapshot(subscription),
    )
    return from_attributes(WebhookSecretRotated, subscription, secret=secret)


async def replay(
    session: AsyncSession, subscription: WebhookSubscription, *, data: WebhookReplay
) -> WebhookSubscription:
    """Send again, in order, every event of the subscription from ``from_sequence``."""
    before = _snapshot(subscription)
    now = datetime.now(UTC)
    await repo.requeue_from(
        session, subscription_id=subscription.id, from_sequence=data.from_sequence, now=now
    )
    subscription.replayed_from, subscription.replayed_at = data.from_sequence, now
    await session.flush()
    await audit.record(
        session,
        action="webhook_subscription.replay",
        entity_type="webhook_subscription",
        entity_id=subscription.id,
        before=before,
        after=_snapshot(subscription),
    )
    return subscription


async def list_attempts(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    query: WebhookAttemptQuery,
) -> Page[WebhookAttemptRead]:
    """The delivery log, oldest attempt first."""
    await load_subscription(session, principal, subscription_id)
    rows = partial(
        repo.page_attempts, session, subscription_id=subscription_id, sequence=query.sequence
    )
    return await ATTEMPT_ORDER.page_of(query, rows, WebhookAttemptRead.model_validate)


async def disable(session: AsyncSession, subscription: WebhookSubscription, *, reason: str) -> None:
    """The worker's disabling: the status says why, and the audit event becomes the
    ``webhook.subscription_disabled`` event its owner's subscriptions receive."""
    before = _snapshot(subscription)
    subscription.status, subscription.disabled_reason = "disabled", reason[:200]
    subscription.disabled_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        action="webhook_subscription.disable",
        entity_type="webhook_subscription",
        entity_id=subscription.id,
        before=before,
        after=_snapshot(subscription),
        reason=reason[:2000],
        actor=SYSTEM,
    )
