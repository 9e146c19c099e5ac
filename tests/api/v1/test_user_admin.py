"""Administrators change accounts: name, role, state, organisations. A change holds from the
account's next request, deactivation ends its sessions, and nobody locks the region out."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.models import AuditEvent
from tests.actors import PASSWORD, Actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import Api


def path(actor: Actor) -> str:
    return f"/api/v1/users/{actor.id}"


async def test_deactivation_stops_tokens_and_sessions_at_once(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    api = Api(client)
    user = await user_actor(session, settings, Role.OFFICER, email="mario@example.org")
    login = await client.post(
        "/api/v1/auth/login", json={"email": "mario@example.org", "password": PASSWORD}
    )
    assert login.status_code == 200
    tokens = login.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 200

    changed = await api.patch(path(user), admin, {"active": False})
    assert changed["active"] is False
    assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    refused = await client.post(
        "/api/v1/auth/login", json={"email": "mario@example.org", "password": PASSWORD}
    )
    assert refused.status_code == 401

    # Reactivated: a new login works; the old session stays ended.
    await api.patch(path(user), admin, {"active": True})
    again = await client.post(
        "/api/v1/auth/login", json={"email": "mario@example.org", "password": PASSWORD}
    )
    assert again.status_code == 200
    stale = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert stale.status_code == 401


async def test_a_role_change_holds_from_the_next_request(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    api = Api(client)
    officer = await user_actor(session, settings, Role.OFFICER)
    assert (await client.get("/api/v1/partnerships", headers=officer.headers)).status_code == 200
    changed = await api.patch(path(officer), admin, {"role": "reviewer"})
    assert changed["role"] == "reviewer"
    # The token still claims the officer's scopes; the account's role no longer grants them.
    assert (await client.get("/api/v1/partnerships", headers=officer.headers)).status_code == 403


async def test_memberships_are_replaced(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    api = Api(client)
    first = await make_organisation(session, name="Coop Uno", tax_code=tax_code(601))
    second = await make_organisation(session, name="Coop Due", tax_code=tax_code(602))
    applicant = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[first.id])
    assert (
        await client.get(f"/api/v1/organisations/{first.id}", headers=applicant.headers)
    ).status_code == 200
    changed = await api.patch(path(applicant), admin, {"organisation_ids": [str(second.id)]})
    assert changed["organisation_ids"] == [str(second.id)]
    assert (
        await client.get(f"/api/v1/organisations/{first.id}", headers=applicant.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/organisations/{second.id}", headers=applicant.headers)
    ).status_code == 200
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "user.update").order_by(AuditEvent.seq)
    )
    assert event is not None
    assert str(first.id) in (event.before or "")
    assert str(second.id) in (event.after or "")
    assert "password_hash" not in (event.before or "") + (event.after or "")
    assert (event.actor_type, event.actor_id) == ("user", str(admin.id))


async def test_an_administrator_cannot_lock_themselves_out(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    api = Api(client)
    for change in ({"active": False}, {"role": "officer"}):
        body = await api.patch(path(admin), admin, change, expect=409)
        assert body["rule"] == "conflict"
    renamed = await api.patch(path(admin), admin, {"display_name": "Amministratrice"})
    assert renamed["display_name"] == "Amministratrice"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"organisation_ids": [str(uuid.UUID(int=7))]}, 404),
        ({"role": "superuser"}, 422),
        ({"active": "maybe"}, 422),
        ({"email": "new@example.org"}, 422),
        ({"password": "a brand new passphrase"}, 422),
        ({"display_name": ""}, 422),
    ],
)
async def test_bad_changes_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    change: dict[str, Any],
    status: int,
) -> None:
    api = Api(client)
    user = await user_actor(session, settings, Role.APPLICANT)
    before = await api.read(path(user), admin)
    await api.patch(path(user), admin, change, expect=status)
    assert await api.read(path(user), admin) == before


async def test_if_match_is_required_and_checked(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    user = await user_actor(session, settings, Role.APPLICANT)
    missing = await client.patch(path(user), json={"active": False}, headers=admin.headers)
    assert missing.status_code == 428
    stale = await client.patch(
        path(user), json={"active": False}, headers={**admin.headers, "If-Match": '"stale"'}
    )
    assert stale.status_code == 412
    other = await user_actor(session, settings, Role.APPLICANT)
    assert (
        await client.patch(path(user), json={"active": False}, headers=other.headers)
    ).status_code == 403


async def test_creating_a_user_is_idempotent(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> None:
    body = {
        "email": "lucia@example.org",
        "display_name": "Lucia",
        "password": "a long passphrase of 12+",
        "role": "reviewer",
    }
    headers = {**admin.headers, "Idempotency-Key": "new-reviewer-lucia"}
    first = await client.post("/api/v1/users", json=body, headers=headers)
    second = await client.post("/api/v1/users", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert first.headers["location"] == f"/api/v1/users/{first.json()['id']}"
    other = await client.post(
        "/api/v1/users", json={**body, "display_name": "Lucia B."}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["rule"] == "idempotency_key_reused"
