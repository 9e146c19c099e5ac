"""Keyset pagination: WHERE (sort, id) > (:last_sort, :last_id) ORDER BY sort, id LIMIT n.

No OFFSET: page 1000 costs what page 1 costs, given an index on (sort, id).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Integer, Select, bindparam, tuple_
from sqlalchemy.orm import QueryableAttribute

T = TypeVar("T", bound=Any)

# A list's order: the columns of its sort key, the last one unique (the service's SortKey).
Order = tuple[QueryableAttribute[Any], ...]


def keyset(
    query: Select[T],
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> Select[T]:
    """One row more than ``limit`` is fetched, to know whether a next page exists."""
    if after is not None:
        query = query.where(tuple_(*order) > tuple_(*after))
    return query.order_by(*order).limit(limit + 1)


def keyset_bound(
    query: Select[*tuple[Any, ...]], order: Order, *, after: bool
) -> Select[*tuple[Any, ...]]:
    """:func:`keyset` with named parameters (``after_0``.., ``limit``), for a statement built
    once per shape and run many times; :func:`keyset_values` gives the values."""
    if after:
        bounds = [bindparam(f"after_{i}", type_=column.type) for i, column in enumerate(order)]
        query = query.where(tuple_(*order) > tuple_(*bounds))
    return query.order_by(*order).limit(bindparam("limit", type_=Integer))


def keyset_values(after: tuple[Any, ...] | None, limit: int) -> dict[str, Any]:
    values: dict[str, Any] = {f"after_{i}": value for i, value in enumerate(after or ())}
    return values | {"limit": limit + 1}
