"""Keyset pagination: WHERE (sort, id) > (:last_sort, :last_id) ORDER BY sort, id LIMIT n.

No OFFSET: page 1000 costs what page 1 costs, given an index on (sort, id).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import QueryableAttribute

T = TypeVar("T", bound=Any)


def keyset(
    query: Select[T],
    order: tuple[QueryableAttribute[Any], ...],
    after: tuple[Any, ...] | None,
    limit: int,
) -> Select[T]:
    """One row more than ``limit`` is fetched, to know whether a next page exists."""
    if after is not None:
        query = query.where(tuple_(*order) > tuple_(*after))
    return query.order_by(*order).limit(limit + 1)
