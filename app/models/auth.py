"""Accounts and credentials: users, partner clients, signing keys, tokens, login failures."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.auth import Role
from app.db.base import Base, utcnow
from app.db.types import json_type, str_enum
from app.models.mixins import IdMixin, TimestampsMixin, VersionedMixin


class UserAccount(IdMixin, TimestampsMixin, VersionedMixin, Base):
    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("language IN ('it', 'en')", name="language_known"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set on an account whose password someone else knows (the first administrator's
    # one-time password): until the owner changes it, its tokens allow only that change.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # The language of the e-mails the account receives (Italian, the region's, by default).
    language: Mapped[str] = mapped_column(String(2), default="it", server_default="it")


class UserMembership(Base):
    """An applicant user acts for these organisations."""

    __tablename__ = "user_membership"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True, index=True
    )


class OAuthClient(IdMixin, TimestampsMixin, VersionedMixin, Base):
    """A partner's machine-to-machine client (client credentials grant)."""

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))  # argon2id; the secret is shown once
    scopes: Mapped[list[str]] = mapped_column(json_type(), default=list)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SigningKeyRow(Base):
    """An RSA key every worker signs and verifies with; the newest unretired key signs."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="RS256")
    encrypted_private_key: Mapped[str] = mapped_column(Text)  # Fernet, keyed by the secret
    public_jwk: Mapped[dict[str, str]] = mapped_column(json_type())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class RevokedToken(Base):
    """Access tokens revoked before expiry (RFC 7009); kept until they would have expired."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(IdMixin, Base):
    """A user's rotating refresh token, stored as a SHA-256 fingerprint.

    Each refresh replaces the token; presenting a replaced token again revokes its family.
    """

    __tablename__ = "refresh_token"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginFailure(IdMixin, Base):
    """One failed login, counted over a window per e-mail and client address, and per
    address across e-mails (see app.services.users); shared by every worker."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("login_failure_email_address_failed_at_idx", "email", "address", "failed_at"),
        Index("login_failure_address_failed_at_idx", "address", "failed_at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    # The client's address as app.api.deps.client_address sees it ('' for rows from before).
    address: Mapped[str] = mapped_column(String(64), server_default="")
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientAuthFailure(IdMixin, Base):
    """One failed client authentication at the OAuth endpoints, counted per address."""

    __tablename__ = "client_auth_failure"
    __table_args__ = (Index("client_auth_failure_address_failed_at_idx", "address", "failed_at"),)

    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
