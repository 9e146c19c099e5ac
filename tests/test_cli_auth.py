"""The wecare commands for keys, clients and users."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from app.cli import main
from app.core.config import get_settings


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WECARE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_database")
def test_keys_rotate_list_retire(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "rotate"]) == 0
    assert main(["keys", "rotate"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert len(listed) == 2
    assert all(line.endswith("active") for line in listed)
    oldest = listed[-1].split("\t")[0]
    assert main(["keys", "retire", oldest]) == 0
    assert main(["keys", "list"]) == 0
    assert "retired" in capsys.readouterr().out
    newest = listed[0].split("\t")[0]
    assert main(["keys", "retire", newest]) == 1  # the only active key: refused
    assert "rotate first" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_database")
def test_clients_create_prints_the_secret_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "create", "--name", "CRT", "--scopes", "allocations:read"]) == 0
    out = capsys.readouterr().out
    assert "client_id=wcc_" in out
    assert "client_secret=" in out
    assert main(["clients", "create", "--name", "X", "--scopes", "allocations:write"]) == 1
    assert (
        main(
            [
                "clients",
                "create",
                "--name",
                "X",
                "--scopes",
                "allocations:read",
                "--organisation",
                "80087670016",
            ]
        )
        == 1
    )
    assert "No organisation" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_database")
def test_clients_rotate_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """A new secret authenticates, the old one no longer does (after a leak, or after a
    change of WECARE_SECRET_KEY, which invalidates every stored client secret)."""
    import asyncio

    from app.core.security import client_secret_pepper, verify_client_secret
    from app.db.session import Database, create_engine
    from app.repositories import auth as repo

    assert main(["clients", "create", "--name", "CRT", "--scopes", "allocations:read"]) == 0
    created = dict(
        line.split("=", 1) for line in capsys.readouterr().out.splitlines() if "=" in line
    )
    assert main(["clients", "rotate-secret", created["client_id"]]) == 0
    rotated = dict(
        line.split("=", 1) for line in capsys.readouterr().out.splitlines() if "=" in line
    )
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]

    async def stored() -> str:
        database = Database(create_engine(get_settings()))
        try:
            async with database.session(write=False) as session:
                client = await repo.get_client_by_client_id(session, created["client_id"])
                assert client is not None
                return client.secret_hash
        finally:
            await database.dispose()

    secret_hash = asyncio.run(stored())
    pepper = client_secret_pepper(get_settings().secret)
    assert verify_client_secret(rotated["client_secret"], secret_hash, pepper)
    assert not verify_client_secret(created["client_secret"], secret_hash, pepper)
    assert main(["clients", "rotate-secret", "wcc_nobody"]) == 1
    assert "No client wcc_nobody" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_database")
def test_users_create(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECARE_NEW_USER_PASSWORD", "a very long password")
    assert main(["users", "create", "--email", "Admin@Example.org"]) == 0
    assert "admin@example.org (administrator)" in capsys.readouterr().out
    assert main(["users", "create", "--email", "admin@example.org"]) == 1
    monkeypatch.setenv("WECARE_NEW_USER_PASSWORD", "short")
    assert main(["users", "create", "--email", "b@example.org"]) == 1


def test_key_ids_are_safe_command_line_arguments() -> None:
    """A kid never starts with '-', which `wecare keys retire KID` would read as an option."""
    from app.core.security import generate_signing_key

    kids = {generate_signing_key("a" * 32).kid for _ in range(20)}
    assert all(re.fullmatch(r"[0-9a-f]{24}", kid) for kid in kids)
    assert len(kids) == 20


# What the login refuses, `wecare users create` refuses too: an account it created could
# never log in. Special-use domains (.test, .localhost, ...) are not deliverable addresses.
@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("admin@x.test", False),
        ("root@localhost", False),
        ("officer@regione.invalid", False),
        ("no-at-sign.example.org", False),
        ("two@@example.org", False),
        ("Maria.Rossi@Regione.Piemonte.it", True),
    ],
)
@pytest.mark.usefixtures("cli_database")
def test_users_create_and_login_share_one_e_mail_rule(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    email: str,
    valid: bool,
) -> None:
    from app.schemas.auth import LoginRequest

    try:
        LoginRequest(email=email, password="x")
        login_accepts = True
    except ValueError:
        login_accepts = False
    assert login_accepts is valid
    monkeypatch.setenv("WECARE_NEW_USER_PASSWORD", "a very long password")
    assert (main(["users", "create", "--email", email]) == 0) is valid
    if not valid:
        assert "not a valid e-mail address" in capsys.readouterr().err
        return
    # The account's audit event names it without its address (the display name included).
    with closing(sqlite3.connect(tmp_path / "cli.sqlite3")) as db:
        query = "SELECT after FROM audit_event WHERE action = 'user.create'"
        (after,) = db.execute(query).fetchone()
    assert "@" not in after
    assert '"display_name":"Maria.Rossi"' in after
