"""Tell a database that is down, full or busy from a bug: the first is worth a retry.

Drivers raise these in several shapes (a DBAPIError wrapping asyncpg's or sqlite3's error,
SQLAlchemy's own pool TimeoutError, a bare OSError from the socket on connect); this module
reduces them to one answer, :class:`DatabaseFault`, or None for anything else.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATEs meaning "not now" rather than "never": the same statement may well succeed later.
_TRANSIENT_SQLSTATES = {
    "53300": "too many connections",  # too_many_connections
    "53400": "configuration limit exceeded",
    "55P03": "lock timeout",  # lock_not_available (lock_timeout, NOWAIT)
    "57014": "statement timeout",  # query_canceled (statement_timeout)
    "57P01": "server shutting down",  # admin_shutdown
    "57P02": "server crashed",  # crash_shutdown
    "57P03": "server cannot accept connections now",  # cannot_connect_now (starting up)
}
# A table or column the code needs is missing: the database has not been migrated to this
# release (`wecare db upgrade`), an operator's step rather than a bug in the request.
_SCHEMA_BEHIND_SQLSTATES = {"42P01", "42703"}  # undefined_table, undefined_column
_SCHEMA_BEHIND_MESSAGES = ("no such table", "no such column")  # SQLite's wording
SCHEMA_BEHIND = "database schema is not migrated to this release: run `wecare db upgrade`"
# Class 08: connection exceptions (the connection failed or was lost).
_CONNECTION_CLASS = "08"
# Modules whose OSErrors are the database's socket, not a file of ours.
_DRIVER_MODULES = ("asyncpg", "sqlalchemy", "aiosqlite", "sqlite3")


@dataclass(frozen=True)
class DatabaseFault:
    """Why the database could not serve the request, and when a retry makes sense."""

    reason: str
    retry_after: int


# Seconds a client should wait: a lost server takes longer to come back than a lock.
RETRY_AFTER_BUSY = 2
RETRY_AFTER_DOWN = 5
RETRY_AFTER_UNMIGRATED = 30


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a DBAPIError from asyncpg (through SQLAlchemy's adaptor)."""
    for candidate in (error, getattr(error, "orig", None), getattr(error, "__cause__", None)):
        for layer in (candidate, getattr(candidate, "__cause__", None)):
            state = getattr(layer, "sqlstate", None)
            if isinstance(state, str) and state:
                return state
    return ""


def _from_driver(error: BaseException) -> bool:
    """Whether the error was raised inside the database driver or SQLAlchemy."""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".", 1)[0] in _DRIVER_MODULES:
            return True
    return False


def database_fault(error: BaseException) -> DatabaseFault | None:
    """The fault if ``error`` (or what caused it) says the database is unreachable,
    exhausted or busy; None for everything else (a bug stays a 500)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        fault = _classify(current)
        if fault is not None:
            return fault
        current = current.__cause__ or current.__context__
    return None


def _classify(error: BaseException) -> DatabaseFault | None:
    if isinstance(error, PoolTimeoutError):
        return DatabaseFault("connection pool exhausted", RETRY_AFTER_BUSY)
    if isinstance(error, DBAPIError):
        state = _sqlstate(error)
        if state in _TRANSIENT_SQLSTATES:
            delay = RETRY_AFTER_BUSY if state in ("55P03", "57014") else RETRY_AFTER_DOWN
            return DatabaseFault(_TRANSIENT_SQLSTATES[state], delay)
        if state.startswith(_CONNECTION_CLASS) or error.connection_invalidated:
            return DatabaseFault("connection to the database lost", RETRY_AFTER_DOWN)
        message = str(error.orig).lower()
        if state in _SCHEMA_BEHIND_SQLSTATES or message.startswith(_SCHEMA_BEHIND_MESSAGES):
            return DatabaseFault(SCHEMA_BEHIND, RETRY_AFTER_UNMIGRATED)
        if "database is locked" in message or "database table is locked" in message:
            return DatabaseFault("database is locked", RETRY_AFTER_BUSY)
        if "connection is closed" in message or "connection was closed" in message:
            return DatabaseFault("connection to the database lost", RETRY_AFTER_DOWN)
        return None
    if isinstance(error, OSError) and _from_driver(error):
        # ConnectionRefusedError, a name that does not resolve, a connect timeout.
        return DatabaseFault(f"cannot connect to the database ({error})", RETRY_AFTER_DOWN)
    state = _sqlstate(error)  # asyncpg's own errors, unwrapped (raised on connect)
    if state in _TRANSIENT_SQLSTATES:
        return DatabaseFault(_TRANSIENT_SQLSTATES[state], RETRY_AFTER_DOWN)
    if state.startswith(_CONNECTION_CLASS):
        return DatabaseFault("connection to the database lost", RETRY_AFTER_DOWN)
    return None
