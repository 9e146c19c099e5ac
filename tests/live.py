"""A real server in a subprocess (uvicorn, one or more workers) on a fresh database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.core.auth import Role
from app.core.config import Settings
from app.db.session import Database, create_engine
from app.services.users import create_user
from tests import ENGLISH
from tests.actors import PASSWORD
from tests.conftest import migrated_database

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 1,
    environment: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Start ``wecare serve`` and yield its base URL once /healthz answers; ``environment``
    adds settings (WECARE_...) of the server's own."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "WECARE_DATABASE_URL": database_url,
        "WECARE_PUBLIC_BASE_URL": base,
        "WECARE_LOG_LEVEL": "WARNING",
        **(environment or {}),
    }
    command = ["serve", "--port", str(port), "--workers", str(workers)]
    with serving(command, env, base, log_dir / f"server-{port}.log"):
        yield base


@contextmanager
def serving(
    arguments: Sequence[str], environment: Mapping[str, str], base: str, log_path: Path
) -> Iterator[None]:
    """Run ``wecare ARGUMENTS`` (the checkout's app.cli, as the installed script does) with
    ``environment`` added to this process's, until /healthz answers at ``base``."""
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environment},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Generous: every worker imports the app, and a shared two-core machine running the
        # suite may take most of half a minute to start four of them.
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within {STARTUP_SECONDS} s")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass(frozen=True)
class StormServer:
    """A live server for a storm: its database (also opened here, to arrange and to check)
    and a token of the role the storm acts as, obtained by logging in over HTTP; ``tokens``
    holds it under "main" and one per other named user the storm asked for."""

    backend: str
    url: str
    base: str
    database: Database
    token: str
    tokens: Mapping[str, str]


@asynccontextmanager
async def storm_server(
    backend: str,
    tmp_path: Path,
    *,
    role: Role,
    workers: int = 4,
    others: Mapping[str, Role] | None = None,
) -> AsyncIterator[StormServer]:
    """A fresh migrated database (a copy of the run's template), a user of ``role`` (an
    officer grants; an administrator may act for any applicant) and one user per entry of
    ``others`` (name: role), and ``wecare serve --workers N`` on it, for a module's storms.

    Hundreds of writers queue on one row (PostgreSQL) or on BEGIN IMMEDIATE (SQLite), and
    for a worker's pooled connections: the lock, statement, busy and pool timeouts let them wait
    instead of being shed with a 503, which a storm on a loaded machine would otherwise
    meet (a storm proves the caps, not the timeouts)."""
    url, drop = await migrated_database(backend, tmp_path)
    database = Database(create_engine(Settings(database_url=url)))
    people = {"main": role, **(others or {})}
    emails = {name: f"{name}-{uuid.uuid4().hex[:6]}@example.org" for name in people}
    try:
        async with database.session(write=True) as session:
            for name, person_role in people.items():
                await create_user(
                    session,
                    email=emails[name],
                    display_name=f"Storm {name} ({person_role})",
                    password=PASSWORD,
                    role=person_role,
                    organisation_ids=[],
                )
        environment = {
            "WECARE_SQLITE_BUSY_TIMEOUT_MS": "60000",
            "WECARE_DB_LOCK_TIMEOUT_MS": "60000",
            # Above the lock timeout: a statement queued behind the lock is not cancelled
            # first (the default 30 s cut two of 400 receipts on a loaded machine).
            "WECARE_DB_STATEMENT_TIMEOUT_MS": "120000",
            "WECARE_DB_POOL_TIMEOUT_SECONDS": "60",
        }
        with live_server(url, tmp_path, workers=workers, environment=environment) as base:
            tokens = {}
            async with httpx.AsyncClient(headers=ENGLISH, base_url=base, timeout=30) as client:
                for name, email in emails.items():
                    login = await client.post(
                        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                    )
                    assert login.status_code == 200, login.text
                    tokens[name] = str(login.json()["access_token"])
            yield StormServer(backend, url, base, database, tokens["main"], tokens)
    finally:
        await database.dispose()
        await drop()  # type: ignore[misc]
