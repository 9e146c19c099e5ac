"""The audit trail is never erased: it names accounts by id or by the SHA-256 fingerprint of
their e-mail, never by the address itself (issue 12)."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.models.audit import AuditEvent
from tests.actors import PASSWORD, user_actor


async def test_no_audit_event_holds_an_e_mail_address(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = await user_actor(session, settings, Role.ADMINISTRATOR, email="admin@example.org")
    created = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "email": "Maria.Rossi@example.org",
            "display_name": "Maria Rossi",
            "password": PASSWORD,
            "role": "officer",
        },
    )
    assert created.status_code == 201, created.text
    user_path = f"/api/v1/users/{created.json()['id']}"
    etag = (await client.get(user_path, headers=admin.headers)).headers["etag"]
    changed = await client.patch(
        user_path,
        headers={**admin.headers, "If-Match": etag},
        json={"display_name": "Maria Rossi (DG)"},
    )
    assert changed.status_code == 200, changed.text
    login = "/api/v1/auth/login"
    wrong = await client.post(login, json={"email": "maria.rossi@example.org", "password": "no"})
    assert wrong.status_code == 401
    unknown = await client.post(login, json={"email": "nobody@example.org", "password": "no"})
    assert unknown.status_code == 401
    tokens = await client.post(
        login, json={"email": "maria.rossi@example.org", "password": PASSWORD}
    )
    assert tokens.status_code == 200
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
    # The administrator's password is a one-time one: the account replaces it first.
    changed_password = await client.post(
        "/api/v1/auth/password",
        headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
        json={"current_password": PASSWORD, "new_password": "Maria's own passphrase"},
    )
    assert changed_password.status_code == 200, changed_password.text
    bearer = {"Authorization": f"Bearer {changed_password.json()['access_token']}"}
    assert (await client.post("/api/v1/auth/logout", headers=bearer)).status_code == 204

    events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    actions = {event.action for event in events}
    assert {
        "user.create",
        "user.update",
        "auth.login_failed",
        "auth.login",
        "user.password_change",
    } <= actions
    for event in events:
        fields = (event.entity_id, event.actor_id, event.before, event.after, event.reason)
        assert not any("@" in (field or "") for field in fields), (event.action, fields)
