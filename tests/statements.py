"""Counting the SQL statements a request runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import driver


@contextmanager
def counting(connection: AsyncConnection) -> Iterator[list[str]]:
    """Every statement sent on ``connection`` while the block runs: through SQLAlchemy
    (``before_cursor_execute``) and straight on the driver (the hot lists)."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    target = connection.sync_connection
    assert target is not None
    event.listen(target, "before_cursor_execute", record)
    try:
        with driver.observing(statements.append):
            yield statements
    finally:
        event.remove(target, "before_cursor_execute", record)


def queries(statements: list[str]) -> list[str]:
    """The statements that do the request's work: the test transaction's SAVEPOINT and
    RELEASE left out."""
    return [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]
