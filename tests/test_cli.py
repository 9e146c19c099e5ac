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


def test_check_finds_a_counter_that_disagrees_with_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    path = tmp_path / "check.sqlite3"
    monkeypatch.setenv("WECARE_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        assert main(["seed"]) == 0
        capsys.readouterr()
        assert main(["check"]) == 0
        assert "every counter equals the sum of its rows" in capsys.readouterr().out

        with sqlite3.connect(path) as db:
            code = db.execute("SELECT code FROM measure ORDER BY code LIMIT 1").fetchone()[0]
            db.execute("UPDATE measure SET allocated_cents = 1 WHERE code = ?", (code,))
        assert main(["check"]) == 1
        mismatches = capsys.readouterr().err.splitlines()
        assert mismatches == [f"MISMATCH measure {code}: allocated_cents is 1, the rows say 0"]
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "command", [["clients", "create", "--help"], ["users", "create", "--help"]]
)
def test_help_shows_values_not_enum_reprs(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(command)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "<" not in out
    assert "Scope." not in out
    assert "Role." not in out
    if command[0] == "clients":
        # argparse wraps the help text: compare it with the line breaks taken out.
        flat = " ".join(out.split())
        assert "allocations:read, organisations:read, pledges:read, pledges:write" in flat
    else:
        assert "{administrator,officer,reviewer,applicant}" in out
