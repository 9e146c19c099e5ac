"""Thin reads (app.api.thin): anonymous GETs of one programme and of the allocation list are
served ahead of FastAPI's routing and dependencies, with the documented routes' bytes,
headers and errors; anything else falls through to the documented route as before."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import get_session
from app.api.thin import ThinRead
from app.core.config import Settings
from app.db.session import Database
from app.main import create_app
from tests import ENGLISH
from tests.actors import Actor
from tests.observability import json_lines, records_of
from tests.world import approved, budget

PROGRAMME = "/api/v1/programmes/{}"
ALLOCATIONS = "/api/v1/allocations"
TEMPLATES = ("/api/v1/allocations", "/api/v1/programmes/{programme_id}")


async def _no_session() -> AsyncSession:
    raise AssertionError("FastAPI resolved the documented route's session")


@pytest.fixture
async def documented(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without its thin reads: every request takes the documented route."""
    app = create_app(settings, database)
    app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, ThinRead)]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        yield client


async def _three_grants(
    client: httpx.AsyncClient, session: AsyncSession, officer: Actor
) -> uuid.UUID:
    world = await budget(session, total=1_000_000)
    for n in range(3):
        application = await approved(session, world, requested=1_000, n=n)
        granted = await client.post(
            ALLOCATIONS,
            json={"application_id": str(application.id), "amount": "1000.00"},
            headers=officer.headers,
        )
        assert granted.status_code == 201, granted.text
    return world.programme.id


def _same(thin: httpx.Response, documented: httpx.Response) -> None:
    assert thin.status_code == documented.status_code
    assert thin.content == documented.content
    for name, value in documented.headers.items():
        if name not in ("x-request-id", "content-length"):
            assert thin.headers.get(name) == value, name
    assert thin.headers["x-request-id"]


class TestThinRead:
    async def test_anonymous_reads_skip_fastapi_and_answer_the_same(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        documented: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
    ) -> None:
        programme_id = await _three_grants(client, session, officer)
        first = (await documented.get(ALLOCATIONS, params={"limit": 2})).json()
        assert len(first["items"]) == 2
        assert first["next_cursor"]
        reads = [
            (PROGRAMME.format(programme_id), None),
            (ALLOCATIONS, {"limit": 2}),
            (ALLOCATIONS, {"limit": 2, "cursor": first["next_cursor"]}),
            (ALLOCATIONS, {"programme_id": str(programme_id), "include_total": "true"}),
        ]
        app.dependency_overrides[get_session] = _no_session
        try:
            for path, params in reads:
                thin = await client.get(path, params=params)
                assert thin.status_code == 200, thin.text
                _same(thin, await documented.get(path, params=params))
                # The same read with a token takes FastAPI's dependencies: it fails here.
                tokened = await client.get(path, params=params, headers=officer.headers)
                assert tokened.status_code == 500
        finally:
            app.dependency_overrides.pop(get_session)

    async def test_refusals_are_the_documented_routes(
        self, client: httpx.AsyncClient, documented: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await budget(session, total=1_000_000)
        here = PROGRAMME.format(world.programme.id)
        refused = [
            (PROGRAMME.format(uuid.uuid4()), None, {"Accept-Language": "it"}, 404),
            (PROGRAMME.format("not-a-uuid"), None, {}, 422),
            (ALLOCATIONS, {"limit": 0}, {}, 422),
            (ALLOCATIONS, {"status": "granted-maybe"}, {"Accept-Language": "it"}, 422),
            (ALLOCATIONS, {"cursor": "not-a-cursor"}, {}, 422),  # refused by the service
            (here, None, {"Authorization": "Bearer not-a-token"}, 401),
            (ALLOCATIONS, None, {"Authorization": "Bearer not-a-token"}, 401),
        ]
        for path, params, headers, status in refused:
            thin = await client.get(path, params=params, headers=headers)
            assert thin.status_code == status, (path, params, thin.text)
            assert thin.headers["content-type"] == "application/problem+json"
            expected = await documented.get(path, params=params, headers=headers)
            assert thin.json() | {"instance": None} == expected.json() | {"instance": None}
        for path in (here, ALLOCATIONS):
            head = await client.head(path)
            assert head.status_code == 405
            assert head.headers["allow"] == (await documented.head(path)).headers["allow"]

    @pytest.mark.one_backend("sqlite")
    async def test_their_access_lines_name_the_documented_templates(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        world = await budget(session, total=1_000_000)
        caplog.set_level(logging.INFO)
        for path in (ALLOCATIONS, PROGRAMME.format(world.programme.id)):
            assert (await client.get(path)).status_code == 200
        lines = json_lines(records_of(caplog, "app.access"))
        assert [line["route"] for line in lines] == list(TEMPLATES)
        assert {line["principal_kind"] for line in lines} == {"anonymous"}

    def test_they_are_matched_before_every_documented_route(self, app: FastAPI) -> None:
        thin = app.router.routes[: len(TEMPLATES)]
        assert all(isinstance(route, ThinRead) for route in thin)
        assert tuple(route.path_format for route in thin if isinstance(route, ThinRead)) == (
            TEMPLATES
        )
