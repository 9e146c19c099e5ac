"""The wecare command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.config import get_settings


def test_openapi_export_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "out" / "openapi.json"
    assert main(["openapi", "export", "--output", str(target)]) == 0
    assert json.loads(target.read_text())["openapi"].startswith("3.")


def test_db_upgrade_and_downgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECARE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        assert main(["db", "downgrade", "base"]) == 0
    finally:
        get_settings.cache_clear()


def test_unknown_command_exits_with_usage() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2
