"""Every route of the app, checked against every kind of caller.

The table says who may call each route. A new route that is not in the table fails the
meta-test, so no endpoint ships without a decision on who may use it.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from tests.actors import all_actors

ACTORS = ("anonymous", "administrator", "officer", "reviewer", "applicant", "client")
USERS = frozenset({"administrator", "officer", "reviewer", "applicant"})
PUBLIC = frozenset(ACTORS)
ADMIN = frozenset({"administrator"})
REGION = frozenset({"administrator", "officer"})
APPLICANTS = frozenset({"administrator", "applicant"})
ORGANISATION_READERS = frozenset({"administrator", "officer", "applicant", "client"})
PARTNERSHIP_READERS = frozenset({"administrator", "officer", "applicant"})
# An invitation is answered by the invited organisation's users, or by the region for it.
CONSENTERS = frozenset({"administrator", "officer", "applicant"})
REVIEW_READERS = frozenset({"administrator", "officer", "reviewer"})
SCORERS = frozenset({"administrator", "reviewer"})  # an administrator is refused by the service
PLEDGE_READERS = frozenset({"administrator", "officer", "client"})
PLEDGE_WRITERS = frozenset({"administrator", "client"})
# OAuth endpoints authenticate the client itself (Basic or client_secret_post), never a
# bearer token: without client credentials every caller is refused.
CLIENT_CREDENTIALS = "client-credentials"

ROUTES: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/.well-known/oauth-authorization-server"): PUBLIC,
    ("GET", "/api/v1/programmes"): PUBLIC,
    ("GET", "/api/v1/programmes/{programme_id}"): PUBLIC,
    ("POST", "/api/v1/programmes"): ADMIN,
    ("PATCH", "/api/v1/programmes/{programme_id}"): ADMIN,
    ("GET", "/api/v1/measures"): PUBLIC,
    ("GET", "/api/v1/measures/{measure_id}"): PUBLIC,
    ("POST", "/api/v1/measures"): ADMIN,
    ("PATCH", "/api/v1/measures/{measure_id}"): ADMIN,
    ("GET", "/api/v1/calls"): PUBLIC,
    ("GET", "/api/v1/calls/{call_id}"): PUBLIC,
    ("POST", "/api/v1/calls"): REGION,
    ("PATCH", "/api/v1/calls/{call_id}"): REGION,
    ("POST", "/api/v1/calls/{call_id}/publish"): REGION,
    ("POST", "/api/v1/calls/{call_id}/close"): REGION,
    ("GET", "/api/v1/districts"): PUBLIC,
    ("GET", "/api/v1/districts/{district_id}"): PUBLIC,
    ("POST", "/api/v1/districts"): ADMIN,
    ("PATCH", "/api/v1/districts/{district_id}"): ADMIN,
    ("GET", "/api/v1/organisations"): ORGANISATION_READERS,
    ("GET", "/api/v1/organisations/{organisation_id}"): ORGANISATION_READERS,
    ("POST", "/api/v1/organisations"): APPLICANTS,
    ("PATCH", "/api/v1/organisations/{organisation_id}"): APPLICANTS,
    ("GET", "/api/v1/partnerships"): PARTNERSHIP_READERS,
    ("GET", "/api/v1/partnerships/{partnership_id}"): PARTNERSHIP_READERS,
    ("POST", "/api/v1/partnerships"): APPLICANTS,
    ("PATCH", "/api/v1/partnerships/{partnership_id}"): APPLICANTS,
    ("POST", "/api/v1/partnerships/{partnership_id}/members"): APPLICANTS,
    ("GET", "/api/v1/partnerships/{partnership_id}/members/{organisation_id}"): (
        PARTNERSHIP_READERS
    ),
    ("POST", "/api/v1/partnerships/{partnership_id}/members/{organisation_id}/accept"): (
        CONSENTERS
    ),
    ("POST", "/api/v1/partnerships/{partnership_id}/members/{organisation_id}/decline"): (
        CONSENTERS
    ),
    ("GET", "/api/v1/organisations/{organisation_id}/invitations"): PARTNERSHIP_READERS,
    ("GET", "/api/v1/applications"): USERS,
    ("GET", "/api/v1/applications/{application_id}"): USERS,
    ("POST", "/api/v1/applications"): APPLICANTS,
    ("PATCH", "/api/v1/applications/{application_id}"): APPLICANTS,
    ("POST", "/api/v1/applications/{application_id}/submit"): APPLICANTS,
    ("POST", "/api/v1/applications/{application_id}/withdraw"): APPLICANTS,
    ("POST", "/api/v1/applications/{application_id}/start-review"): REGION,
    ("POST", "/api/v1/applications/{application_id}/approve"): REGION,
    ("POST", "/api/v1/applications/{application_id}/reject"): REGION,
    ("POST", "/api/v1/applications/{application_id}/admit-preliminary"): REGION,
    ("POST", "/api/v1/applications/{application_id}/reject-preliminary"): REGION,
    ("GET", "/api/v1/applications/{application_id}/reviews"): REVIEW_READERS,
    ("POST", "/api/v1/applications/{application_id}/reviews"): REGION,
    ("GET", "/api/v1/applications/{application_id}/reviews/{review_id}"): REVIEW_READERS,
    ("POST", "/api/v1/applications/{application_id}/reviews/{review_id}/score"): SCORERS,
    ("DELETE", "/api/v1/applications/{application_id}/reviews/{review_id}"): REGION,
    ("GET", "/api/v1/organisations/{organisation_id}/pledges"): PLEDGE_READERS,
    ("POST", "/api/v1/organisations/{organisation_id}/pledges"): PLEDGE_WRITERS,
    ("GET", "/api/v1/organisations/{organisation_id}/pledges/{pledge_id}"): PLEDGE_READERS,
    ("PATCH", "/api/v1/organisations/{organisation_id}/pledges/{pledge_id}"): PLEDGE_WRITERS,
    ("POST", "/api/v1/organisations/{organisation_id}/pledges/{pledge_id}/withdraw"): (
        PLEDGE_WRITERS
    ),
    ("GET", "/api/v1/allocations"): PUBLIC,
    ("GET", "/api/v1/allocations/{allocation_id}"): PUBLIC,
    ("POST", "/api/v1/allocations"): REGION,
    ("POST", "/api/v1/allocations/{allocation_id}/revoke"): REGION,
    ("GET", "/api/v1/programmes/{programme_id}/report"): PUBLIC,
    ("GET", "/api/v1/transparency/grants"): PUBLIC,
    ("GET", "/api/v1/transparency/grants/{allocation_id}"): PUBLIC,
    ("GET", "/api/v1/transparency/grants.csv"): PUBLIC,
    ("GET", "/api/v1/transparency/grants.360giving.json"): PUBLIC,
    ("GET", "/api/v1/audit-events"): ADMIN,
    ("GET", "/api/v1/audit-events/head"): ADMIN,
    ("GET", "/api/v1/audit/checkpoints"): PUBLIC,
    ("GET", "/api/v1/audit/checkpoints/latest"): PUBLIC,
    ("POST", "/api/v1/audit/checkpoints"): ADMIN,
    ("POST", "/api/v1/oauth/token"): CLIENT_CREDENTIALS,
    ("POST", "/api/v1/oauth/revoke"): CLIENT_CREDENTIALS,
    ("POST", "/api/v1/oauth/introspect"): CLIENT_CREDENTIALS,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): USERS,
    ("GET", "/api/v1/auth/whoami"): USERS | {"client"},
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/me"): USERS,
    ("GET", "/api/v1/users/{user_id}"): ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/clients"): ADMIN,
    ("GET", "/api/v1/clients"): ADMIN,
    ("GET", "/api/v1/clients/{client_id}"): ADMIN,
    ("DELETE", "/api/v1/clients/{client_id}"): ADMIN,
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened (mounts excluded)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                # As documented: /users/{user_id:uuid} is /users/{user_id} in OpenAPI.
                found.add((method, getattr(route, "path_format", None) or route.path))
    return found


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
    for (method, template), allowed in sorted(ROUTES.items()):
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
