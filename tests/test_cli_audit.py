"""`wecare audit verify`: exit 0 on an intact chain, exit 1 naming the first broken event
and every checkpoint the trail contradicts; `wecare audit checkpoint`; on each backend (a
database of its own, committed by the commands like in production)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.cli import main
from app.core import security
from app.core.config import get_settings
from app.models.audit import GENESIS_HASH
from tests.conftest import BACKENDS, POSTGRES_URL, on_server, server_or_skip
from tests.tamper import lift_audit_guards

INTACT = re.compile(r"audit chain intact: (\d+) events, head seq (\d+), (\d+) checkpoints \(")


@pytest.fixture(params=BACKENDS)
def cli_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated database named by WECARE_DATABASE_URL, as the command reads it."""
    name = f"wecare_test_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/audit.sqlite3"
    else:
        server_or_skip(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    monkeypatch.setenv("WECARE_DATABASE_URL", url)
    monkeypatch.setenv("WECARE_NEW_USER_PASSWORD", "a very long password")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        yield url
    finally:
        get_settings.cache_clear()
        if request.param == "postgresql":
            asyncio.run(on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _forge(url: str, seq: int) -> None:
    """Rewrite one event's content behind the guard's back (committed, as an intruder would)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
                )
            else:
                await conn.execute(text("DROP TRIGGER audit_event_append_only_update"))
            await conn.execute(
                text('UPDATE audit_event SET after = \'{"email":"x@example.org"}\' WHERE seq = :s'),
                {"s": seq},
            )
    finally:
        await engine.dispose()


def _intact(out: str) -> tuple[int, int]:
    found = INTACT.search(out)
    assert found, out
    return int(found[1]), int(found[2])


def test_an_empty_chain_is_intact(cli_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert _intact(capsys.readouterr().out) == (0, 0)


def test_exit_0_when_intact_then_1_naming_the_forged_event(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        assert main(["users", "create", "--email", f"user{n}@example.org"]) == 0
    capsys.readouterr()

    assert main(["audit", "verify"]) == 0
    events, head = _intact(capsys.readouterr().out)
    assert events == head == 3

    asyncio.run(_forge(cli_database, 2))
    assert main(["audit", "verify"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.strip() == "BROKEN at seq 2: hash does not match the event's content"


async def _truncate(url: str) -> None:
    """Empty the trail and reset its head, as the owner would, past the guards (committed)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await lift_audit_guards(conn)
            await conn.execute(text("DELETE FROM audit_event"))
            await conn.execute(
                text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": GENESIS_HASH}
            )
    finally:
        await engine.dispose()


async def _jwks(url: str) -> dict[str, object]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT public_jwk FROM signing_key"))).scalars()
            return {"keys": [json.loads(r) if isinstance(r, str) else r for r in rows]}
    finally:
        await engine.dispose()


def _checkpointed(capsys: pytest.CaptureFixture[str]) -> int:
    for n in range(2):
        assert main(["users", "create", "--email", f"user{n}@example.org"]) == 0
    capsys.readouterr()
    assert main(["audit", "checkpoint"]) == 0
    printed = capsys.readouterr().out
    found = re.match(r"checkpoint at seq (\d+) signed\n(\S+)\n", printed)
    assert found, printed
    assert main(["audit", "checkpoint"]) == 0  # its own event moved the head: signed again
    assert re.match(r"checkpoint at seq \d+ signed", capsys.readouterr().out)
    return int(found[1])


def test_verify_checks_every_checkpoint_and_names_a_truncation(
    cli_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = _checkpointed(capsys)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert _intact(out) == (seq + 2, seq + 2)
    assert ", 2 checkpoints (" in out

    asyncio.run(_truncate(cli_database))
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"BROKEN checkpoint {s}: the trail ends at seq 0, below the checkpoint "
        "(truncated, or its last events dropped)"
        for s in (seq, seq + 1)
    ]


def test_verify_against_a_jwks_kept_elsewhere(
    cli_database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seq = _checkpointed(capsys)
    kept = tmp_path / "jwks.json"
    kept.write_text(json.dumps(asyncio.run(_jwks(cli_database))))
    assert main(["audit", "verify", "--jwks", str(kept)]) == 0
    capsys.readouterr()

    other = security.generate_signing_key("x" * 40).public_jwk
    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps({"keys": [other]}))
    assert main(["audit", "verify", "--jwks", str(stranger)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"BROKEN checkpoint {seq}: forged signature (signed with an unknown")

    (tmp_path / "broken.json").write_text("{")
    assert main(["audit", "verify", "--jwks", str(tmp_path / "broken.json")]) == 2
    assert "cannot read the JWKS" in capsys.readouterr().err
