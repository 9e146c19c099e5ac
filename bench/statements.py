"""SQL statements per request, counted in-process, and a SQLite copy of a PostgreSQL dataset.

Statements are counted as the app's tests do (tests/api/v1/test_api_contract.py ``counting``):
a ``before_cursor_execute`` listener on the app's engine while one request runs through
``httpx.ASGITransport``. Everything the driver is asked to execute counts, BEGIN/COMMIT
included when the dialect sends them through a cursor (SQLite here does; asyncpg does not).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert, select, text

import app.models  # noqa: F401  (every table on Base.metadata)
from app.core.config import Settings
from app.db import driver, migrations
from app.db.base import Base
from app.db.session import create_engine
from app.main import create_app
from app.models.allocation import Allocation


async def count(
    url: str, requests: list[tuple[str, str, dict[str, Any] | None]], *, login: tuple[str, str]
) -> list[tuple[int, int, list[str]]]:
    """(status, statements, statements' first words) for each (method, path, json body).

    ``login`` (email, password) logs in first (not counted) when a request needs a token."""
    settings = Settings(database_url=url, public_base_url="http://bench", log_level="WARNING")
    app = create_app(settings)
    engine = app.state.database.engine
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    results: list[tuple[int, int, list[str]]] = []
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers: dict[str, str] = {}
            if login[0]:
                response = await client.post(
                    "/api/v1/auth/login", json={"email": login[0], "password": login[1]}
                )
                response.raise_for_status()
                headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            for method, path, body in requests:
                # Warm caches (a POST is not repeated: it would be a duplicate).
                await client.request(method if method == "GET" else "GET", path, headers=headers)
                seen.clear()
                event.listen(engine.sync_engine, "before_cursor_execute", record)
                try:
                    with driver.observing(seen.append):  # hot lists run on the driver
                        response = await client.request(method, path, json=body, headers=headers)
                finally:
                    event.remove(engine.sync_engine, "before_cursor_execute", record)
                words = [s.split(None, 1)[0].upper() for s in seen]
                results.append((response.status_code, len(seen), words))
    finally:
        await engine.dispose()
    return results


async def sqlite_copy(source_url: str, target: Path) -> float:
    """Migrate a SQLite file and copy every table of ``source_url`` into it; seconds taken."""
    started = time.perf_counter()
    target.unlink(missing_ok=True)  # noqa: ASYNC240 (before any connection)
    url = f"sqlite+aiosqlite:///{target}"
    sqlite = create_engine(Settings(database_url=url))
    source = create_engine(Settings(database_url=source_url))
    try:
        await migrations.upgrade(sqlite)
        async with source.connect() as reader, sqlite.begin() as writer:
            await writer.execute(text("PRAGMA foreign_keys=OFF"))
            # The guards (audit chain, counters) refuse a wholesale copy row by row: set
            # them aside while the copy is made, and put them back as they were.
            triggers = (
                await writer.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                )
            ).all()
            for name, _sql in triggers:
                await writer.execute(text(f'DROP TRIGGER "{name}"'))
            for table in Base.metadata.sorted_tables:
                await writer.execute(table.delete())
            for table in Base.metadata.sorted_tables:
                result = await reader.stream(select(table))
                async for chunk in result.mappings().partitions(5000):
                    await writer.execute(insert(table), [dict(row) for row in chunk])
            for _name, sql in triggers:
                await writer.execute(text(sql))
        async with sqlite.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.execute(select(Allocation.id).limit(1))
    finally:
        await sqlite.dispose()
        await source.dispose()
    return time.perf_counter() - started
