"""Thin reads (app.api.thin): an anonymous GET of one programme is served ahead of FastAPI's
routing and dependencies, with the documented route's bytes, headers and errors; anything
else falls through to the documented route as before."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import get_session
from app.api.thin import ThinRead
from tests.actors import Actor
from tests.observability import json_lines, records_of
from tests.world import budget

PATH = "/api/v1/programmes/{}"
TEMPLATE = "/api/v1/programmes/{programme_id}"


async def _no_session() -> AsyncSession:
    raise AssertionError("FastAPI resolved the documented route's session")


@pytest.fixture
def without_fastapi_sessions(app: FastAPI) -> Iterator[None]:
    """Any request that FastAPI's dependencies serve fails; a thin read does not use them."""
    app.dependency_overrides[get_session] = _no_session
    yield
    app.dependency_overrides.pop(get_session)


def _same_headers(response: httpx.Response) -> dict[str, str]:
    """The headers both paths set alike (not the request id or, with a token, no-store)."""
    kept = ("content-type", "etag", "content-language", "vary", "x-content-type-options")
    return {name: response.headers[name] for name in kept}


class TestThinRead:
    async def test_an_anonymous_read_skips_fastapi_and_answers_the_same_bytes(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
    ) -> None:
        world = await budget(session, total=1_000_000)
        path = PATH.format(world.programme.id)
        documented = await client.get(path, headers=officer.headers)  # the token: FastAPI
        assert documented.status_code == 200, documented.text
        app.dependency_overrides[get_session] = _no_session
        try:
            thin = await client.get(path)
            # The same read with a token goes through FastAPI's dependencies: it fails.
            assert (await client.get(path, headers=officer.headers)).status_code == 500
        finally:
            app.dependency_overrides.pop(get_session)
        assert thin.status_code == 200, thin.text
        assert thin.content == documented.content
        assert _same_headers(thin) == _same_headers(documented)
        assert thin.headers["etag"]
        assert "cache-control" not in thin.headers  # anonymous: cacheable by its ETag
        assert thin.headers["x-request-id"]

    @pytest.mark.usefixtures("without_fastapi_sessions")
    async def test_an_unknown_programme_is_the_same_404_problem_in_the_callers_language(
        self, client: httpx.AsyncClient
    ) -> None:
        missing = uuid.uuid4()
        response = await client.get(PATH.format(missing), headers={"Accept-Language": "it"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["content-language"] == "it"
        problem = response.json()
        assert problem["detail"] == f"Programma {missing} inesistente."
        assert problem["instance"] == PATH.format(missing)

    async def test_what_it_does_not_serve_falls_through_to_the_documented_route(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        world = await budget(session, total=1_000_000)
        not_an_id = await client.get(PATH.format("not-a-uuid"))
        assert not_an_id.status_code == 422
        assert not_an_id.json()["rule"] == "validation_error"
        bad_token = await client.get(
            PATH.format(world.programme.id), headers={"Authorization": "Bearer not-a-token"}
        )
        assert bad_token.status_code == 401
        head = await client.head(PATH.format(world.programme.id))
        assert head.status_code == 405
        assert head.headers["allow"] == "GET, PATCH"

    @pytest.mark.one_backend("sqlite")
    async def test_its_access_line_names_the_documented_template(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        world = await budget(session, total=1_000_000)
        caplog.set_level(logging.INFO)
        response = await client.get(PATH.format(world.programme.id))
        assert response.status_code == 200
        (line,) = json_lines(records_of(caplog, "app.access"))
        assert line["route"] == TEMPLATE
        assert line["principal_kind"] == "anonymous"

    def test_it_is_matched_before_every_documented_route(self, app: FastAPI) -> None:
        first = app.router.routes[0]
        assert isinstance(first, ThinRead)
        assert first.path_format == TEMPLATE
