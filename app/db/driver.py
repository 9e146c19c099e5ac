"""Hot reads on the driver: a Core statement compiled once, executed on asyncpg directly.

SQLAlchemy's execution path (cache key, execution context, row and type processing) costs
about 1 ms on a page of 50 rows: three times the query itself on asyncpg. The public lists
that dominate traffic therefore build their statement once per shape (which filters are
present), with named bind parameters, compile it once per dialect, and run it on the asyncpg
connection that lies under the request's SQLAlchemy connection: the same connection, so the
request's transaction (and, in tests, the test's outer transaction) applies.

PostgreSQL only: elsewhere :meth:`PreparedRead.fetch` runs the same statement through
SQLAlchemy, so the SQL is written once and both paths return rows with the columns in the
same order.
SQLAlchemy's events do not see the driver's statements: :func:`observing` does (the tests
and the benchmark count statements per request with both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.ext.asyncio import AsyncSession

_observers: list[Callable[[str], None]] = []


@contextmanager
def observing(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(sql)`` for every statement run on the driver while the block runs."""
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for asyncpg: its SQL, its parameters in order, their encoders."""

    sql: str
    names: tuple[str, ...]
    encoders: tuple[Callable[[Any], Any] | None, ...]
    defaults: Mapping[str, Any]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        merged = {**self.defaults, **values}
        return [
            merged[name] if encode is None else encode(merged[name])
            for name, encode in zip(self.names, self.encoders, strict=True)
        ]


def compile_for_driver(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> DriverStatement:
    """Compile once; values bound in the statement itself (``status = 'active'``) are kept."""
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    for bind in binds:
        if bind.expanding:
            raise ValueError(f"{bind.key}: an IN list cannot be precompiled for the driver")
    return DriverStatement(
        sql=compiled.string,
        names=names,
        encoders=tuple(bind.type.bind_processor(dialect) for bind in binds),
        defaults={
            name: bind.effective_value
            for name, bind in zip(names, binds, strict=True)
            if not bind.required
        },
    )


class PreparedRead:
    """A read statement with named parameters, compiled lazily for PostgreSQL's driver."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._driver: DriverStatement | None = None

    async def fetch(self, session: AsyncSession, values: Mapping[str, Any]) -> Sequence[Any]:
        """Rows as tuples (asyncpg records on PostgreSQL, SQLAlchemy rows elsewhere)."""
        connection = await session.connection()
        if connection.dialect.name != "postgresql":
            return list(await connection.execute(self.statement, dict(values)))
        if self._driver is None:
            self._driver = compile_for_driver(self.statement, connection.dialect)
        for observe in _observers:
            observe(self._driver.sql)
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        rows: Sequence[Any] = await driver.fetch(self._driver.sql, *self._driver.arguments(values))
        return rows
