"""I/O models of the OAuth 2.0 endpoints, user sessions, accounts and clients."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
)

from app.core.auth import CLIENT_GRANTABLE_SCOPES, Role
from app.models.auth import UserAccount
from app.schemas.common import JsonScalars, Output, from_attributes
from app.schemas.page import PageQuery


class _In(JsonScalars):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# The one e-mail rule of the service (login, the users API, `wecare users create`): what
# email-validator accepts for delivery, so special-use domains such as .test or .local are
# refused everywhere, never accepted at creation and then refused at login.
Email = Annotated[EmailStr, Field(max_length=320)]
_EMAIL = TypeAdapter(Email)


def email_address(value: str) -> str:
    """``value`` checked by the rule above; raises pydantic.ValidationError (a ValueError)."""
    return _EMAIL.validate_python(value)


# A password is taken as typed: a leading or trailing space is part of it (the CLI's
# `wecare users create` stores it unstripped too, and a stripped login could never match).
Password = Annotated[str, StringConstraints(strip_whitespace=False)]


class TokenResponse(BaseModel):
    """RFC 6749 section 5.1 (no refresh token for client credentials)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    """RFC 6749 section 5.2, with the RFC 9457 members alongside."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ]
    error_description: str
    type: str
    title: str
    status: int
    detail: str


class IntrospectionResponse(BaseModel):
    """RFC 7662; an inactive token is exactly ``{"active": false}``."""

    model_config = ConfigDict(extra="allow")
    active: bool


class Jwks(BaseModel):
    keys: list[dict[str, str]]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    service_documentation: str


class LoginRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "officer@example.org", "password": "…"}]},
    )
    email: Email
    password: Password = Field(min_length=1, max_length=256)


class RefreshRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"refresh_token": "kJ3m9Qx2Vb7N1sLw5ZyT0aHc4dRe8uFg6iPo1qWtYzE"}]
        },
    )
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(_In):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"refresh_token": "kJ3m9Qx2Vb7N1sLw5ZyT0aHc4dRe8uFg6iPo1qWtYzE"}]
        },
    )
    refresh_token: str | None = Field(default=None, min_length=1, max_length=200)


class SessionTokens(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str
    refresh_token: str
    refresh_expires_in: int
    password_change_required: bool = Field(
        default=False,
        description="true: the account logged in with a one-time password. The access token "
        "(scope `password:change`) is good only for POST /api/v1/auth/password, which "
        "answers with a session of the account's full scopes; every other route answers 403 "
        "`password_change_required`.",
    )


class PasswordChange(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "current_password": "the one-time password",
                    "new_password": "a long passphrase of 12+ characters",
                }
            ]
        },
    )
    current_password: Password = Field(min_length=1, max_length=256)
    # The rule of every new password (UserCreate, `wecare users create`): 12 to 256 characters.
    new_password: Password = Field(min_length=12, max_length=256)


class UserCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "maria.rossi@example.org",
                    "display_name": "Maria Rossi",
                    "password": "a long passphrase of 12+ characters",
                    "role": "applicant",
                    "organisation_ids": ["5b1f3c1e-8d2a-4c57-9a51-2f0a5b7d9e10"],
                }
            ]
        },
    )
    email: Email
    display_name: str = Field(min_length=1, max_length=200)
    password: Password = Field(
        min_length=12,
        max_length=256,
        description="A one-time password: the administrator knows it, so the account must "
        "change it at its first login (its first token is good only for "
        "POST /api/v1/auth/password).",
    )
    role: Role
    organisation_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)


class UserUpdate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"active": False},
                {"role": "officer", "organisation_ids": []},
            ]
        },
    )
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    active: bool | None = Field(
        default=None, description="false: the account's tokens stop working at once."
    )
    organisation_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=100, description="Replaces the organisations it acts for."
    )
    language: Literal["it", "en"] | None = Field(
        default=None, description="The language of the e-mails the account receives."
    )


class UserRead(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    active: bool
    password_change_required: bool = Field(
        description="true until the account replaces the one-time password it was given.",
    )
    organisation_ids: list[uuid.UUID]
    language: Literal["it", "en"] = Field(
        description="The language of the e-mails the account receives (it by default)."
    )
    created_at: datetime


class UserSelfUpdate(_In):
    """What an account changes of itself (its password has its own route)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"language": "en"}]})
    language: Literal["it", "en"] = Field(
        description="The language of the e-mails the account receives."
    )


def user_read(user: UserAccount, organisation_ids: list[uuid.UUID]) -> UserRead:
    """An account with the organisations it acts for (its memberships, loaded apart)."""
    return from_attributes(
        UserRead,
        user,
        organisation_ids=organisation_ids,
        password_change_required=user.must_change_password,
    )


class UserQuery(PageQuery):
    """The account list's query string."""


_GRANTABLE_SCOPES: list[JsonValue] = [*sorted(CLIENT_GRANTABLE_SCOPES)]


class ClientCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Fondazione CRT integration",
                    "scopes": ["allocations:read", "organisations:read"],
                    "organisation_id": None,
                }
            ]
        },
    )
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(
        min_length=1,
        max_length=20,
        # Documented as the service checks it (app.services.clients.register_client).
        json_schema_extra={"items": {"type": "string", "enum": _GRANTABLE_SCOPES}},
    )
    organisation_id: uuid.UUID | None = None


class ClientRead(Output):
    id: uuid.UUID
    client_id: str
    name: str
    scopes: list[str]
    organisation_id: uuid.UUID | None
    active: bool
    created_at: datetime


class ClientCreated(ClientRead):
    client_secret: str = Field(
        description="Shown once: only its HMAC-SHA-256 (keyed by the server secret) is stored."
    )


class ClientQuery(PageQuery):
    """The partner-client list's query string."""


class WhoAmI(BaseModel):
    """The caller as the service sees it."""

    kind: Literal["user", "client"]
    subject: str
    client_id: str | None
    role: Role | None
    scopes: list[str]
    organisation_ids: list[uuid.UUID]
    token_expires_at: datetime | None
