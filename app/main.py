"""Application factory: routers, middleware, error handlers, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api import ops, wellknown
from app.api import v1 as api_v1
from app.api.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    ProblemCORSMiddleware,
    RequestContextMiddleware,
    UnhandledErrorMiddleware,
)
from app.api.problems import install_problem_handlers, problem_responses, use_problem_media_type
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.db.session import Database, create_engine
from app.services.keys import PublicKeyCache

API_DESCRIPTION = """
Backend of **WE.CA.RE. — Welfare Cantiere Regionale**, the Piemonte region's
social-innovation strategy: €20,000,000 of EU structural funds (FSE and FESR) over
five measures. It holds programmes, measures, calls for proposals, applicant
organisations, partnerships, applications and funding allocations, and enforces the
programme's caps transactionally.

Errors are `application/problem+json` (RFC 9457). Money is a decimal string with two
places, in euros (`"6400000.00"`). Every response carries an `X-Request-ID`.
"""

TAGS = [
    {"name": "programmes", "description": "Programmes and their budget figures (public)."},
    {"name": "measures", "description": "Measures with lines, caps and eligibility (public)."},
    {"name": "calls", "description": "Calls for proposals and their windows."},
    {"name": "districts", "description": "Social-cohesion districts (public)."},
    {"name": "organisations", "description": "Applicant organisations."},
    {"name": "partnerships", "description": "Partnerships (ATS) of organisations."},
    {"name": "applications", "description": "Applications and their lifecycle."},
    {"name": "reviews", "description": "Reviewers assigned to applications, and their scores."},
    {"name": "allocations", "description": "Grants within the caps; active ones are public."},
    {"name": "pledges", "description": "Partner foundations' co-funding pledges to calls."},
    {
        "name": "transparency",
        "description": "Published grants (D.lgs. 33/2013 art. 26-27), CSV and 360Giving exports.",
    },
    {"name": "audit", "description": "The tamper-evident record of every change."},
    {"name": "oauth", "description": "OAuth 2.0 authorisation server for partner clients."},
    {"name": "auth", "description": "Sessions of users of the frontends."},
    {"name": "users", "description": "User accounts, roles and memberships."},
    {"name": "clients", "description": "Partner OAuth clients."},
    {"name": "ops", "description": "Liveness, readiness and documentation."},
]


def operation_id(route: APIRoute) -> str:
    """Stable ``resource-action`` ids: ``list_calls`` tagged ``calls`` becomes ``calls-list``."""
    tag = str(route.tags[0]) if route.tags else "default"
    name = route.name
    for noun in (tag.replace("-", "_"), tag.replace("-", "_").removesuffix("s")):
        if name.endswith(f"_{noun}"):
            name = name.removesuffix(f"_{noun}")
            break
    return f"{tag}-{name.replace('_', '-')}"


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the ASGI application; tests pass their own settings and database."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    owns_database = database is None
    db = database or Database(create_engine(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_database:
            await db.dispose()

    app = FastAPI(
        title="WECARE funding API",
        version="1.0.0",
        description=API_DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        responses=problem_responses(400, 500),
    )
    app.state.settings = settings
    app.state.database = db
    app.state.key_cache = PublicKeyCache(settings.signing_key_cache_seconds)

    install_problem_handlers(app)
    app.include_router(api_v1.router)  # first: the API's traffic is matched before the probes
    app.include_router(ops.router)
    app.include_router(wellknown.router)
    ops.install_docs(app)

    # Last added runs first. Outermost the request id, so that every response carries it;
    # then CORS, so that the last-resort 500 inside it is readable by a browser too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnhandledErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, "ETag", "Location", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = use_problem_media_type(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
