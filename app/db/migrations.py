"""Alembic, driven from Python: upgrade, downgrade, and "is the schema at head?"."""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        # migrations/env.py runs on this connection instead of opening its own.
        config.attributes["connection"] = connection
    return config


@lru_cache
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def is_at_head(engine: AsyncEngine) -> bool:
    """Compare the database's alembic_version with the scripts' heads (a quiet, cheap query)."""
    async with engine.connect() as conn:
        has_table = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
        if not has_table:
            return not head_revisions()
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        current = frozenset(str(row[0]) for row in rows)
    return current == head_revisions()


async def schema_problem(engine: AsyncEngine) -> str | None:
    """Why the database cannot serve this version of the code, in a few words, or None
    when it is at the scripts' head."""
    async with engine.connect() as conn:
        current = await conn.run_sync(current_revisions)
    heads = head_revisions()
    if current == heads:
        return None
    if not current:
        return "has no tables yet (it was never migrated)"
    return f"is at revision {', '.join(sorted(current))}, the code needs {', '.join(sorted(heads))}"
