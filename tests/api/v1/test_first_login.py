"""The first administrator's one-time password: the login it gives allows only choosing a
new password, which every user can also do of their own accord."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ROLE_SCOPES, Role
from app.core.config import Settings
from app.core.security import verify_secret
from app.models.audit import AuditEvent
from app.models.auth import LoginFailure, UserAccount
from app.services.users import create_first_administrator
from tests.actors import PASSWORD, client_actor, user_actor
from tests.api.routes import CLIENT_CREDENTIALS, PUBLIC, ROUTES, reads_bearer_token

LOGIN = "/api/v1/auth/login"
PASSWORD_CHANGE = "/api/v1/auth/password"
NEW_PASSWORD = "a passphrase of my own choosing"
FIRST_EMAIL = "first.admin@example.org"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def first_login(
    session: AsyncSession, client: httpx.AsyncClient
) -> tuple[str, dict[str, Any]]:
    """The first administrator's one-time password and the tokens its login gives."""
    first = await create_first_administrator(session, email=FIRST_EMAIL)
    assert first is not None
    response = await client.post(LOGIN, json={"email": FIRST_EMAIL, "password": first.password})
    assert response.status_code == 200, response.text
    return first.password, response.json()


async def test_the_first_administrator_exists_once_with_a_hashed_one_time_password(
    session: AsyncSession,
) -> None:
    first = await create_first_administrator(session, email=FIRST_EMAIL)
    assert first is not None
    user = await session.get(UserAccount, first.user.id)
    assert user is not None
    assert (user.role, user.active, user.must_change_password) == (Role.ADMINISTRATOR, True, True)
    assert len(first.password) >= 40  # 256 random bits
    assert first.password not in user.password_hash
    assert verify_secret(first.password, user.password_hash)
    # Any account at all, and there is no second one.
    assert await create_first_administrator(session, email="other@example.org") is None
    assert await session.scalar(select(func.count()).select_from(UserAccount)) == 1


async def test_no_first_administrator_where_an_account_exists(
    session: AsyncSession, settings: Settings
) -> None:
    await user_actor(session, settings, Role.APPLICANT)
    assert await create_first_administrator(session, email=FIRST_EMAIL) is None


async def test_the_one_time_login_allows_only_the_password_change(
    app: FastAPI, session: AsyncSession, client: httpx.AsyncClient
) -> None:
    reading = reads_bearer_token(app)
    # Every route that needs a caller reads the token (the OAuth endpoints authenticate
    # the client itself; login and refresh make tokens).
    needing = {
        route for route, rule in ROUTES.items() if rule.callers not in (PUBLIC, CLIENT_CREDENTIALS)
    }
    assert needing - reading == set()
    _, tokens = await first_login(session, client)
    assert tokens["password_change_required"] is True
    assert tokens["scope"] == "password:change"
    headers = bearer(tokens["access_token"])
    wrong: list[str] = []
    for method, template in sorted(ROUTES):
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
        kwargs: dict[str, object] = {"headers": headers}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = {}
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        body = response.json() if "json" in response.headers.get("content-type", "") else {}
        refused = response.status_code == 403 and body.get("rule") == "password_change_required"
        if (method, template) == ("POST", PASSWORD_CHANGE):
            ok = response.status_code == 422  # the token passes; the empty body does not
        elif (method, template) not in reading:
            ok = not refused  # public data, probes, discovery: the token is never looked at
        else:
            ok = refused and body.get("password_change_endpoint") == PASSWORD_CHANGE
            ok = ok and response.headers["content-type"] == "application/problem+json"
        if not ok:
            wrong.append(f"{method} {template}: {response.status_code} {body.get('rule')}")
    assert wrong == [], "\n".join(wrong)


async def test_changing_the_one_time_password_opens_the_account(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    one_time, tokens = await first_login(session, client)
    change = {"current_password": one_time, "new_password": NEW_PASSWORD}
    response = await client.post(
        PASSWORD_CHANGE, json=change, headers=bearer(tokens["access_token"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    opened = response.json()
    assert opened["password_change_required"] is False
    assert set(opened["scope"].split()) == set(ROLE_SCOPES[Role.ADMINISTRATOR])
    me = await client.get("/api/v1/users/me", headers=bearer(opened["access_token"]))
    assert (me.status_code, me.json()["email"]) == (200, FIRST_EMAIL)
    # The one-time session is over: its access and refresh tokens, and the password.
    old = await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert old.status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    again = await client.post(LOGIN, json={"email": FIRST_EMAIL, "password": one_time})
    assert again.status_code == 401
    now = await client.post(LOGIN, json={"email": FIRST_EMAIL, "password": NEW_PASSWORD})
    assert (now.status_code, now.json()["password_change_required"]) == (200, False)
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "user.password_change")
    )
    assert event is not None
    assert event.before is not None
    assert event.after is not None
    assert '"must_change_password":true' in event.before.replace(" ", "")
    assert '"must_change_password":false' in event.after.replace(" ", "")
    assert NEW_PASSWORD not in event.after
    assert one_time not in event.before


async def test_an_account_an_administrator_creates_starts_with_a_one_time_password(
    client: httpx.AsyncClient, admin: Any
) -> None:
    """The administrator chose the password, so it is the account's one-time password: the
    first login allows only the change, as the first administrator's does."""
    chosen = "the administrator knows this one"
    created = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "email": "new.officer@example.org",
            "display_name": "New officer",
            "password": chosen,
            "role": "officer",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["password_change_required"] is True
    login = await client.post(LOGIN, json={"email": "new.officer@example.org", "password": chosen})
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert (tokens["password_change_required"], tokens["scope"]) == (True, "password:change")
    refused = await client.get("/api/v1/calls", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 403
    change = {"current_password": chosen, "new_password": NEW_PASSWORD}
    opened = await client.post(PASSWORD_CHANGE, json=change, headers=bearer(tokens["access_token"]))
    assert opened.status_code == 200, opened.text
    assert set(opened.json()["scope"].split()) == set(ROLE_SCOPES[Role.OFFICER])
    account = await client.get(f"/api/v1/users/{created.json()['id']}", headers=admin.headers)
    assert account.json()["password_change_required"] is False


@pytest.mark.parametrize(
    ("change", "status", "rule"),
    [
        (
            {"current_password": "not it at all", "new_password": NEW_PASSWORD},
            403,
            "wrong_password",
        ),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, 422, "invalid_input"),
        ({"current_password": PASSWORD, "new_password": "too short"}, 422, "validation_error"),
        ({"current_password": PASSWORD}, 422, "validation_error"),
    ],
    ids=["wrong-current", "same", "short", "missing"],
)
async def test_a_refused_change_changes_nothing(
    session: AsyncSession,
    settings: Settings,
    client: httpx.AsyncClient,
    change: dict[str, str],
    status: int,
    rule: str,
) -> None:
    officer = await user_actor(session, settings, Role.OFFICER)
    user = await session.get(UserAccount, officer.id)
    assert user is not None
    hashed = user.password_hash
    response = await client.post(PASSWORD_CHANGE, json=change, headers=officer.headers)
    assert (response.status_code, response.json()["rule"]) == (status, rule)
    assert response.headers["content-type"] == "application/problem+json"
    await session.refresh(user)
    assert user.password_hash == hashed
    assert (await client.get("/api/v1/users/me", headers=officer.headers)).status_code == 200
    # A wrong current password is a failed login of the account: counted, then throttled.
    failures = await session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.email == user.email)
    )
    assert failures == (1 if rule == "wrong_password" else 0)


async def test_guessing_the_current_password_is_throttled_as_logins_are(
    session: AsyncSession, settings: Settings, client: httpx.AsyncClient
) -> None:
    officer = await user_actor(session, settings, Role.OFFICER)
    guess = {"current_password": "a guess", "new_password": NEW_PASSWORD}
    statuses = [
        (await client.post(PASSWORD_CHANGE, json=guess, headers=officer.headers)).status_code
        for _ in range(settings.login_max_failures + 1)
    ]
    assert statuses == [403] * settings.login_max_failures + [429]
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    throttled = await client.post(PASSWORD_CHANGE, json=right, headers=officer.headers)
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers


async def test_any_user_changes_their_password_and_every_session_ends(
    session: AsyncSession, settings: Settings, client: httpx.AsyncClient
) -> None:
    officer = await user_actor(session, settings, Role.OFFICER)
    user = await session.get(UserAccount, officer.id)
    assert user is not None
    other = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    this = await client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = await client.post(
        PASSWORD_CHANGE, json=change, headers=bearer(this.json()["access_token"])
    )
    assert response.status_code == 200, response.text
    for ended in (other, this):
        me = await client.get("/api/v1/users/me", headers=bearer(ended.json()["access_token"]))
        assert me.status_code == 401
    new = await client.get("/api/v1/users/me", headers=bearer(response.json()["access_token"]))
    assert new.status_code == 200


async def test_clients_and_anonymous_callers_have_no_password_to_change(
    session: AsyncSession, settings: Settings, client: httpx.AsyncClient
) -> None:
    partner = await client_actor(session, settings, scopes=["organisations:read"])
    change = {"current_password": "x" * 12, "new_password": NEW_PASSWORD}
    as_client = await client.post(PASSWORD_CHANGE, json=change, headers=partner.headers)
    assert (as_client.status_code, as_client.json()["rule"]) == (403, "forbidden")
    anonymous = await client.post(PASSWORD_CHANGE, json=change)
    assert anonymous.status_code == 401
