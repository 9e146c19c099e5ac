"""One rule for every route anyone may call (README "Authentication and authorisation"):
without Authorization the caller is anonymous; a presented token that is not valid is 401
with ``WWW-Authenticate: Bearer ... error="invalid_token"`` (RFC 6750 3.1), never ignored.

The public routes are read from the route table (tests/api/routes.py), so a new one is
covered as soon as it is listed; a public route that reads no bearer token at all says why
there (``no_bearer``), and must then answer a bad token exactly as it answers no token.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli import openapi_document
from app.core.auth import FIRST_PARTY_CLIENT_ID, ROLE_SCOPES, Role
from app.core.config import Settings
from app.core.security import (
    SigningKey,
    decrypt_signing_key,
    generate_signing_key,
    issue_access_token,
)
from app.services.keys import current_signing_key
from app.services.tokens import revoke_access_token
from tests.actors import user_actor
from tests.api.routes import ROUTES

PUBLIC_ROUTES = {
    key: route
    for key, route in sorted(ROUTES.items())
    if not isinstance(route.callers, str) and "anonymous" in route.callers
}
CHECKED = sorted(key for key, route in PUBLIC_ROUTES.items() if route.no_bearer is None)


def _path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)


async def _bad_tokens(app: FastAPI, session: AsyncSession, settings: Settings) -> dict[str, str]:
    """One token of each way to be invalid, for an officer who exists and is active."""
    officer = await user_actor(session, settings, Role.OFFICER)
    key = await current_signing_key(session, secret=settings.secret)
    now = datetime.now(UTC)
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)

    def signed(with_key: SigningKey, *, issued: datetime) -> str:
        token, _ = issue_access_token(
            with_key,
            issuer=settings.issuer,
            audience=settings.token_audience,
            subject=str(officer.id),
            client_id=FIRST_PARTY_CLIENT_ID,
            scopes=ROLE_SCOPES[Role.OFFICER],
            ttl=ttl,
            now=issued,
        )
        return token

    generated = generate_signing_key(settings.secret)
    # The current key's kid, another key's signature: the kid alone must vouch for nothing.
    other = decrypt_signing_key(generated.kid, generated.encrypted_private_key, settings.secret)
    forged = SigningKey(key.kid, other.private_pem)
    revoked = await officer.fresh_token(session, settings)
    assert revoked is not None
    assert await revoke_access_token(
        session, settings, app.state.key_cache, revoked, client_id=FIRST_PARTY_CLIENT_ID
    )
    return {
        "malformed": "not-a-token",
        "expired": signed(key, issued=now - 2 * ttl - timedelta(minutes=1)),
        "wrongly-signed": signed(forged, issued=now),
        "revoked": revoked,
    }


async def _request(
    client: httpx.AsyncClient, method: str, path: str, token: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body: dict[str, object] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return await client.request(method, path, headers=headers, **body)  # type: ignore[arg-type]


def test_the_table_has_public_routes_of_both_kinds() -> None:
    assert len(CHECKED) >= 17
    assert {"/api/v1/programmes", "/api/v1/transparency/grants"} <= {p for _, p in CHECKED}
    assert ("POST", "/api/v1/auth/refresh") in set(PUBLIC_ROUTES) - set(CHECKED)


async def test_a_bad_token_is_401_on_every_public_route(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tokens = await _bad_tokens(app, session, settings)
    wrong: list[str] = []
    for (method, template), route in PUBLIC_ROUTES.items():
        path = _path(template)
        anonymous = await _request(client, method, path, None)
        if anonymous.status_code == 401 or anonymous.status_code >= 500:
            wrong.append(f"{method} {template} anonymous: {anonymous.status_code}")
        for kind, token in tokens.items():
            response = await _request(client, method, path, token)
            where = f"{method} {template} with a {kind} token"
            if route.no_bearer is not None:
                if response.status_code != anonymous.status_code:
                    wrong.append(f"{where}: {response.status_code}, not as anonymous")
                continue
            challenge = response.headers.get("www-authenticate", "")
            if (
                response.status_code != 401
                or response.headers["content-type"] != "application/problem+json"
                or not challenge.startswith("Bearer ")
                or 'error="invalid_token"' not in challenge
            ):
                wrong.append(f"{where}: {response.status_code} {challenge!r}")
    assert wrong == []


@pytest.mark.one_backend("postgresql")
async def test_a_valid_token_on_a_public_route_reads_as_anonymous_does(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Checking the token takes nothing away: the public answer is the same."""
    applicant = await user_actor(session, settings, Role.APPLICANT)
    for path in ("/api/v1/programmes", "/api/v1/transparency/grants", "/api/v1/districts"):
        anonymous = await client.get(path)
        with_token = await client.get(path, headers=applicant.headers)
        assert anonymous.status_code == with_token.status_code == 200, path
        assert anonymous.json() == with_token.json(), path


def test_the_document_says_which_public_operations_check_a_token() -> None:
    """Those that check one take either scheme or none, and document the 401; the others
    state that they take no token."""
    paths = json.loads(openapi_document())["paths"]
    for (method, template), route in PUBLIC_ROUTES.items():
        operation = paths.get(template, {}).get(method.lower())
        if operation is None:
            assert route.no_bearer is not None, template  # /docs, /redoc: not in the document
            continue
        where = f"{method} {template}"
        if route.no_bearer is None:
            assert operation["security"] == [{"oauth2": []}, {"bearer": []}, {}], where
            assert "401" in operation["responses"], where
        else:
            assert operation["security"] == [], where
