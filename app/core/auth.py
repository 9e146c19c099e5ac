"""Who is calling and what they may do: roles, scopes and the principal of a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    ADMINISTRATOR = "administrator"  # region: manages programmes, measures, calls, districts
    OFFICER = "officer"  # region: manages calls and applications, grants and revokes
    REVIEWER = "reviewer"  # reads and scores the applications assigned to them
    APPLICANT = "applicant"  # acts for the organisations it belongs to


class Scope(StrEnum):
    PROGRAMMES_WRITE = "programmes:write"
    CALLS_WRITE = "calls:write"
    DISTRICTS_WRITE = "districts:write"
    ORGANISATIONS_READ = "organisations:read"
    ORGANISATIONS_WRITE = "organisations:write"
    PARTNERSHIPS_READ = "partnerships:read"
    PARTNERSHIPS_WRITE = "partnerships:write"
    PARTNERSHIPS_CONSENT = "partnerships:consent"
    APPLICATIONS_READ = "applications:read"
    APPLICATIONS_WRITE = "applications:write"
    APPLICATIONS_DECIDE = "applications:decide"
    APPLICATIONS_REVIEW = "applications:review"
    REVIEWS_READ = "reviews:read"
    ALLOCATIONS_READ = "allocations:read"
    ALLOCATIONS_WRITE = "allocations:write"
    PLEDGES_READ = "pledges:read"
    PLEDGES_WRITE = "pledges:write"
    AUDIT_READ = "audit:read"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    USERS_ADMIN = "users:admin"
    CLIENTS_ADMIN = "clients:admin"
    WEBHOOKS_WRITE = "webhooks:write"


SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.PROGRAMMES_WRITE: "Create and change programmes and measures.",
    Scope.CALLS_WRITE: "Create, publish and close calls for proposals.",
    Scope.DISTRICTS_WRITE: "Create and change social-cohesion districts.",
    Scope.ORGANISATIONS_READ: "Read organisations (your own, unless you are the region).",
    Scope.ORGANISATIONS_WRITE: "Register and change your organisations.",
    Scope.PARTNERSHIPS_READ: "Read partnerships you belong to.",
    Scope.PARTNERSHIPS_WRITE: "Form and change partnerships you lead.",
    Scope.PARTNERSHIPS_CONSENT: "Accept or decline your organisations' invitations to "
    "partnerships (the region: for any organisation, with a recorded reason).",
    Scope.APPLICATIONS_READ: "Read applications you may see.",
    Scope.APPLICATIONS_WRITE: "Draft, submit and withdraw your applications.",
    Scope.APPLICATIONS_DECIDE: "Review, admit, approve and reject applications.",
    Scope.APPLICATIONS_REVIEW: "Score the applications assigned to you.",
    Scope.REVIEWS_READ: "Read reviews (the region all, a reviewer their own).",
    Scope.ALLOCATIONS_READ: "Read allocations (active ones are public without a token; "
    "kept for clients registered with it).",
    Scope.ALLOCATIONS_WRITE: "Grant and revoke allocations.",
    Scope.PLEDGES_READ: "Read co-funding pledges (a foundation its own, the region all).",
    Scope.PLEDGES_WRITE: "Make, change and withdraw your foundation's co-funding pledges.",
    Scope.AUDIT_READ: "Read the audit trail.",
    Scope.AUDIT_CHECKPOINT: "Sign a checkpoint of the audit chain now.",
    Scope.USERS_ADMIN: "Manage user accounts.",
    Scope.CLIENTS_ADMIN: "Manage partner OAuth clients.",
    Scope.WEBHOOKS_WRITE: "Subscribe to events by webhook and manage your subscriptions.",
}

ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMINISTRATOR: frozenset(Scope),
    Role.OFFICER: frozenset(
        {
            Scope.CALLS_WRITE,
            Scope.ORGANISATIONS_READ,
            Scope.PARTNERSHIPS_READ,
            Scope.PARTNERSHIPS_CONSENT,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_DECIDE,
            Scope.REVIEWS_READ,
            Scope.ALLOCATIONS_READ,
            Scope.ALLOCATIONS_WRITE,
            Scope.PLEDGES_READ,
        }
    ),
    Role.REVIEWER: frozenset(
        {Scope.APPLICATIONS_READ, Scope.APPLICATIONS_REVIEW, Scope.REVIEWS_READ}
    ),
    Role.APPLICANT: frozenset(
        {
            Scope.ORGANISATIONS_READ,
            Scope.ORGANISATIONS_WRITE,
            Scope.PARTNERSHIPS_READ,
            Scope.PARTNERSHIPS_WRITE,
            Scope.PARTNERSHIPS_CONSENT,
            Scope.APPLICATIONS_READ,
            Scope.APPLICATIONS_WRITE,
            Scope.ALLOCATIONS_READ,
        }
    ),
}

# What a partner foundation's client may be granted: public data and its own records.
CLIENT_GRANTABLE_SCOPES: frozenset[str] = frozenset(
    {
        Scope.ORGANISATIONS_READ,
        Scope.ALLOCATIONS_READ,
        Scope.PLEDGES_READ,
        Scope.PLEDGES_WRITE,
        Scope.WEBHOOKS_WRITE,
    }
)

# The only scope of a token issued to an account that must change its password first
# (POST /api/v1/auth/password); no role holds it, every other route refuses such a token.
PASSWORD_CHANGE_SCOPE = "password:change"

# The client_id claim of tokens issued to users through the region's and applicants' apps.
FIRST_PARTY_CLIENT_ID = "wecare-app"


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as established from its access token (or its absence)."""

    kind: Literal["user", "client", "anonymous"]
    id: uuid.UUID | None = None
    client_id: str | None = None
    role: Role | None = None
    scopes: frozenset[str] = frozenset()
    organisation_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    token_jti: str | None = None
    token_expires_at: datetime | None = None
    # A user's login session (its refresh-token family), named by the token's "sid" claim.
    session_id: uuid.UUID | None = None
    # The account must change its password before anything else (app.api.deps refuses the
    # token everywhere but POST /api/v1/auth/password).
    password_change_required: bool = False

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        if self.kind == "user":
            return f"user:{self.id}"
        if self.kind == "client":
            return f"client:{self.client_id}"
        return "anonymous"

    @property
    def is_region(self) -> bool:
        """Administrators and officers see every applicant's data."""
        return self.role in (Role.ADMINISTRATOR, Role.OFFICER)

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def acts_for(self, organisation_id: uuid.UUID) -> bool:
        """An administrator acts for every organisation; anyone else for their own."""
        return self.role is Role.ADMINISTRATOR or organisation_id in self.organisation_ids


ANONYMOUS = Principal(kind="anonymous")
