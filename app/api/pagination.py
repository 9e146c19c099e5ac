"""Keyset pagination parameters and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Query

from app.core.errors import InvalidInput
from app.schemas.page import Page

R = TypeVar("R")
T = TypeVar("T")

Parser = Callable[[str], Any]


def _invalid() -> InvalidInput:
    return InvalidInput("The cursor is not valid; start again without it.")


class PageParams:
    def __init__(self, limit: int = 50, cursor: str | None = None) -> None:
        self.limit = limit
        self.cursor = cursor

    def after(self, *parsers: Parser) -> tuple[Any, ...] | None:
        """The sort key of the previous page's last row, parsed; None on the first page."""
        if self.cursor is None:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            key = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(key, list) or len(key) != len(parsers):
                raise _invalid()
            return tuple(parse(str(part)) for parse, part in zip(parsers, key, strict=True))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
            raise _invalid() from error

    def after_id(self) -> uuid.UUID | None:
        key = self.after(uuid.UUID)
        return None if key is None else key[0]

    def page(
        self,
        rows: Sequence[R],
        *,
        key: Callable[[R], Sequence[object]],
        item: Callable[[R], T],
    ) -> Page[T]:
        """Build the page from ``limit + 1`` fetched rows."""
        more = len(rows) > self.limit
        shown = rows[: self.limit]
        return Page(
            items=[item(row) for row in shown],
            next_cursor=encode_cursor(*key(shown[-1])) if more and shown else None,
        )

    def page_json(
        self,
        rows: Sequence[R],
        *,
        key: Callable[[R], Sequence[object]],
        item: Callable[[R], dict[str, Any]],
        total: int | None = None,
    ) -> bytes:
        """The page as JSON bytes, items already plain dicts: the hot lists skip the models.
        Same bytes as ``page(...).model_dump_json()`` (orjson: UTC as ``Z``, like Pydantic)."""
        more = len(rows) > self.limit
        shown = rows[: self.limit]
        body = {
            "items": [item(row) for row in shown],
            "next_cursor": encode_cursor(*key(shown[-1])) if more and shown else None,
            "total": total,
        }
        return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def encode_cursor(*key: object) -> str:
    parts = [part.isoformat() if isinstance(part, datetime) else str(part) for part in key]
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime in cursor")
    try:
        # In UTC here: an offset near datetime's limits would overflow at bind time (a 500).
        return parsed.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("datetime in cursor out of range") from error


# Dependencies are coroutines: FastAPI runs a plain function (or a class) in a worker thread,
# which cost more than the whole query on a list page.
async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=500, description="Opaque: the next_cursor of the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit, cursor)


PageDep = Annotated[PageParams, Depends(page_params)]
