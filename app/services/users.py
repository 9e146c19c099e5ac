"""User accounts of the frontends: creation, login, rotating refresh tokens, logout."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.auth import (
    FIRST_PARTY_CLIENT_ID,
    PASSWORD_CHANGE_SCOPE,
    ROLE_SCOPES,
    Principal,
    Role,
)
from app.core.config import Settings
from app.core.context import Actor
from app.core.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    RefreshTokenReplayed,
    TooManyLoginAttempts,
    Unauthenticated,
    WrongPassword,
)
from app.core.i18n import msg
from app.core.security import fingerprint, new_opaque_token
from app.models.auth import LoginFailure, RefreshToken, UserAccount, UserMembership
from app.models.organisation import Organisation
from app.repositories import applicants as applicant_repo
from app.repositories import auth as repo
from app.schemas.auth import (
    UserQuery,
    UserRead,
    UserSelfUpdate,
    UserUpdate,
    email_address,
    user_read,
)
from app.schemas.page import Page
from app.services import audit, passwords
from app.services.lookup import load
from app.services.paging import SortKey
from app.services.tokens import IssuedToken, issue_token


@dataclass(frozen=True)
class TokenPair:
    access: IssuedToken
    refresh_token: str
    refresh_expires_in: int
    # The account must change its password: the access token allows only that.
    password_change_required: bool = False


@dataclass(frozen=True)
class FirstAdministrator:
    user: UserAccount
    password: str  # the one-time password, in plain text only here: shown once, never stored


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_fingerprint(email: str) -> str:
    """How the audit trail names an account known only by an e-mail (a failed login).

    SHA-256 hex of the normalised address: 64 characters, the width of
    ``audit_event.entity_id`` (an address may have 320), and no raw e-mail in a log that
    can never be erased. Whoever knows an address finds its events by fingerprinting it.
    """
    return fingerprint(normalise_email(email))


USER_ORDER = SortKey[UserAccount](UserAccount.id)


async def list_users(
    session: AsyncSession, principal: Principal, query: UserQuery
) -> Page[UserRead]:
    """Accounts in a stable order (administrators: the route requires users:admin), with
    the organisations each acts for (one more query for the page)."""
    rows = await USER_ORDER.fetch(query, partial(repo.page_users, session))
    organisations = await repo.memberships(session, [u.id for u in rows[: query.limit]])
    return USER_ORDER.page(rows, query.limit, lambda u: user_read(u, organisations[u.id]))


async def load_user(session: AsyncSession, user_id: uuid.UUID) -> UserAccount:
    return await load(session, UserAccount, user_id, msg("user"))


async def read_user(session: AsyncSession, user: UserAccount) -> UserRead:
    """An account with the organisations it acts for."""
    return user_read(user, (await repo.memberships(session, [user.id]))[user.id])


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> UserRead:
    return await read_user(session, await load_user(session, user_id))


async def get_current_user(session: AsyncSession, principal: Principal) -> UserRead:
    """The account behind a user's access token (its organisations as the token's principal
    has them); a client's token has none."""
    if principal.kind != "user" or principal.id is None:
        raise Forbidden(msg("Client tokens have no user account."))
    user = await repo.get_user(session, principal.id)
    if user is None:
        raise NotFound(msg("No such user."))
    return user_read(user, sorted(principal.organisation_ids))


async def update_own_account(
    session: AsyncSession, principal: Principal, data: UserSelfUpdate
) -> UserRead:
    """Change what an account may change of itself: the language of its e-mails (one audit
    event, the account before and after)."""
    if principal.kind != "user" or principal.id is None:
        raise Forbidden(msg("Client tokens have no user account."))
    user = await load_user(session, principal.id)
    organisations = sorted(principal.organisation_ids)
    before = _audited(user, organisations)
    user.language = data.language
    await session.flush()
    await audit.record(
        session,
        action="user.set_language",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=_audited(user, organisations),
    )
    return user_read(user, organisations)


async def organisation_named(session: AsyncSession, tax_code: str) -> uuid.UUID:
    """The organisation an account or a client acts for, named by its tax code (the CLI)."""
    organisation = await applicant_repo.get_organisation_by_tax_code(session, tax_code)
    if organisation is None:
        raise NotFound(msg("No organisation with tax code {tax_code}.", tax_code=tax_code))
    return organisation.id


def _audited(user: UserAccount, organisation_ids: list[uuid.UUID]) -> dict[str, object]:
    """The account as the audit trail keeps it: its e-mail only as a fingerprint (the trail
    can never be erased; the account row can)."""
    content = audit.snapshot(user)
    content["email"] = email_fingerprint(content["email"])
    return {**content, "organisation_ids": sorted(map(str, organisation_ids))}


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    password: str,
    role: Role,
    organisation_ids: list[uuid.UUID],
    settings: Settings | None = None,
    must_change_password: bool = False,
) -> UserAccount:
    """``settings``: the request's, for the password-hashing limits (defaults without);
    ``must_change_password``: the account's tokens allow only that until it is done."""
    try:
        # The login's own rule: an address that could never log in is refused here too.
        email = normalise_email(email_address(email.strip()))
    except ValueError:
        raise InvalidInput(msg("{email!r} is not a valid e-mail address.", email=email)) from None
    if await repo.get_user_by_email(session, email) is not None:
        raise Conflict(msg("An account for {email} already exists.", email=email))
    await _require_organisations(session, organisation_ids)
    password_hash = await passwords.hash_password(settings, password)
    user = UserAccount(
        id=uuid.uuid4(),
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        role=role,
        active=True,
        must_change_password=must_change_password,
    )
    session.add(user)
    await session.flush()
    for organisation_id in sorted(set(organisation_ids)):
        session.add(UserMembership(user_id=user.id, organisation_id=organisation_id))
    await session.flush()
    await audit.record(
        session,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        after=_audited(user, organisation_ids),
    )
    return user


async def create_first_administrator(
    session: AsyncSession, *, email: str, settings: Settings | None = None
) -> FirstAdministrator | None:
    """On a database without any account, an administrator with a random one-time password
    that it must change at its first login (the caller shows the password once); None when
    an account exists. Two runs at once create one: both take the same lock first."""
    await repo.lock_login(session, normalise_email(email))
    if await repo.any_user(session):
        return None
    password = new_opaque_token()  # 256 random bits, never stored: only its argon2 hash
    user = await create_user(
        session,
        email=email,
        display_name="Administrator",
        password=password,
        role=Role.ADMINISTRATOR,
        organisation_ids=[],
        settings=settings,
        must_change_password=True,
    )
    return FirstAdministrator(user, password)


async def _require_organisations(session: AsyncSession, organisation_ids: list[uuid.UUID]) -> None:
    for organisation_id in organisation_ids:
        if await session.get(Organisation, organisation_id) is None:
            raise NotFound(
                msg("No organisation {organisation_id}.", organisation_id=organisation_id)
            )


async def update_user(
    session: AsyncSession, user: UserAccount, *, data: UserUpdate, principal: Principal
) -> list[uuid.UUID]:
    """Change an account; the change holds from the account's next request (its role, state
    and organisations are read on every request). Deactivation also ends its sessions.
    Returns the organisations it acts for."""
    if user.id == principal.id and (
        data.active is False or (data.role is not None and data.role is not user.role)
    ):
        raise Conflict(
            msg(
                "You cannot deactivate your own account or change your own role: ask "
                "another administrator, so that the region never locks itself out."
            )
        )
    current = (await repo.memberships(session, [user.id]))[user.id]
    before = _audited(user, current)
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.role is not None:
        user.role = data.role
    if data.language is not None:
        user.language = data.language
    if data.active is not None:
        user.active = data.active
        if not data.active:
            await repo.revoke_refresh_tokens_of(session, user.id, datetime.now(UTC))
    if data.organisation_ids is not None:
        current = sorted(set(data.organisation_ids))
        await _require_organisations(session, current)
        await repo.replace_memberships(session, user.id, current)
        user.updated_at = datetime.now(UTC)  # the memberships changed: bump the version too
    await session.flush()
    await audit.record(
        session,
        action="user.update",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=_audited(user, current),
    )
    return current


async def _issue_pair(
    session: AsyncSession,
    settings: Settings,
    user: UserAccount,
    family_id: uuid.UUID,
    *,
    grant: str,
) -> TokenPair:
    restricted = user.must_change_password
    access = await issue_token(
        session,
        settings,
        subject=str(user.id),
        client_id=FIRST_PARTY_CLIENT_ID,
        scopes=frozenset({PASSWORD_CHANGE_SCOPE}) if restricted else ROLE_SCOPES[user.role],
        extra={"role": str(user.role), "sid": str(family_id)},
        grant=grant,
    )
    refresh = new_opaque_token()
    now = datetime.now(UTC)
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            user_id=user.id,
            family_id=family_id,
            token_hash=fingerprint(refresh),
            issued_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return TokenPair(access, refresh, settings.refresh_token_ttl_seconds, restricted)


def _retry_after(oldest: datetime, window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((oldest + window - now).total_seconds()))


async def check_login_rate(
    session: AsyncSession, settings: Settings, *, email: str, address: str
) -> None:
    """Refuse a login from ``address`` once too many failures fall inside the window: of
    this e-mail from this address (guessing one password), or of any e-mail from it
    (spraying). The count is per address, so an attacker's failures never lock the owner,
    who logs in from elsewhere."""
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.login_failure_window_seconds)
    since = now - window
    failures, oldest = await repo.count_login_failures(session, since, address=address, email=email)
    if failures >= settings.login_max_failures and oldest is not None:
        retry_after = _retry_after(oldest, window, now)
        metrics.LOGIN_FAILURES.labels(rule=TooManyLoginAttempts.rule).inc()
        raise TooManyLoginAttempts(
            msg(
                "Too many failed logins for this account; retry in {retry_after} seconds.",
                retry_after=retry_after,
            ),
            retry_after=retry_after,
        )
    failures, oldest = await repo.count_login_failures(session, since, address=address)
    if failures >= settings.login_max_failures_per_address and oldest is not None:
        retry_after = _retry_after(oldest, window, now)
        metrics.LOGIN_FAILURES.labels(rule=TooManyLoginAttempts.rule).inc()
        raise TooManyLoginAttempts(
            msg(
                "Too many failed logins from this address; retry in {retry_after} seconds.",
                retry_after=retry_after,
            ),
            retry_after=retry_after,
        )


async def record_login_failure(session: AsyncSession, *, email: str, address: str) -> None:
    """Written in its own transaction by the caller, so that it survives the refusal."""
    metrics.LOGIN_FAILURES.labels(rule=InvalidCredentials.rule).inc()
    session.add(
        LoginFailure(id=uuid.uuid4(), email=email, address=address, failed_at=datetime.now(UTC))
    )
    await audit.record(
        session,
        action="auth.login_failed",
        entity_type="account",
        entity_id=email_fingerprint(email),
    )


async def login(
    session: AsyncSession, settings: Settings, *, email: str, password: str, address: str
) -> TokenPair:
    email = normalise_email(email)
    # Held until the caller's transaction ends, after it has recorded a failure: the count
    # of one e-mail is exact under concurrency. The count per address across e-mails is
    # not serialised (that would queue every login behind one office's NAT); it can be
    # exceeded by the logins in flight at once, which password_hash_concurrency bounds.
    await repo.lock_login(session, email)
    await check_login_rate(session, settings, email=email, address=address)
    user = await repo.get_user_by_email(session, email)
    valid = await passwords.verify_password(
        settings, password, user.password_hash if user else None
    )
    if user is None or not valid or not user.active:
        raise InvalidCredentials(msg("Wrong e-mail or password."))
    await repo.clear_login_failures(session, email, address)
    pair = await _issue_pair(session, settings, user, family_id=uuid.uuid4(), grant="password")
    await audit.record(
        session,
        action="auth.login",
        entity_type="user",
        entity_id=user.id,
        actor=Actor("user", str(user.id)),
    )
    return pair


async def refresh(session: AsyncSession, settings: Settings, *, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; a replayed token revokes its whole family."""
    row = await repo.get_refresh_token(session, fingerprint(refresh_token))
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated(msg("The refresh token is not valid."), error="invalid_grant")
    if row.used_at is not None:
        await _replayed(session, row, now)
    user = await repo.get_user(session, row.user_id)
    if user is None or not user.active:
        raise Unauthenticated(msg("The account is not active."), error="invalid_grant")
    if not await repo.claim_refresh_token(session, row.id, now):
        # A parallel refresh with the same token got there first: a replay all the same.
        await _replayed(session, row, now)
    pair = await _issue_pair(
        session, settings, user, family_id=row.family_id, grant="refresh_token"
    )
    await audit.record(
        session,
        action="auth.refresh",
        entity_type="user",
        entity_id=user.id,
        actor=Actor("user", str(user.id)),
    )
    return pair


async def _replayed(session: AsyncSession, row: RefreshToken, now: datetime) -> NoReturn:
    """Reuse of a rotated token: someone holds a copy. Cut the family off."""
    await repo.revoke_refresh_family(session, row.family_id, now)
    await audit.record(
        session,
        action="auth.refresh_replayed",
        entity_type="user",
        entity_id=row.user_id,
        reason="a rotated refresh token was presented again; its session is revoked",
    )
    raise RefreshTokenReplayed(
        msg("The refresh token was already used; the session is revoked."), error="invalid_grant"
    )


async def change_password(
    session: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    current_password: str,
    new_password: str,
    address: str,
) -> TokenPair:
    """Replace the caller's password, given the current one; every session of the account
    ends (this one too) and a new one starts, with the role's scopes if the change was
    required. A wrong current password is a failed login: counted, and throttled alike."""
    if principal.kind != "user" or principal.id is None:
        raise Forbidden(msg("Only user accounts have passwords."))
    user = await load_user(session, principal.id)
    await repo.lock_login(session, user.email)
    await check_login_rate(session, settings, email=user.email, address=address)
    if new_password == current_password:
        raise InvalidInput(
            msg("The new password must differ from the current one."), field="new_password"
        )
    if not await passwords.verify_password(settings, current_password, user.password_hash):
        raise WrongPassword(msg("The current password is wrong."))
    organisations = sorted(principal.organisation_ids)
    before = _audited(user, organisations)
    user.password_hash = await passwords.hash_password(settings, new_password)
    user.must_change_password = False
    now = datetime.now(UTC)
    # Whoever knew the old password may hold a session: none survives the change.
    await repo.revoke_refresh_tokens_of(session, user.id, now)
    if principal.token_jti and principal.token_expires_at:
        await repo.revoke_jti(session, principal.token_jti, principal.token_expires_at)
    await repo.clear_login_failures(session, user.email, address)
    await session.flush()
    await audit.record(
        session,
        action="user.password_change",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=_audited(user, organisations),
    )
    return await _issue_pair(session, settings, user, family_id=uuid.uuid4(), grant="password")


async def record_wrong_password(session: AsyncSession, *, user_id: uuid.UUID, address: str) -> None:
    """A wrong current password counts as a failed login of the account (the caller's
    transaction must commit it despite the refusal)."""
    user = await load_user(session, user_id)
    await record_login_failure(session, email=user.email, address=address)


async def logout(session: AsyncSession, *, principal: Principal, refresh_token: str | None) -> None:
    """Revoke the access token in use and its session (the refresh-token family the token's
    "sid" names), and the family of a refresh token given as well."""
    now = datetime.now(UTC)
    if principal.token_jti and principal.token_expires_at:
        await repo.revoke_jti(session, principal.token_jti, principal.token_expires_at)
    if principal.session_id is not None:
        await repo.revoke_refresh_family(session, principal.session_id, now)
    if refresh_token:
        row = await repo.get_refresh_token(session, fingerprint(refresh_token))
        if row is not None and row.user_id == principal.id:
            await repo.revoke_refresh_family(session, row.family_id, datetime.now(UTC))
    await audit.record(session, action="auth.logout", entity_type="user", entity_id=principal.id)
