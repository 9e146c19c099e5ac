"""A list's order and its opaque cursors, owned by the service that lists.

A :class:`SortKey` is the one definition of a list's order: the columns the repository
orders and seeks by (keyset, ``app.repositories.paging``), how the next cursor is read from
the last row shown, and how a cursor's parts are parsed back (by the columns' Python types).
Changing the order in one place changes all three.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any, Generic, TypeVar, cast

import orjson
from sqlalchemy.orm import QueryableAttribute

from app.core.errors import InvalidInput
from app.core.i18n import msg
from app.repositories.paging import Order
from app.schemas.page import Page, PageQuery

R = TypeVar("R")
T = TypeVar("T")

Parser = Callable[[str], Any]

_MAX_BIGINT = 2**63 - 1


def _invalid() -> InvalidInput:
    return InvalidInput(msg("The cursor is not valid; start again without it."), parameter="cursor")


def encode_cursor(*key: object) -> str:
    parts = [part.isoformat() if isinstance(part, datetime) else str(part) for part in key]
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def decode_cursor(cursor: str | None, *parsers: Parser) -> tuple[Any, ...] | None:
    """The sort key of the previous page's last row, parsed; None on the first page."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(key, list) or len(key) != len(parsers):
            raise _invalid()
        return tuple(parse(str(part)) for parse, part in zip(parsers, key, strict=True))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise _invalid() from error


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime in cursor")
    try:
        # In UTC here: an offset near datetime's limits would overflow at bind time (a 500).
        return parsed.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("datetime in cursor out of range") from error


def parse_bigint(value: str) -> int:
    """A cursor's sequence number; one beyond BIGINT would fail in the driver, not as a 422."""
    number = int(value)
    if not 0 <= number <= _MAX_BIGINT:
        raise ValueError("sequence number out of range")
    return number


_PARSERS: dict[type, Parser] = {
    str: str,
    uuid.UUID: uuid.UUID,
    datetime: parse_datetime,
    int: parse_bigint,
}


class SortKey(Generic[R]):
    """A list's order, defined once.

    ``columns``: what the repository orders and seeks by. A listed row gives its key by the
    columns' attribute names (an entity or a named row), by other ``names`` (a row whose
    fields are named differently), or by position among ``row_columns`` (plain tuples, as the
    hot lists fetch them).
    """

    def __init__(
        self,
        *columns: QueryableAttribute[Any],
        names: Sequence[str] | None = None,
        row_columns: Sequence[object] | None = None,
    ) -> None:
        self.columns: Order = columns
        self.parsers = tuple(_PARSERS[column.type.python_type] for column in columns)
        getter: Callable[[R], Any]
        if row_columns is not None:
            positions = [
                next(i for i, candidate in enumerate(row_columns) if candidate is column)
                for column in columns
            ]
            getter = cast("Callable[[R], Any]", itemgetter(*positions))
        else:
            getter = attrgetter(*(names or [column.key for column in columns]))
        self._get = getter
        self._single = len(columns) == 1

    def after(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The key to seek after, from the previous page's cursor; None on the first page."""
        return decode_cursor(cursor, *self.parsers)

    def key(self, row: R) -> tuple[object, ...]:
        value = self._get(row)
        return (value,) if self._single else tuple(value)

    def next_cursor(self, rows: Sequence[R], limit: int) -> str | None:
        """From ``limit + 1`` fetched rows: the cursor after the last one shown, if more."""
        if len(rows) > limit and limit > 0:
            return encode_cursor(*self.key(rows[limit - 1]))
        return None

    async def fetch(
        self, query: PageQuery, rows: Callable[..., Awaitable[Sequence[R]]]
    ) -> Sequence[R]:
        """``limit + 1`` rows after the query's cursor in this order: ``rows`` is the
        repository's page function, its filters bound, taking ``order``, ``after``, ``limit``."""
        return await rows(order=self.columns, after=self.after(query.cursor), limit=query.limit)

    async def page_of(
        self,
        query: PageQuery,
        rows: Callable[..., Awaitable[Sequence[R]]],
        item: Callable[[R], T],
    ) -> Page[T]:
        """A page of ``rows`` (see :meth:`fetch`), each shown as ``item``."""
        return self.page(await self.fetch(query, rows), query.limit, item)

    def page(self, rows: Sequence[R], limit: int, item: Callable[[R], T]) -> Page[T]:
        """The page from ``limit + 1`` fetched rows."""
        return Page(
            items=[item(row) for row in rows[:limit]], next_cursor=self.next_cursor(rows, limit)
        )

    def page_json(
        self,
        rows: Sequence[R],
        limit: int,
        item: Callable[[R], dict[str, Any]],
        total: int | None = None,
    ) -> bytes:
        """The page as JSON bytes, items already plain dicts: the hot lists skip the models.
        Same bytes as ``page(...).model_dump_json()`` (orjson: UTC as ``Z``, like Pydantic)."""
        body = {
            "items": [item(row) for row in rows[:limit]],
            "next_cursor": self.next_cursor(rows, limit),
            "total": total,
        }
        return orjson.dumps(body, option=orjson.OPT_UTC_Z)
