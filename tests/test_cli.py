"""The wecare command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.cli import main
from app.core.config import Settings, get_settings
from app.db import migrations
from app.db.session import Database, create_engine
from app.main import create_app
from tests import ENGLISH
from tests.conftest import BACKENDS
from tests.live import PROJECT_ROOT
from tests.scratch import configured, scratch_database


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


def test_a_command_without_a_database_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from a directory without ./var/ (outside the checkout, say): one line naming the
    fix, exit 1, no traceback, and no empty database file left behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECARE_")}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "seed"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "wecare: there is no database at ./var/wecare.sqlite3: create it with "
        "`wecare db upgrade` (in the checkout, `make run` migrates, seeds and serves)"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("command", "revision"),
    [(["users", "create", "--email", "a@example.org"], None), (["keys", "list"], "0012")],
)
def test_a_command_on_an_unmigrated_database_names_the_fix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    backend: str,
    command: list[str],
    revision: str | None,
) -> None:
    with (
        scratch_database(backend, tmp_path) as url,
        configured(
            monkeypatch,
            WECARE_DATABASE_URL=url,
            WECARE_NEW_USER_PASSWORD="a long enough password",
        ),
    ):
        if revision is not None:
            assert main(["db", "upgrade", revision]) == 0
        capsys.readouterr()
        assert main(command) == 1
        (line,) = capsys.readouterr().err.splitlines()
        head = ", ".join(sorted(migrations.head_revisions()))
        state = "has no tables yet (it was never migrated)"
        if revision is not None:
            state = f"is at revision {revision}, the code needs {head}"
        shown = make_url(url).render_as_string(hide_password=True)
        assert line == f"wecare: the database {shown} {state}: run `wecare db upgrade` first"


def test_refused_settings_are_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WECARE_ENVIRONMENT", "production")
    monkeypatch.setenv("WECARE_SECRET_KEY", secrets.token_urlsafe(32))
    get_settings.cache_clear()
    try:
        assert main(["serve"]) == 2
        assert capsys.readouterr().err.splitlines() == [
            "wecare: WECARE_PUBLIC_BASE_URL must be set in production to the URL clients reach "
            "the service at (the OAuth issuer), e.g. https://wecare.example.org"
        ]
        monkeypatch.setenv("WECARE_PUBLIC_BASE_URL", "https://wecare.example.org")
        monkeypatch.setenv("WECARE_PORT", "eighty")
        get_settings.cache_clear()
        assert main(["keys", "list"]) == 2
        assert capsys.readouterr().err.splitlines() == [
            "wecare: WECARE_PORT: Input should be a valid integer, unable to parse string as "
            "an integer"
        ]
    finally:
        get_settings.cache_clear()


async def _first_login(url: str, email: str, password: str) -> tuple[dict[str, Any], ...]:
    """The JWKS, and the login of the first administrator, on the seeded database."""
    settings = Settings(database_url=url, auth_failure_delay_seconds=0)
    database = Database(create_engine(settings))
    transport = httpx.ASGITransport(app=create_app(settings, database))
    try:
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://testserver"
        ) as client:
            jwks = (await client.get("/.well-known/jwks.json")).json()
            login = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            )
            return jwks, login.json()
    finally:
        await database.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_publishes_a_signing_key_and_prints_the_first_login_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    with (
        scratch_database(backend, tmp_path) as url,
        configured(monkeypatch, WECARE_DATABASE_URL=url),
    ):
        assert main(["db", "upgrade"]) == 0
        capsys.readouterr()
        assert main(["seed"]) == 0
        first = capsys.readouterr().out
        email = re.search(r"e-mail: +(\S+)", first)
        password = re.search(r"one-time password: +(\S+)", first)
        assert email is not None
        assert password is not None
        assert email[1] == "admin@example.org"
        assert re.search(r"signing key \w+ created", first)
        assert main(["seed"]) == 0
        again = capsys.readouterr().out
        assert password[1] not in again
        assert "first administrator" not in again
        assert "signing key" not in again
        jwks, login = asyncio.run(_first_login(url, email[1], password[1]))
    assert [key["kty"] for key in jwks["keys"]] == ["RSA"]
    assert login["password_change_required"] is True
    assert login["scope"] == "password:change"


def test_the_first_administrators_address_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        scratch_database("sqlite", tmp_path) as url,
        configured(monkeypatch, WECARE_DATABASE_URL=url, WECARE_FIRST_ADMIN_EMAIL="root@x.test"),
    ):
        assert main(["db", "upgrade"]) == 0
        capsys.readouterr()
        # An address no login would accept is refused, and the seed with it: nothing changes.
        assert main(["seed"]) == 1
        assert (
            capsys.readouterr().err == "wecare seed: 'root@x.test' is not a valid e-mail address.\n"
        )
        monkeypatch.setenv("WECARE_FIRST_ADMIN_EMAIL", "Regione@Example.org")
        get_settings.cache_clear()
        assert main(["seed"]) == 0
        out = capsys.readouterr().out
        assert "e-mail:            regione@example.org" in out
        assert "programme WECARE loaded" in out
