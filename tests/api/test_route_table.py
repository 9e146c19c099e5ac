"""Every route of the app, checked against every kind of caller.

The table (tests/api/routes.py) says who may call each route. A new route that is not in
the table fails the meta-test, so no endpoint ships without a decision on who may use it.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from tests.actors import all_actors
from tests.api.routes import ACTORS, CLIENT_CREDENTIALS, ROUTES, app_routes


def test_every_route_is_in_the_table(app: FastAPI) -> None:
    routes = app_routes(app)
    assert routes - set(ROUTES) == set(), "add the new routes to ROUTES with who may call them"
    assert set(ROUTES) - routes == set(), "ROUTES lists routes the app no longer has"


# Authorisation does not depend on the dialect, and this test sends 800 requests.
@pytest.mark.one_backend("postgresql")
async def test_each_caller_gets_what_the_table_says(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    actors = await all_actors(session, settings)
    wrong: list[str] = []
    for (method, template), route in sorted(ROUTES.items()):
        allowed = route.callers
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
        for name in ACTORS:
            token = await actors[name].fresh_token(session, settings)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            kwargs: dict[str, object] = {"headers": headers}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
            status = response.status_code
            if allowed == CLIENT_CREDENTIALS:
                ok = status in (400, 401) and "error" in response.json()
            elif name in allowed:
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == (401 if name == "anonymous" else 403)
            if not ok:
                wrong.append(f"{method} {template} as {name}: {status}")
    assert wrong == []


@pytest.mark.parametrize("scheme", ["Basic abc", "Bearer", "Token xyz"])
async def test_a_malformed_authorization_header_is_401(
    client: httpx.AsyncClient, scheme: str
) -> None:
    response = await client.get("/api/v1/users/me", headers={"Authorization": scheme})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
