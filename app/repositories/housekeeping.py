"""Deleting rows that have served their purpose: expired idempotency keys, revocations and
refresh tokens of expired tokens, login and client-authentication failures outside the
rate-limit window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.auth import ClientAuthFailure, LoginFailure, RefreshToken, RevokedToken
from app.models.idempotency import IdempotencyKey


async def prune(
    session: AsyncSession, *, expired_before: datetime, failed_before: datetime
) -> dict[str, int]:
    """Rows deleted per table."""
    statements = {
        "idempotency_key": delete(IdempotencyKey).where(
            IdempotencyKey.expires_at <= expired_before
        ),
        "revoked_token": delete(RevokedToken).where(RevokedToken.expires_at <= expired_before),
        "refresh_token": delete(RefreshToken).where(RefreshToken.expires_at <= expired_before),
        "login_failure": delete(LoginFailure).where(LoginFailure.failed_at <= failed_before),
        "client_auth_failure": delete(ClientAuthFailure).where(
            ClientAuthFailure.failed_at <= failed_before
        ),
    }
    deleted = {}
    for table, statement in statements.items():
        result = await session.execute(statement)
        deleted[table] = int(getattr(result, "rowcount", 0) or 0)
    return deleted
