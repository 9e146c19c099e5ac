"""GET /metrics: the Prometheus exposition, behind a bearer token (WECARE_METRICS=bearer) or
on a listener of its own (WECARE_METRICS=port). Not in the public OpenAPI document: it is
an operator's endpoint, not part of the API partners build clients from."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import DBAPIError

from app.api.deps import DatabaseDep, SettingsDep
from app.api.problems import install_problem_handlers
from app.core import metrics
from app.core.config import Settings
from app.core.errors import Unauthenticated
from app.core.i18n import msg
from app.db.session import Database, create_engine
from app.services import checkpoints

log = logging.getLogger(__name__)

# A scrape must answer while the database is slow or down: then without the audit figures
# (the pool's figures matter most exactly then).
AUDIT_FIGURES_TIMEOUT_SECONDS = 2.0


async def _audit_snapshot(database: Database) -> list[metrics.AuditSnapshot]:
    try:
        async with asyncio.timeout(AUDIT_FIGURES_TIMEOUT_SECONDS):
            async with database.session(write=False) as session:
                figures = await checkpoints.audit_figures(session)
    except TimeoutError:
        log.warning("metrics: the audit figures took over %ss", AUDIT_FIGURES_TIMEOUT_SECONDS)
        return []
    except DBAPIError as error:
        # Unreachable, exhausted, or not migrated yet: the scrape goes on without them.
        log.warning("metrics: no audit figures from the database: %r", error)
        return []
    return [
        metrics.AuditSnapshot(
            chain_length=figures.chain_length,
            checkpoint_seq=figures.checkpoint_seq,
            checkpoint_age=figures.checkpoint_age_seconds(datetime.now(UTC)),
        )
    ]


async def scrape(database: Database) -> Response:
    body = metrics.exposition(await _audit_snapshot(database))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def require_metrics_token(request: Request, settings: SettingsDep) -> None:
    """The Authorization header must carry WECARE_METRICS_TOKEN (compared in constant time)."""
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(msg("The metrics require the metrics bearer token."))
    scheme, _, token = header.partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), expected.encode())
    ):
        raise Unauthenticated(msg("The metrics token is not valid."), error="invalid_token")


bearer_router = APIRouter(tags=["ops"])


@bearer_router.get(
    "/metrics",
    include_in_schema=False,
    dependencies=[Depends(require_metrics_token)],
)
async def metrics_with_token(database: DatabaseDep) -> Response:
    """Prometheus metrics, for the holder of WECARE_METRICS_TOKEN."""
    return await scrape(database)


def create_metrics_app(settings: Settings) -> FastAPI:
    """The application of the metrics port (WECARE_METRICS=port): /metrics only, no token,
    for a network only the scraper reaches. A connection per scrape for the audit figures
    (no pool: scrapes are seconds apart, and the pool figures stay the API's own)."""
    database = Database(create_engine(settings, pooled=False))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    install_problem_handlers(app)

    @app.get("/metrics")
    async def metrics_on_port(database: DatabaseDep) -> Response:
        return await scrape(database)

    return app
