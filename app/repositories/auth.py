"""Queries on accounts, clients, keys and tokens."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import String, bindparam, delete, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.db.driver import PreparedRead
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

# The principal of a bearer token in one statement (issue 17): whether the token or its login
# session is revoked, and the account with its memberships, or the client. A one-row FROM
# with outer joins: the revocation facts come back even when no account or client matches.
# Built once, run on the driver on PostgreSQL (app.db.driver).
_ONE = select(literal(1).label("one")).subquery("one")
_TOKEN_REVOKED = exists().where(RevokedToken.jti == bindparam("jti", type_=String))
_SESSION_REVOKED = exists().where(
    RefreshToken.family_id == bindparam("session_id"), RefreshToken.revoked_at.is_not(None)
)
_USER_PRINCIPAL = PreparedRead(
    select(
        _TOKEN_REVOKED.label("token_revoked"),
        _SESSION_REVOKED.label("session_revoked"),
        UserAccount.id,
        UserAccount.role,
        UserAccount.active,
        UserAccount.must_change_password,
        UserMembership.organisation_id,
    )
    .select_from(_ONE)
    .outerjoin(UserAccount, UserAccount.id == bindparam("user_id"))
    .outerjoin(UserMembership, UserMembership.user_id == UserAccount.id)
    .order_by(UserMembership.organisation_id)
)
_CLIENT_PRINCIPAL = PreparedRead(
    select(
        _TOKEN_REVOKED.label("token_revoked"),
        _SESSION_REVOKED.label("session_revoked"),
        OAuthClient.id,
        OAuthClient.client_id,
        OAuthClient.active,
        OAuthClient.scopes,
        OAuthClient.organisation_id,
    )
    .select_from(_ONE)
    .outerjoin(OAuthClient, OAuthClient.client_id == bindparam("client_id", type_=String))
)


def _uuid(value: Any) -> uuid.UUID:
    """asyncpg's own UUID class as the standard one (it hashes and compares alike, but
    other libraries may test the exact type)."""
    return value if type(value) is uuid.UUID else uuid.UUID(bytes=value.bytes)


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What the database says about a token's caller, read in one statement."""

    token_revoked: bool
    session_revoked: bool
    # The account or client, None when none matches.
    id: uuid.UUID | None = None
    active: bool = False
    role: Role | None = None
    must_change_password: bool = False
    organisation_ids: tuple[uuid.UUID, ...] = ()
    client_id: str | None = None
    client_scopes: tuple[str, ...] = ()


async def user_token_facts(
    session: AsyncSession, *, jti: str, session_id: uuid.UUID | None, user_id: uuid.UUID | None
) -> TokenFacts:
    """Revocation of the token and of its session, the account and its memberships."""
    rows: Sequence[Any] = await _USER_PRINCIPAL.fetch(
        session, {"jti": jti, "session_id": session_id, "user_id": user_id}
    )
    first = rows[0]
    revoked, session_revoked = bool(first[0]), bool(first[1])
    if first[2] is None:
        return TokenFacts(revoked, session_revoked)
    return TokenFacts(
        revoked,
        session_revoked,
        id=_uuid(first[2]),
        role=Role(first[3]),
        active=bool(first[4]),
        must_change_password=bool(first[5]),
        organisation_ids=tuple(_uuid(row[6]) for row in rows if row[6] is not None),
    )


async def client_token_facts(
    session: AsyncSession, *, jti: str, session_id: uuid.UUID | None, client_id: str
) -> TokenFacts:
    """Revocation of the token (and of a session, should a client token name one) and the
    partner client it was issued to."""
    rows: Sequence[Any] = await _CLIENT_PRINCIPAL.fetch(
        session, {"jti": jti, "session_id": session_id, "client_id": client_id}
    )
    (revoked, session_revoked, id_, client, active, scopes, organisation_id) = rows[0]
    if id_ is None:
        return TokenFacts(bool(revoked), bool(session_revoked))
    if isinstance(scopes, str | bytes):  # the driver leaves JSONB as its text
        scopes = orjson.loads(scopes)
    return TokenFacts(
        bool(revoked),
        bool(session_revoked),
        id=_uuid(id_),
        active=bool(active),
        client_id=client,
        client_scopes=tuple(scopes or ()),
        organisation_ids=() if organisation_id is None else (_uuid(organisation_id),),
    )


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
