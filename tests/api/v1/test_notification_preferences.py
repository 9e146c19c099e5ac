"""An account's e-mail language and notification preferences through the API: each user
sets their own, an administrator sets anyone's language, legally required notices cannot
be turned off, and every change writes one audit event."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.notices import LEGALLY_REQUIRED, NoticeKind
from app.models import AuditEvent, NotificationOptOut
from tests.actors import Actor, user_actor
from tests.api.v1.flows import Api

PREFERENCES = "/api/v1/users/me/notification-preferences"


async def events(session: AsyncSession, action: str) -> list[AuditEvent]:
    found = await session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    )
    return list(found)


async def test_an_account_is_italian_by_default_and_sets_its_own_language(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await user_actor(session, settings, Role.APPLICANT)
    me = (await client.get("/api/v1/users/me", headers=user.headers)).json()
    assert me["language"] == "it"
    changed = await client.patch("/api/v1/users/me", headers=user.headers, json={"language": "en"})
    assert changed.status_code == 200
    assert changed.json()["language"] == "en"
    assert (await client.get(PREFERENCES, headers=user.headers)).json()["language"] == "en"
    (event,) = await events(session, "user.set_language")
    assert (event.entity_id, event.actor_id) == (str(user.id), str(user.id))
    assert '"language":"it"' in (event.before or "")
    assert '"language":"en"' in (event.after or "")


async def test_an_unknown_language_is_422_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await user_actor(session, settings, Role.OFFICER)
    refused = await client.patch("/api/v1/users/me", headers=user.headers, json={"language": "de"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/users/me", headers=user.headers)).json()["language"] == "it"
    assert await events(session, "user.set_language") == []


async def test_an_administrator_sets_an_accounts_language(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    user = await user_actor(session, settings, Role.APPLICANT)
    changed = await Api(client).patch(f"/api/v1/users/{user.id}", admin, {"language": "en"})
    assert changed["language"] == "en"
    (event,) = [e for e in await events(session, "user.update") if e.entity_id == str(user.id)]
    assert '"language":"en"' in (event.after or "")


async def test_preferences_list_every_kind_and_an_opt_out_holds(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await user_actor(session, settings, Role.APPLICANT)
    read = (await client.get(PREFERENCES, headers=user.headers)).json()
    assert [p["kind"] for p in read["preferences"]] == [str(k) for k in NoticeKind]
    assert all(p["enabled"] for p in read["preferences"])
    required = {p["kind"] for p in read["preferences"] if p["legally_required"]}
    assert required == {str(k) for k in LEGALLY_REQUIRED}

    body = {"opted_out": ["payment_made", "claim_checked"]}
    changed = await client.put(PREFERENCES, headers=user.headers, json=body)
    assert changed.status_code == 200
    off = {p["kind"] for p in changed.json()["preferences"] if not p["enabled"]}
    assert off == {"payment_made", "claim_checked"}
    stored = await session.scalars(
        select(NotificationOptOut.kind).where(NotificationOptOut.user_id == user.id)
    )
    assert sorted(stored) == ["claim_checked", "payment_made"]
    (event,) = await events(session, "notification_preferences.update")
    assert event.before == '{"opted_out":[]}'
    assert event.after == '{"opted_out":["claim_checked","payment_made"]}'

    # Replaced, not added to: an empty list turns every notice back on.
    await client.put(PREFERENCES, headers=user.headers, json={"opted_out": []})
    read = (await client.get(PREFERENCES, headers=user.headers)).json()
    assert all(p["enabled"] for p in read["preferences"])


async def test_a_legally_required_notice_cannot_be_turned_off(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await user_actor(session, settings, Role.APPLICANT)
    body = {"opted_out": ["payment_made", "grant_awarded", "application_rejected"]}
    refused = await client.put(PREFERENCES, headers=user.headers, json=body)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["rule"] == "invalid_input"
    assert problem["legally_required"] == ["application_rejected", "grant_awarded"]
    stored = await session.scalars(
        select(NotificationOptOut.kind).where(NotificationOptOut.user_id == user.id)
    )
    assert list(stored) == []  # nothing changed, not even the allowed kind
    assert await events(session, "notification_preferences.update") == []


async def test_an_unknown_kind_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await user_actor(session, settings, Role.OFFICER)
    refused = await client.put(PREFERENCES, headers=user.headers, json={"opted_out": ["spam"]})
    assert refused.status_code == 422
