"""Keyset pagination parameters, for the lists not yet read through their service.

The cursors themselves (and a list's order, :class:`app.services.paging.SortKey`) belong
to the services; a converted list takes ``limit`` and ``cursor`` in its query model.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from app.schemas.page import Page
from app.services.paging import Parser, decode_cursor, encode_cursor, parse_datetime

__all__ = ["PageDep", "PageParams", "encode_cursor", "page_params", "parse_datetime"]

R = TypeVar("R")
T = TypeVar("T")


class PageParams:
    def __init__(self, limit: int = 50, cursor: str | None = None) -> None:
        self.limit = limit
        self.cursor = cursor

    def after(self, *parsers: Parser) -> tuple[Any, ...] | None:
        """The sort key of the previous page's last row, parsed; None on the first page."""
        return decode_cursor(self.cursor, *parsers)

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
