"""Queries on accounts, clients, keys and tokens."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.auth import (
    ClientAuthFailure,
    LoginFailure,
    OAuthClient,
    RefreshToken,
    RevokedToken,
    SigningKeyRow,
    UserAccount,
    UserMembership,
)
from app.repositories.paging import Order, keyset


async def get_client_by_client_id(session: AsyncSession, client_id: str) -> OAuthClient | None:
    return await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


async def get_client(session: AsyncSession, id: uuid.UUID) -> OAuthClient | None:
    return await session.get(OAuthClient, id)


async def page_clients(
    session: AsyncSession, *, order: Order, after: tuple[Any, ...] | None, limit: int
) -> list[OAuthClient]:
    return list(await session.scalars(keyset(select(OAuthClient), order, after, limit)))


async def get_user(session: AsyncSession, id: uuid.UUID) -> UserAccount | None:
    return await session.get(UserAccount, id)


async def any_user(session: AsyncSession) -> bool:
    """Whether any account exists (a fresh database has none)."""
    return await session.scalar(select(UserAccount.id).limit(1)) is not None


async def get_user_by_email(session: AsyncSession, email: str) -> UserAccount | None:
    return await session.scalar(select(UserAccount).where(UserAccount.email == email))


async def page_users(
    session: AsyncSession, *, order: Order, after: tuple[Any, ...] | None, limit: int
) -> list[UserAccount]:
    return list(await session.scalars(keyset(select(UserAccount), order, after, limit)))


async def memberships(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(UserMembership.user_id, UserMembership.organisation_id)
        .where(UserMembership.user_id.in_(user_ids))
        .order_by(UserMembership.organisation_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {user_id: [] for user_id in user_ids}
    for user_id, organisation_id in rows:
        found[user_id].append(organisation_id)
    return found


async def signing_keys(session: AsyncSession, *, include_retired: bool) -> list[SigningKeyRow]:
    query = select(SigningKeyRow).order_by(SigningKeyRow.created_at.desc(), SigningKeyRow.kid)
    if not include_retired:
        query = query.where(SigningKeyRow.retired_at.is_(None))
    return list(await session.scalars(query))


async def is_revoked(session: AsyncSession, jti: str) -> bool:
    found = await session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti))
    return found is not None


async def revoke_jti(session: AsyncSession, jti: str, expires_at: datetime) -> None:
    if not await is_revoked(session, jti):
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
        await session.flush()


async def is_session_revoked(session: AsyncSession, family_id: uuid.UUID) -> bool:
    """Whether a session (a refresh-token family) was revoked. Its rows outlive every access
    token of it: they are pruned an hour after the refresh tokens expire (days, not minutes)."""
    found = await session.scalar(
        select(RefreshToken.id)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
        .limit(1)
    )
    return found is not None


async def get_refresh_token(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def claim_refresh_token(session: AsyncSession, id: uuid.UUID, at: datetime) -> bool:
    """Mark a refresh token used, unless it already is (or is revoked): False then.

    One conditional UPDATE, so that of two refreshes racing with the same token exactly one
    wins; the other waits on the row lock and then matches nothing (PostgreSQL re-checks
    the WHERE clause on the committed row).
    """
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_refresh_tokens_of(session: AsyncSession, user_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def replace_memberships(
    session: AsyncSession, user_id: uuid.UUID, organisation_ids: list[uuid.UUID]
) -> None:
    await session.execute(delete(UserMembership).where(UserMembership.user_id == user_id))
    session.add_all(
        UserMembership(user_id=user_id, organisation_id=organisation_id)
        for organisation_id in organisation_ids
    )
    await session.flush()


async def revoke_refresh_family(session: AsyncSession, family_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# Class id of the advisory locks below (two-int4 keys, a key space apart from the bigint
# keys of app.repositories.idempotency).
_LOGIN_LOCK_CLASS = 0x4C4F47  # "LOG"


async def lock_login(session: AsyncSession, email: str) -> None:
    """PostgreSQL: serialise the logins of one e-mail until the transaction ends.

    The rate limit counts committed failures; without this, parallel wrong logins would all
    pass the count before any of them records its failure. SQLite needs none: its write
    transactions are serialised by BEGIN IMMEDIATE.
    """
    if (await session.connection()).dialect.name != "postgresql":
        return
    digest = hashlib.sha256(email.encode()).digest()
    key = int.from_bytes(digest[:4], "big", signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(_LOGIN_LOCK_CLASS, key)))


async def count_login_failures(
    session: AsyncSession, since: datetime, *, address: str, email: str | None = None
) -> tuple[int, datetime | None]:
    """Failed logins since ``since`` from ``address``: of one e-mail, or of any."""
    query = select(func.count(), func.min(LoginFailure.failed_at)).where(
        LoginFailure.address == address, LoginFailure.failed_at > since
    )
    if email is not None:
        query = query.where(LoginFailure.email == email)
    count, oldest = (await session.execute(query)).one()
    return int(count), oldest


async def clear_login_failures(session: AsyncSession, email: str, address: str) -> None:
    await session.execute(
        delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.address == address)
    )


async def count_client_auth_failures(
    session: AsyncSession, address: str, since: datetime
) -> tuple[int, datetime | None]:
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(ClientAuthFailure.failed_at)).where(
                ClientAuthFailure.address == address, ClientAuthFailure.failed_at > since
            )
        )
    ).one()
    return int(count), oldest


async def first_client_named(session: AsyncSession, name: str) -> OAuthClient | None:
    return await session.scalar(
        select(OAuthClient)
        .where(OAuthClient.name == name)
        .order_by(OAuthClient.created_at, OAuthClient.id)
        .limit(1)
    )
