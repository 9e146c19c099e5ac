"""Which database guard fired: the constraint or index name behind an IntegrityError."""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.exc import IntegrityError

from app.db.base import Base

_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w., ]+)")


@lru_cache
def _unique_names_by_columns(tables: int) -> dict[str, str]:
    """SQLite names unique violations by columns ("t.a, t.b"); map them back to names.

    Keyed by the number of registered tables: the models register them (importing any model
    imports them all, app/models/__init__.py), and this layer may not import the models.
    """
    found: dict[str, str] = {}
    for table in Base.metadata.tables.values():
        candidates: list[tuple[str | None, list[str]]] = [
            (index.name, [c.name for c in index.columns])
            for index in table.indexes
            if isinstance(index, Index) and index.unique
        ]
        candidates += [
            (str(c.name), [col.name for col in c.columns])
            for c in table.constraints
            if isinstance(c, UniqueConstraint)
        ]
        for name, columns in candidates:
            if name:
                found[", ".join(f"{table.name}.{col}" for col in columns)] = str(name)
    return found


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint or unique index that refused the write, if known."""
    cause = getattr(error.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)  # asyncpg
    if isinstance(name, str):
        return name
    message = str(error.orig)
    if match := _SQLITE_CHECK.search(message):
        return match.group(1)
    if match := _SQLITE_UNIQUE.search(message):
        names = _unique_names_by_columns(len(Base.metadata.tables))
        return names.get(match.group(1).strip())
    return None
