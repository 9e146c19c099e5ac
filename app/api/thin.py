"""Thin reads: the busiest public reads, served without FastAPI's per-request work.

A GET of one programme by id spent about half its CPU in FastAPI's own machinery: matching
the route among the API's, resolving its dependencies (the session, the optional token and
its scopes), and the request wrapper's exit stacks (bench/RESULTS.md S4; a plain Starlette
route first in the router halved it). A :class:`ThinRead` is that plain route, put ahead of
the API router for the one case whose answer needs none of it: an anonymous ``GET`` with a
well-formed id, or, for a hot public list, a query string its model accepts. It answers
with the same function the documented route calls, in a reader session as the route's
would be, so the bytes, the headers and the errors are the same.

Everything else falls through to the documented route as if the thin one were not there: a
request carrying ``Authorization`` (its token is checked, and a bad one is a 401), any
other method, an id that is not a UUID or a query string the model refuses (the route's
422). The documented route stays in OpenAPI, in the route table and in the access log: a
thin read names it as the matched route, so its lines and metrics carry its template.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from app.api.query import QueryModel
from app.db.session import Database

# The answer for the request's one argument (an id, or the validated query string), in a
# reader session: the documented route calls the same function.
Reader = Callable[[AsyncSession, Any], Awaitable[Response]]
# Where a matched thin read leaves its argument for its endpoint.
_ARGUMENT = "wecare.thin_argument"


@dataclass(frozen=True)
class ThinReadSpec:
    """A thin read to install: the documented route (by its endpoint), the reader both
    share, and what the reader takes: the id in the path parameter ``parameter`` (a UUID),
    or the query string as the route's own ``query`` model validates it."""

    endpoint: Callable[..., Any]
    reader: Reader
    parameter: str | None = None
    query: QueryModel[Any] | None = None


class ThinRead(Route):
    def __init__(self, documented: APIRoute, path: str, spec: ThinReadSpec) -> None:
        assert (spec.parameter is None) != (spec.query is None), "an id or a query string"

        async def serve(request: Request) -> Response:
            database: Database = request.app.state.database
            async with database.session(write=False) as session:
                return await spec.reader(session, request.scope[_ARGUMENT])

        # ``{parameter:uuid}``: any other text does not match, and the documented route
        # answers it (422). Its template, as the access log reads it, is the documented one.
        if spec.parameter is not None:
            path = path.replace(f"{{{spec.parameter}}}", f"{{{spec.parameter}:uuid}}")
        super().__init__(path, serve, methods=["GET"], include_in_schema=False)
        self.methods = {"GET"}  # not HEAD, which the documented route does not serve
        self.documented = documented
        self.spec = spec

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        if any(name == b"authorization" for name, _ in scope["headers"]):
            return Match.NONE, {}  # the documented route checks the token
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return match, child
        if self.spec.parameter is not None:
            child[_ARGUMENT] = child["path_params"][self.spec.parameter]
        else:
            assert self.spec.query is not None
            try:  # as the route's QueryModel dependency reads it
                query = self.spec.query.parse(QueryParams(scope["query_string"]))
            except ValidationError:
                return Match.NONE, {}  # the documented route answers its 422
            child[_ARGUMENT] = query
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
        thin.append(ThinRead(route, path, spec))
    app.router.routes[:0] = thin
