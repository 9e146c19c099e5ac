"""``wecare prune``: expired rows go, rows that still matter stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli import main
from app.core.auth import Role
from app.core.config import Settings, get_settings
from app.models import (
    ClientAuthFailure,
    IdempotencyKey,
    LoginFailure,
    RefreshToken,
    RevokedToken,
)
from app.services.housekeeping import MARGIN, prune
from app.services.users import create_user

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_prune_keeps_what_still_matters(session: AsyncSession, settings: Settings) -> None:
    user = await create_user(
        session,
        email="prune@example.org",
        display_name="Prune",
        password="a long enough password",
        role=Role.APPLICANT,
        organisation_ids=[],
    )
    window = timedelta(seconds=settings.login_failure_window_seconds)
    # For each table: a row just past its keep-until instant (goes) and one just before (stays).
    cutoff = {"expiry": NOW - MARGIN, "failure": NOW - window - MARGIN}
    second = timedelta(seconds=1)
    for n, expires in enumerate((cutoff["expiry"] - second, cutoff["expiry"] + second)):
        session.add(
            IdempotencyKey(
                id=uuid.uuid4(),
                actor="user:x",
                key=f"k{n}",
                request_hash="0" * 64,
                response_status=201,
                response_body="{}",
                response_headers={},
                created_at=expires - timedelta(days=1),
                expires_at=expires,
            )
        )
        session.add(RevokedToken(jti=f"jti-{n}", expires_at=expires))
        session.add(
            RefreshToken(
                id=uuid.uuid4(),
                user_id=user.id,
                family_id=uuid.uuid4(),
                token_hash=f"{n:064d}",
                expires_at=expires,
            )
        )
    for failed_at in (cutoff["failure"] - second, cutoff["failure"] + second):
        session.add(
            LoginFailure(
                id=uuid.uuid4(), email="prune@example.org", address="192.0.2.1", failed_at=failed_at
            )
        )
        session.add(ClientAuthFailure(id=uuid.uuid4(), address="192.0.2.1", failed_at=failed_at))
    await session.flush()

    deleted = await prune(session, settings, now=NOW)

    assert deleted == {
        "idempotency_key": 1,
        "revoked_token": 1,
        "refresh_token": 1,
        "login_failure": 1,
        "client_auth_failure": 1,
    }
    for model in (IdempotencyKey, RevokedToken, RefreshToken, LoginFailure, ClientAuthFailure):
        assert await session.scalar(select(func.count()).select_from(model)) == 1
    assert await session.scalar(select(RevokedToken.jti)) == "jti-1"
    assert await session.scalar(select(LoginFailure.failed_at)) == cutoff["failure"] + second
    assert await session.scalar(select(ClientAuthFailure.failed_at)) == cutoff["failure"] + second


def test_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WECARE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/prune.sqlite3")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        capsys.readouterr()
        assert main(["prune"]) == 0
        assert capsys.readouterr().out.strip() == (
            "deleted 0 idempotency_key, 0 revoked_token, 0 refresh_token, 0 login_failure, "
            "0 client_auth_failure, 0 document"
        )
    finally:
        get_settings.cache_clear()
