"""Engines and transactions for SQLite and PostgreSQL.

SQLite: WAL, foreign keys on, a busy timeout, and write transactions that start with
``BEGIN IMMEDIATE`` so that two writers queue at BEGIN instead of failing at COMMIT.
PostgreSQL: a sized pool, and autocommit readers (no BEGIN/COMMIT round trips on a GET);
reads that combine several statements into figures that must agree opt in to a snapshot.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.core import metrics
from app.core.config import Settings
from app.db.pool import MeteredQueuePool

# Execution option carried by the write engine; read by the SQLite "begin" listener.
_WRITE_OPTION = "wecare_write"
# session.info key: when the unit of work took its first hot counter row's lock (the
# wall clock's seconds, time.time(); set by mark_critical_section). Observed at its COMMIT
# as wecare_grant_critical_section_seconds.
CRITICAL_SECTION_START = "critical_section_start"


def mark_critical_section(session: AsyncSession, locked_at: float | None = None) -> None:
    """A hot counter row's lock is held from ``locked_at`` (PostgreSQL: the database's own
    clock when the row was locked, so that the time spent queueing for the lock does not
    count; default now): the time until COMMIT counts."""
    session.info.setdefault(CRITICAL_SECTION_START, time.time() if locked_at is None else locked_at)


def create_engine(
    settings: Settings, *, pooled: bool = True, request_timeouts: bool = True
) -> AsyncEngine:
    """Create the async engine for the configured database, tuned per dialect.

    ``pooled=False`` opens a connection per use: for callers that run each request on a
    new event loop (synchronous test clients), where pooled connections cannot follow.
    ``request_timeouts=False`` leaves out the statement and lock timeouts (migrations,
    whose DDL may rightly take longer than any request).
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database keeps SQLAlchemy's single-connection pool (one connection is
        # the whole database); a file gets the queue pool, counted.
        in_memory = not database or database == ":memory:" or "mode=memory" in database
        if not pooled:
            engine = create_async_engine(url, poolclass=NullPool)
        elif in_memory:
            engine = create_async_engine(url)
        else:
            engine = create_async_engine(url, poolclass=MeteredQueuePool)
        _configure_sqlite(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        return engine
    connect_args = _postgresql_connect_args(settings, request_timeouts=request_timeouts)
    if not pooled:
        return create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    return create_async_engine(
        url,
        connect_args=connect_args,
        poolclass=MeteredQueuePool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # No pre-ping (a SELECT 1 on every checkout); stale connections are recycled instead.
        pool_recycle=1800,
    )


def _postgresql_connect_args(settings: Settings, *, request_timeouts: bool) -> dict[str, Any]:
    """asyncpg's connect timeout, and the server-side timeouts set once per connection.

    Without lock_timeout every pooled connection would wait out a stuck lock (all 60 did, for
    30 s, in the security review); without statement_timeout a runaway query holds its
    connection for ever. Either answers 503 with Retry-After (app.db.faults).
    """
    args: dict[str, Any] = {"timeout": settings.db_connect_timeout_seconds}
    if request_timeouts:
        args["server_settings"] = {
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_lock_timeout_ms),
        }
    return args


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver: we emit BEGIN ourselves,
        # which also makes SAVEPOINT and transactional DDL behave.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """Hands out one session per unit of work, in a transaction that commits on success."""

    def __init__(self, engine: AsyncEngine, *, bind: AsyncConnection | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if bind is not None:
            # Tests: every session joins the test's outer transaction through a SAVEPOINT.
            shared = async_sessionmaker(
                bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            self._readers, self._snapshots, self._writers = shared, shared, shared
        else:
            # PostgreSQL readers run in autocommit: no BEGIN/COMMIT round trips for a GET
            # (each statement still reads a consistent snapshot). SQLite keeps BEGIN: its
            # readers are cheap and must not see a writer's half-done work.
            readers = (
                engine.execution_options(isolation_level="AUTOCOMMIT")
                if engine.dialect.name == "postgresql"
                else engine
            )
            self._readers = async_sessionmaker(readers, expire_on_commit=False)
            # In autocommit, each statement reads its own snapshot: a grant committed between
            # two statements of a report shows in one figure and not in the other. A snapshot
            # reader is one REPEATABLE READ, READ ONLY transaction (one snapshot for all its
            # statements, at the price of BEGIN and COMMIT). SQLite's readers already read one
            # snapshot from their first statement to COMMIT (WAL), so they serve as is.
            self._snapshots = (
                async_sessionmaker(
                    engine.execution_options(
                        isolation_level="REPEATABLE READ", postgresql_readonly=True
                    ),
                    expire_on_commit=False,
                )
                if engine.dialect.name == "postgresql"
                else self._readers
            )
            self._writers = async_sessionmaker(
                engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
            )

    @asynccontextmanager
    async def session(self, *, write: bool, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """Yield a session inside a transaction: commit on exit, roll back on error.

        ``snapshot`` (reads only): every statement sees the same committed state, for reads
        whose figures must agree with one another; plain reads need not pay for it.
        """
        maker = self._writers if write else self._snapshots if snapshot else self._readers
        # Autobegin rather than session.begin(): a request that never touches the database
        # (an anonymous caller's principal) pays no transaction bookkeeping; one that does
        # begins on first use and commits here. Leaving the block on an error rolls back.
        async with maker() as session:
            yield session
            if session.in_transaction():
                await session.commit()
            locked_since = session.info.pop(CRITICAL_SECTION_START, None)
            if locked_since is not None:
                metrics.record_grant_critical_section(max(0.0, time.time() - locked_since))

    async def dispose(self) -> None:
        await self.engine.dispose()
