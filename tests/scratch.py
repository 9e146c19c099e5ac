"""A fresh, empty database of either backend for synchronous tests (the `wecare` command
runs its own event loop, so these cannot use the async fixtures)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.core.config import get_settings
from tests.conftest import POSTGRES_URL, server_or_skip


@contextmanager
def scratch_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards (SQLite: an empty file)."""
    name = f"wecare_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        path = tmp_path / f"{name}.sqlite3"
        path.touch()
        yield f"sqlite+aiosqlite:///{path}"
        return
    server_or_skip(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        server_or_skip(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def configured(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Iterator[None]:
    """The `wecare` command's settings from these WECARE_* variables, for the block only."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()
