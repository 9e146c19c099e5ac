"""Thin reads: the busiest public reads by id, served without FastAPI's per-request work.

A GET of one programme by id spent about half its CPU in FastAPI's own machinery: matching
the route among the API's, resolving its dependencies (the session, the optional token and
its scopes), and the request wrapper's exit stacks (bench/RESULTS.md S4; a plain Starlette
route first in the router halved it). A :class:`ThinRead` is that plain route, put ahead of
the API router for the one case whose answer needs none of it: an anonymous ``GET`` with a
well-formed id. It answers with the same function the documented route calls, in a reader
session as the route's would be, so the bytes, the ETag and the errors are the same.

Everything else falls through to the documented route as if the thin one were not there: a
request carrying ``Authorization`` (its token is checked, and a bad one is a 401), any
other method, an id that is not a UUID (the route's 422). The documented route stays in
OpenAPI, in the route table and in the access log: a thin read names it as the matched
route, so its lines and metrics carry the same template.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from app.db.session import Database

# The answer for one id, in a reader session: the documented route calls the same function.
Reader = Callable[[AsyncSession, uuid.UUID], Awaitable[Response]]


@dataclass(frozen=True)
class ThinReadSpec:
    """A thin read to install: the documented route (by its endpoint), the path parameter
    that carries the id, and the reader both share."""

    endpoint: Callable[..., Any]
    parameter: str
    reader: Reader


class ThinRead(Route):
    def __init__(self, documented: APIRoute, path: str, parameter: str, reader: Reader) -> None:
        async def serve(request: Request) -> Response:
            database: Database = request.app.state.database
            async with database.session(write=False) as session:
                return await reader(session, request.path_params[parameter])

        # ``{parameter:uuid}``: any other text does not match, and the documented route
        # answers it (422). Its template, as the access log reads it, is the documented one.
        super().__init__(
            path.replace(f"{{{parameter}}}", f"{{{parameter}:uuid}}"),
            serve,
            methods=["GET"],
            include_in_schema=False,
        )
        self.methods = {"GET"}  # not HEAD, which the documented route does not serve
        self.documented = documented

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        if any(name == b"authorization" for name, _ in scope["headers"]):
            return Match.NONE, {}  # the documented route checks the token
        match, child = super().matches(scope)
        if match is Match.FULL:
            child["route"] = self.documented  # what the access log and the metrics name
        return match, child


def install(app: FastAPI, specs: Iterable[ThinReadSpec]) -> None:
    """Put each spec's thin read first in the app's router, before the documented routes."""
    documented = {
        context.endpoint: (context.original_route, context.path_format)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.path_format is not None
    }
    thin: list[BaseRoute] = []
    for spec in specs:
        route, path = documented[spec.endpoint]
        assert isinstance(route, APIRoute)
        thin.append(ThinRead(route, path, spec.parameter, spec.reader))
    app.router.routes[:0] = thin
