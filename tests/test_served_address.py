"""`make run` and `wecare serve` listen where WECARE_HOST and WECARE_PORT say, and the OAuth
issuer and every discovery URL follow, without WECARE_PUBLIC_BASE_URL."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from app.db import migrations
from app.db.session import create_engine
from tests.live import PROJECT_ROOT, free_port, serving


def makefile_serve_arguments() -> list[str]:
    """The arguments `make run` gives `wecare serve`, read from the Makefile by make itself."""
    dry_run = subprocess.run(
        ["make", "--dry-run", "run"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (line,) = [line for line in dry_run.stdout.splitlines() if "wecare serve" in line]
    program, *arguments = shlex.split(line)
    assert program == ".venv/bin/wecare"
    return arguments


async def _migrated(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("how", ["make run", "serve --port"])
def test_the_issuer_follows_the_port(tmp_path: Path, how: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/wecare.sqlite3"
    asyncio.run(_migrated(url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # No WECARE_PUBLIC_BASE_URL (the suite removes the shell's): only the port is given.
    env = {"WECARE_DATABASE_URL": url, "WECARE_LOG_LEVEL": "WARNING"}
    if how == "make run":
        arguments = makefile_serve_arguments()
        env["WECARE_PORT"] = str(port)
    else:
        arguments = ["serve", "--port", str(port)]
    with serving(arguments, env, base, tmp_path / "server.log"):
        metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
        jwks = httpx.get(f"{base}/.well-known/jwks.json").json()
    assert metadata["issuer"] == base
    # Migrated, never seeded, no token issued yet: the server made a key at its start.
    assert [key["kty"] for key in jwks["keys"]] == ["RSA"]
    urls = {name: value for name, value in metadata.items() if name.endswith(("_endpoint", "_uri"))}
    assert urls == {
        "token_endpoint": f"{base}/api/v1/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/api/v1/oauth/revoke",
        "introspection_endpoint": f"{base}/api/v1/oauth/introspect",
    }
    assert metadata["service_documentation"] == f"{base}/docs"


def test_serve_on_an_unmigrated_database_warns_in_one_line_and_starts(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/never-migrated.sqlite3"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {"WECARE_DATABASE_URL": url, "WECARE_LOG_LEVEL": "WARNING"}
    with serving(["serve", "--port", str(port)], env, base, log):
        ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 503
    # One warning line in the server's own log format (text here, JSON in production).
    first = log.read_text().splitlines()[0]
    assert "[warning" in first
    assert "[wecare.cli]" in first
    assert (
        f"there is no database at {tmp_path}/never-migrated.sqlite3: create "
        "it with `wecare db upgrade` (in the checkout, `make run` migrates, seeds and serves)"
    ) in first
    # The signing key it would make at its start waits for the migration (logged, whatever
    # the log format, with the database's reason).
    assert "no signing key created at start: " in log.read_text()
