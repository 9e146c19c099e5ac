"""Application factory: routers, middleware, error handlers, OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api import metrics as metrics_api
from app.api import ops, thin, wellknown
from app.api import v1 as api_v1
from app.api.deps import document_bearer_scheme
from app.api.etag import ETAG_HEADER, IF_MATCH_PARAMETER
from app.api.idempotency import KEY_HEADER, LOCATION_HEADER
from app.api.middleware import (
    REQUEST_ID_HEADER,
    AccessLogMiddleware,
    BodySizeLimitMiddleware,
    LanguageMiddleware,
    ProblemCORSMiddleware,
    RefusalDelayMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    UnhandledErrorMiddleware,
)
from app.api.problems import (
    PROBLEM_MEDIA_TYPE,
    install_problem_handlers,
    problem_responses,
    use_problem_media_type,
)
from app.api.v1.documents import MULTIPART_OVERHEAD_BYTES, UPLOAD_PATH
from app.core import collector
from app.core.config import Settings, get_settings
from app.core.i18n import load_catalogues
from app.core.logging import configure_logging
from app.core.storage import storage_for
from app.db.session import Database, create_engine
from app.services.checkpoints import run_periodic_checkpoints
from app.services.keys import PublicKeyCache, ensure_signing_key_at_start

PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
# Relative: requests go to the host that served the document, whatever its public URL (a
# committed document cannot know it, and an absolute one would send tools to another host).
SERVERS = [{"url": "/", "description": "The server that served this document."}]
LICENSE = {"name": "EUPL-1.2", "identifier": "EUPL-1.2"}  # as pyproject.toml's license

API_DESCRIPTION = """
Backend of **WE.CA.RE. — Welfare Cantiere Regionale**, the Piemonte region's
social-innovation strategy: €20,000,000 of EU structural funds (FSE and FESR) over
five measures. It holds programmes, measures, calls for proposals, applicant
organisations, partnerships, applications and funding allocations, and enforces the
programme's caps transactionally.

Errors are `application/problem+json` (RFC 9457). Money is a decimal string with two
places, in euros (`"6400000.00"`). Every response carries an `X-Request-ID`.

Languages: send `Accept-Language` (`it`, the default, or `en`; weights and region subtags
as RFC 9110 and RFC 4647 say). Problems' `title` and `detail` come in that language, named
by `Content-Language` with `Vary: Accept-Language` on every response; `type` and `rule`
never change. Reference texts carry both languages (`*_it`, `*_en`).
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
        "name": "state-aid-declarations",
        "description": "An organisation's linked undertakings and aid from other sources, "
        "counted towards the de minimis ceiling.",
    },
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


def _success_ref(response: dict[str, Any]) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    return ref if isinstance(ref, str) else None


def document_http_semantics(schema: dict[str, Any]) -> dict[str, Any]:
    """Document, for every operation alike, what the route functions cannot declare.

    - If-Match on every operation that can answer 428 (require_if_match), and the ETag
      header on what they return, on reads by id of the same representation and on the
      201 of creates (with Location): with_etag and idempotency.respond always set them.
    - 413 on every operation with a request body (BodySizeLimitMiddleware).
    - ``security: []`` where no token is required, so that "public" is stated, not implied.
    """
    operations = [
        (path, method, operation)
        for path, item in schema.get("paths", {}).items()
        for method, operation in item.items()
    ]
    etagged: set[str] = set()
    for _, _, operation in operations:
        responses = operation.get("responses", {})
        if "428" not in responses:
            continue
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("in") == "header" and p.get("name") == "If-Match" for p in parameters):
            parameters.append(deepcopy(IF_MATCH_PARAMETER))
        for status, response in responses.items():
            if status.startswith("2") and (ref := _success_ref(response)) is not None:
                response.setdefault("headers", {})["ETag"] = deepcopy(ETAG_HEADER)
                etagged.add(ref)
    too_large = problem_responses(413)[413]["description"]
    for path, method, operation in operations:
        responses = operation.get("responses", {})
        read = responses.get("200", {})
        if method == "get" and path.endswith("}") and _success_ref(read) in etagged:
            read.setdefault("headers", {})["ETag"] = deepcopy(ETAG_HEADER)
        keyed = any(p.get("name") == KEY_HEADER for p in operation.get("parameters", []))
        if keyed and "201" in responses:
            headers = responses["201"].setdefault("headers", {})
            headers["ETag"] = deepcopy(ETAG_HEADER)
            headers["Location"] = deepcopy(LOCATION_HEADER)
        if "requestBody" in operation and "413" not in responses:
            responses["413"] = {
                "description": too_large,
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
            }
        operation.setdefault("security", [])
    return schema


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the ASGI application; tests pass their own settings and database."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    load_catalogues()  # a broken .po stops the start, not a request
    owns_database = database is None
    db = database or Database(create_engine(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_signing_key_at_start(db, secret=settings.secret)
        # Every worker runs the loop; an advisory lock and "already signed" keep them from
        # signing the same head twice.
        task = (
            asyncio.create_task(
                run_periodic_checkpoints(
                    db,
                    interval_seconds=settings.audit_checkpoint_seconds,
                    secret=settings.secret,
                    issuer=settings.issuer,
                )
            )
            if settings.audit_checkpoint_seconds > 0
            else None
        )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
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
        responses=problem_responses(400, 500, 503),
    )
    app.state.settings = settings
    app.state.database = db
    app.state.storage = storage_for(settings)
    app.state.key_cache = PublicKeyCache(settings.signing_key_cache_seconds, secret=settings.secret)

    install_problem_handlers(app)
    app.include_router(api_v1.router)  # first: the API's traffic is matched before the probes
    thin.install(app, api_v1.THIN_READS)  # ahead of it, the anonymous reads it serves thinly
    app.include_router(ops.router)
    app.include_router(wellknown.router)
    if settings.docs_enabled:
        ops.install_docs(app)
    if settings.metrics == "bearer":
        app.include_router(metrics_api.bearer_router)

    # Last added runs first. Outermost the request id, so that every response carries it;
    # then CORS, so that the last-resort 500 inside it is readable by a browser too.
    app.add_middleware(RefusalDelayMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # The upload streams to storage and checks its kind's limit itself; this bounds the
        # multipart envelope around the largest file the service takes.
        larger={("POST", UPLOAD_PATH): settings.document_max_bytes + MULTIPART_OVERHEAD_BYTES},
    )
    app.add_middleware(UnhandledErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, "ETag", "Location", "Retry-After"],
        )
    # Outside CORS and the last-resort 500, so that their answers carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    app.add_middleware(LanguageMiddleware)
    # Inside the request id (which its line carries), outside the rest (whose answers it logs).
    app.add_middleware(AccessLogMiddleware, count=settings.metrics != "off")
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
                servers=SERVERS,
                license_info=LICENSE,
            )
            app.openapi_schema = document_bearer_scheme(
                document_http_semantics(use_problem_media_type(schema))
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_served_app() -> FastAPI:
    """The application as ``wecare serve`` runs it in each worker: :func:`create_app`, with
    the garbage collector settled once the worker has started (app.core.collector). Not in
    create_app itself: a test process builds many apps, and freezing would keep every
    earlier test's objects for ever."""
    app = create_app()
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        async with started(served):
            collector.settle()
            yield

    app.router.lifespan_context = lifespan
    return app
