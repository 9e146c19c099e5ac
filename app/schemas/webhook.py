"""Webhook subscriptions, their secrets, replays and delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import Input, Output
from app.schemas.page import PageQuery

EventType = Literal[
    "allocation.accepted",
    "allocation.granted",
    "allocation.revoked",
    "application.decided",
    "application.submitted",
    "call.closed",
    "call.published",
    "payment.made",
    "pledge.changed",
    "ranking.published",
    "webhook.subscription_disabled",
]
SubscriptionStatus = Literal["active", "disabled"]

URL_PATTERN = r"^https?://[^\s]+$"
_URL = Field(
    min_length=8,
    max_length=2000,
    pattern=URL_PATTERN,
    description="Where events are POSTed: https (http only to loopback outside production); "
    "the host must resolve to public addresses.",
)


class WebhookSubscriptionCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.fondazione.example/wecare",
                    "event_types": ["call.published", "allocation.granted"],
                    "description": "Grants feed",
                }
            ]
        },
    )
    url: str = _URL
    event_types: list[EventType] = Field(min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)


class WebhookSubscriptionUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"status": "active"}]},
    )
    url: str | None = Field(default=None, min_length=8, max_length=2000, pattern=URL_PATTERN)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)
    status: SubscriptionStatus | None = Field(
        default=None,
        description="active re-enables a disabled subscription: its pending events are "
        "sent again from the oldest; disabled stops sending (events are still numbered and "
        "kept).",
    )


class WebhookSecretRotate(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 86400}]}
    )
    overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="How long the previous secret keeps signing too (a second v1 signature).",
    )


class WebhookReplay(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"from_sequence": 1}]}
    )
    from_sequence: int = Field(
        ge=1,
        le=2**53 - 1,
        description="Send again, in order, every event of this subscription from this number.",
    )


class WebhookSubscriptionRead(Output):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    status: SubscriptionStatus
    disabled_reason: str | None
    disabled_at: datetime | None
    owner_user_id: uuid.UUID | None
    owner_client_id: uuid.UUID | None
    last_sequence: int = Field(description="The number of this subscription's last event.")
    previous_secret_expires_at: datetime | None
    secret_rotated_at: datetime | None
    replayed_from: int | None
    replayed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookSubscriptionCreated(WebhookSubscriptionRead):
    secret: str = Field(description="The signing secret (whsec_...): shown in this answer only.")


class WebhookSecretRotated(WebhookSubscriptionRead):
    secret: str = Field(description="The new signing secret: shown in this answer only.")


class WebhookAttemptRead(Output):
    id: uuid.UUID
    delivery_id: uuid.UUID
    sequence: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None = Field(description="The first KiB of the answer.")


class WebhookSubscriptionQuery(PageQuery):
    """The subscription list's query string."""


class _AttemptFilters(BaseModel):
    sequence: int | None = Field(
        default=None, ge=1, le=2**53 - 1, description="Only the attempts of this event."
    )


class WebhookAttemptQuery(PageQuery, _AttemptFilters):
    """The delivery log's query string."""
