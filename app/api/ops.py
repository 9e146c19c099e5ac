"""Operations endpoints: liveness, readiness, and the documentation served with local assets."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import text

from app.api.deps import DatabaseDep, SettingsDep
from app.api.problems import problem_responses
from app.core.errors import NotReady
from app.core.i18n import msg
from app.db.migrations import is_at_head
from app.db.session import Database
from app.services import keys

log = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])

# Swagger UI and ReDoc bundles from the fastapi-offline wheel: no CDN, no internet.
STATIC_DIR = Path(fastapi_offline.__file__).parent / "static"
STATIC_PATH = "/static/docs"


class Health(BaseModel):
    status: str


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    """Report that the process is up; touches nothing else."""
    return Health(status="ok")


# A dropped database host never refuses a connection: without a bound the probe would wait
# for asyncpg's 60 s connect timeout while the orchestrator's own probe times out.
READINESS_TIMEOUT_SECONDS = 3.0


async def _database_ready(database: Database) -> bool:
    """Whether the database answers; True when its schema is at the migration head."""
    async with database.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return await is_at_head(database.engine)


async def _undecryptable_key(database: Database, secret: str) -> str | None:
    """The signing key in use if the configured secret cannot decrypt it (one query and
    one Fernet decryption of about 2 kB: cheap enough for every probe)."""
    async with database.session(write=False) as session:
        return await keys.undecryptable_signing_key(session, secret=secret)


@router.get(
    "/readyz",
    summary="Readiness",
    responses=problem_responses(503),
)
async def readyz(database: DatabaseDep, settings: SettingsDep) -> Health:
    """Report whether the database is reachable (within a few seconds), its schema is at
    the migration head, and the signing key in use decrypts with the configured secret."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            migrated = await _database_ready(database)
            kid = await _undecryptable_key(database, settings.secret) if migrated else None
    except TimeoutError as exc:
        log.warning(
            "readiness check: no answer from the database in %ss", READINESS_TIMEOUT_SECONDS
        )
        raise NotReady(
            msg(
                "The database did not answer within {READINESS_TIMEOUT_SECONDS:g} seconds.",
                READINESS_TIMEOUT_SECONDS=READINESS_TIMEOUT_SECONDS,
            )
        ) from exc
    except Exception as exc:
        # One line per probe: an outage would otherwise log a traceback every few seconds.
        log.warning("readiness check could not reach the database: %r", exc)
        raise NotReady(msg("The database is unreachable.")) from exc
    if not migrated:
        raise NotReady(msg("The database schema is not at the migration head."))
    if kid is not None:
        # Every login would fail: the secret changed without rotating the keys.
        log.warning("readiness check: signing key %s does not decrypt with the secret", kid)
        raise NotReady(
            msg(
                "The signing key in use ({kid}) cannot be decrypted with the configured "
                "WECARE_SECRET_KEY; restore the secret, or rotate the keys (wecare keys "
                "rotate).",
                kid=kid,
            ),
            kid=kid,
        )
    return Health(status="ready")


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from the bundled assets."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="docs-static")
    app.add_api_route("/docs", _swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", _redoc, methods=["GET"], include_in_schema=False)


# Module-level endpoints that read the app from the request: a closure over the app would be
# kept alive, app and all, by FastAPI's module-level caches of endpoint callables (one app
# per test: gigabytes by the end of the test run).
async def _swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI document."""
    app, root = request.app, request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url or '/openapi.json'}",
        title=f"{app.title} — Swagger UI",
        swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
    )


async def _redoc(request: Request) -> HTMLResponse:
    """ReDoc on the app's OpenAPI document."""
    app, root = request.app, request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{app.openapi_url or '/openapi.json'}",
        title=f"{app.title} — ReDoc",
        redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
        with_google_fonts=False,
    )
