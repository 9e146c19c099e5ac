"""Webhook subscriptions: a partner client (scope webhooks:write) or an administrator
registers an endpoint; events are signed per Standard Webhooks and sent by `wecare worker`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import SessionDep, SettingsDep, require
from app.api.etag import change, read_with_etag, remove, require_if_match, with_etag
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
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
from app.services import webhooks as service

router = APIRouter(prefix="/webhooks/subscriptions", tags=["webhooks"])

SubscriptionId = Annotated[uuid.UUID, Path(description="The subscription's id.")]
Owner = Annotated[Principal, require(Scope.WEBHOOKS_WRITE)]
CHANGE_ERRORS = problem_responses(401, 403, 404, 412, 422, 428)
subscription_query = QueryModel(WebhookSubscriptionQuery)
attempt_query = QueryModel(WebhookAttemptQuery)


# Not idempotency.create: a replay would have to store the secret, shown once.
@router.post(
    "",
    status_code=201,
    summary="Subscribe to events",
    responses=problem_responses(401, 403, 422),
)
async def create_subscription(
    body: WebhookSubscriptionCreate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Owner,
    response: Response,
) -> WebhookSubscriptionCreated:
    """Register an endpoint for the event types given (only those the caller may read; 403
    webhook_event_not_visible otherwise); the signing secret is in this answer only."""
    created = await service.create_subscription(session, principal, settings=settings, data=body)
    response.headers["Location"] = f"/api/v1/webhooks/subscriptions/{created.id}"
    with_etag(response, WebhookSubscriptionRead.model_validate(created.model_dump()))
    return created


@router.get(
    "",
    summary="List webhook subscriptions",
    responses=problem_responses(401, 403, 422),
    openapi_extra=subscription_query.openapi(),
)
async def list_subscriptions(
    session: SessionDep,
    principal: Owner,
    query: Annotated[WebhookSubscriptionQuery, Depends(subscription_query)],
) -> Page[WebhookSubscriptionRead]:
    """A client's own subscriptions; every subscription to an administrator."""
    return await service.list_subscriptions(session, principal, query)


@router.get(
    "/{subscription_id}",
    summary="Read a webhook subscription",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_subscription(
    subscription_id: SubscriptionId, session: SessionDep, principal: Owner, response: Response
) -> WebhookSubscriptionRead:
    """Return a subscription (another client's is 404), never its secret."""
    return await read_with_etag(
        response, service.get_subscription(session, principal, subscription_id)
    )


async def _change(
    apply: Callable[[Any], Awaitable[object]],
    subscription_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Principal,
) -> WebhookSubscriptionRead:
    return await change(
        request,
        response,
        load=service.load_subscription(session, principal, subscription_id),
        read=partial(service.read_subscription, session),
        apply=apply,
    )


@router.patch("/{subscription_id}", summary="Change a subscription", responses=CHANGE_ERRORS)
async def update_subscription(
    subscription_id: SubscriptionId,
    body: WebhookSubscriptionUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: Owner,
) -> WebhookSubscriptionRead:
    """Change the URL, event types or description; `status` active re-enables a disabled
    subscription (If-Match required)."""
    apply = partial(
        service.update_subscription, session, data=body, principal=principal, settings=settings
    )
    return await _change(apply, subscription_id, request, response, session, principal)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Delete a subscription",
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
async def delete_subscription(
    subscription_id: SubscriptionId, request: Request, session: SessionDep, principal: Owner
) -> Response:
    """Delete a subscription, its undelivered events and its log (If-Match required)."""
    return await remove(
        request,
        load=service.load_subscription(session, principal, subscription_id),
        read=partial(service.read_subscription, session),
        apply=partial(service.delete_subscription, session),
    )


@router.post(
    "/{subscription_id}/rotate-secret",
    summary="Rotate a subscription's signing secret",
    responses=CHANGE_ERRORS,
)
async def rotate_secret(
    subscription_id: SubscriptionId,
    body: WebhookSecretRotate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: Owner,
) -> WebhookSecretRotated:
    """A new signing secret (in this answer only); the previous one keeps signing, as a
    second v1 signature, for `overlap_seconds` (If-Match required)."""
    subscription = await service.load_subscription(session, principal, subscription_id)
    require_if_match(request, await service.read_subscription(session, subscription))
    rotated = await service.rotate_secret(session, subscription, data=body, settings=settings)
    with_etag(response, await service.read_subscription(session, subscription))
    return rotated


@router.post(
    "/{subscription_id}/replay",
    summary="Replay a subscription's events",
    responses=CHANGE_ERRORS,
)
async def replay(
    subscription_id: SubscriptionId,
    body: WebhookReplay,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Owner,
) -> WebhookSubscriptionRead:
    """Send again, in order, every event of the subscription from `from_sequence` (If-Match
    required)."""
    apply = partial(service.replay, session, data=body)
    return await _change(apply, subscription_id, request, response, session, principal)


@router.get(
    "/{subscription_id}/attempts",
    summary="Read a subscription's delivery log",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=attempt_query.openapi(),
)
async def list_attempts(
    subscription_id: SubscriptionId,
    session: SessionDep,
    principal: Owner,
    query: Annotated[WebhookAttemptQuery, Depends(attempt_query)],
) -> Page[WebhookAttemptRead]:
    """Every delivery attempt, oldest first: the event's number, the status code, the
    latency and the first KiB of the answer."""
    return await service.list_attempts(session, principal, subscription_id, query)
