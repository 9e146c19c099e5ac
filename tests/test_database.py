"""Per-dialect engine settings: SQLite pragmas and BEGIN IMMEDIATE for writers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.db.session import Database, create_engine


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/p.sqlite3"))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 30_000
    finally:
        await engine.dispose()


async def test_sqlite_write_sessions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/w.sqlite3"
    database = Database(create_engine(Settings(database_url=url)))
    impatient = create_engine(Settings(database_url=url, sqlite_busy_timeout_ms=0))
    try:
        async with database.session(write=True) as writer:
            # A read statement is enough: BEGIN IMMEDIATE already holds the write lock.
            await writer.execute(text("SELECT 1"))
            async with impatient.connect() as other:
                with pytest.raises(OperationalError, match="locked"):
                    await other.execute(text("BEGIN IMMEDIATE"))
        async with database.session(write=False) as reader:
            await reader.execute(text("SELECT 1"))
            async with impatient.connect() as other:
                # A reader does not block a writer.
                await other.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await impatient.dispose()
        await database.dispose()
