"""Which audit events become webhook events, and who may see each.

``audit.record`` asks :func:`outbox_row` for every event it appends: a dictionary look-up,
and for the few actions of interest one outbox row written with the event (on PostgreSQL by
the append's own statement). The row carries the event's chain sequence number; the worker
fans it out.

Visibility (the same as the API's, read conservatively; README "Webhooks"):

==========================  =========================================================
event type                  who may subscribe
==========================  =========================================================
call.published, .closed     anyone with webhooks:write (calls are public)
ranking.published           anyone with webhooks:write (published rankings are public)
allocation.granted          administrators; clients holding allocations:read (active
allocation.accepted         allocations are public)
allocation.revoked          administrators only (a revoked allocation is not public)
application.submitted       administrators only (no client may read applications)
application.decided         administrators only
payment.made                administrators only (no client may read payments)
pledge.changed              administrators; a client holding pledges:read, for its own
                            foundation's pledges only
webhook.subscription_       the disabled subscription's owner only (all its
disabled                    subscriptions that asked for it)
==========================  =========================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.auth import Role, Scope

WEBHOOK_CHANNEL = "webhook"

# Audit action -> webhook event type.
EVENT_TYPE_OF_ACTION: dict[str, str] = {
    "call.publish": "call.published",
    "call.close": "call.closed",
    "ranking.publish": "ranking.published",
    "application.submit": "application.submitted",
    "application.approve": "application.decided",
    "application.reject": "application.decided",
    "application.admit-preliminary": "application.decided",
    "application.reject-preliminary": "application.decided",
    "allocation.grant": "allocation.granted",
    "allocation.revoke": "allocation.revoked",
    "allocation.accept": "allocation.accepted",
    "payment.create": "payment.made",
    "pledge.create": "pledge.changed",
    "pledge.update": "pledge.changed",
    "pledge.withdraw": "pledge.changed",
    "webhook_subscription.disable": "webhook.subscription_disabled",
}
EVENT_TYPES: tuple[str, ...] = tuple(sorted(set(EVENT_TYPE_OF_ACTION.values())))

PUBLIC = "public"
ADMIN = "administrators"
OWN_ORGANISATION = "own_organisation"
OWN_SUBSCRIPTION = "own_subscription"

# event type -> (who, the client scope it needs besides webhooks:write)
VISIBILITY: dict[str, tuple[str, str | None]] = {
    "call.published": (PUBLIC, None),
    "call.closed": (PUBLIC, None),
    "ranking.published": (PUBLIC, None),
    "allocation.granted": (PUBLIC, Scope.ALLOCATIONS_READ),
    "allocation.accepted": (PUBLIC, Scope.ALLOCATIONS_READ),
    "allocation.revoked": (ADMIN, None),
    "application.submitted": (ADMIN, None),
    "application.decided": (ADMIN, None),
    "payment.made": (ADMIN, None),
    "pledge.changed": (OWN_ORGANISATION, Scope.PLEDGES_READ),
    "webhook.subscription_disabled": (OWN_SUBSCRIPTION, None),
}


def audience_of(action: str, entity_id: str, after: dict[str, Any] | None) -> str | None:
    """What narrows an event's readers beyond its type: a pledge's foundation, a disabled
    subscription's owner (a user's or a client's id)."""
    if action.startswith("pledge.") and after is not None:
        organisation = after.get("organisation_id")
        return str(organisation) if organisation is not None else None
    if action == "webhook_subscription.disable" and after is not None:
        owner = after.get("owner_user_id") or after.get("owner_client_id")
        return str(owner) if owner is not None else None
    return None


def outbox_row(
    *,
    action: str,
    entity_type: str,
    entity_id: str,
    occurred_at: datetime,
    after: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The event's outbox row but its seq, if it is one of interest (a dictionary look-up
    for every other action): on PostgreSQL inserted by the audit append's own statement
    (app.repositories.audit.queued_outbox), elsewhere by app.services.audit.append_pending."""
    kind = EVENT_TYPE_OF_ACTION.get(action)
    if kind is None:
        return None
    return {
        "channel": WEBHOOK_CHANNEL,
        "kind": kind,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "audience": audience_of(action, entity_id, after),
        "occurred_at": occurred_at,
    }


def may_see(
    event_type: str,
    *,
    audience: str | None,
    role: Role | None,
    client_scopes: frozenset[str] | None,
    client_organisation: str | None,
    owner_id: str,
) -> bool:
    """Whether a subscription's owner may read an event: an administrator (role), or a
    partner client (its scopes and organisation)."""
    who, scope = VISIBILITY[event_type]
    if who == OWN_SUBSCRIPTION:
        return audience == owner_id
    if role is Role.ADMINISTRATOR:
        return True
    if client_scopes is None or (scope is not None and scope not in client_scopes):
        return False
    if who == PUBLIC:
        return True
    if who == OWN_ORGANISATION:
        return audience is not None and audience == client_organisation
    return False


def subscribable(
    event_type: str, *, role: Role | None, client_scopes: frozenset[str] | None
) -> bool:
    """Whether an owner may subscribe to an event type at all (some events of it may still
    be another foundation's, and are never sent)."""
    who, scope = VISIBILITY[event_type]
    if who == OWN_SUBSCRIPTION or role is Role.ADMINISTRATOR:
        return True
    if client_scopes is None or (scope is not None and scope not in client_scopes):
        return False
    return who in (PUBLIC, OWN_ORGANISATION)
