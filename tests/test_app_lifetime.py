"""An app that is no longer used is freed: nothing of the process's own (a module-level
cache, a registry) keeps it alive. The test suite builds one app per test; when FastAPI's
caches of endpoint callables held closures over each app, a full run ended at 5.5 GB and
took a minute and a half to exit."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core import collector
from app.core.config import Settings, get_settings
from app.db.session import Database, create_engine
from app.main import create_app, create_served_app
from tests import ENGLISH
from tests.conftest import migrated_database


async def test_an_app_no_longer_used_is_freed(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}")
    assert settings.docs_enabled
    database = Database(create_engine(settings))
    try:
        app = create_app(settings, database)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://testserver"
        ) as client:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await client.get(path)).status_code == 200, path
        freed = weakref.ref(app)
        del app, transport, client
        gc.collect()
        assert freed() is None, [type(r).__name__ for r in gc.get_referrers(freed())]
    finally:
        await database.dispose()


async def test_a_served_worker_settles_the_collector_once_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``wecare serve``'s app (create_served_app) freezes what startup left out of every
    later collection and raises the young generation's threshold (app.core.collector;
    bench/TAILS.md: full collections were most of the p99); create_app, which tests build
    by the hundred, leaves the collector alone."""
    url, drop = await migrated_database("sqlite", tmp_path)
    monkeypatch.setenv("WECARE_DATABASE_URL", url)
    get_settings.cache_clear()
    thresholds = gc.get_threshold()
    try:
        plain = create_app()
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == thresholds
        served = create_served_app()
        async with served.router.lifespan_context(served):
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold() == collector.THRESHOLDS
            assert (await _healthz(served)) == 200
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        get_settings.cache_clear()
        await drop()  # type: ignore[misc]


async def _healthz(app: FastAPI) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://testserver"
    ) as client:
        return (await client.get("/healthz")).status_code
