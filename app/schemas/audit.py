"""The audit trail as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.schemas.common import Output
from app.schemas.page import PageQuery
from app.schemas.types import IsoDatetime


class AuditEventRead(Output):
    seq: int
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    request_id: str | None
    idempotency_key: str | None
    action: str
    entity_type: str
    entity_id: str
    before: str | None = Field(description="Canonical JSON of the entity before the change.")
    after: str | None = Field(description="Canonical JSON of the entity after the change.")
    reason: str | None
    prev_hash: str
    hash: str = Field(description="SHA-256 of prev_hash followed by this event's content.")


class AuditHeadRead(BaseModel):
    """The chain's head: export it and keep it elsewhere to detect a rewritten history."""

    seq: int
    hash: str


class AuditCheckpointRead(Output):
    """The chain's head at one moment, signed: verify ``jws`` with the key named by its
    ``kid`` in /.well-known/jwks.json (RS256); its payload is ``{"seq", "hash", "iat",
    "iss"}``. Keep a copy elsewhere: a trail cut or rewritten below it is then detected."""

    seq: int
    hash: str
    jws: str = Field(description="Compact JWS (RS256) over seq, hash, iat and iss.")
    kid: str = Field(description="The signing key, as in /.well-known/jwks.json.")
    created_at: datetime


class AuditCheckpointQuery(PageQuery):
    """The checkpoint list's query string."""


class _AuditEventFilters(BaseModel):
    entity_type: str | None = Field(
        None, max_length=40, description="Only changes to this kind of entity (call, ...)."
    )
    entity_id: str | None = Field(None, max_length=64, description="Only changes to this entity.")
    actor_id: str | None = Field(None, max_length=200, description="Only changes by this actor.")
    action: str | None = Field(
        None, max_length=60, description="Only this action (call.update, ...)."
    )
    since: IsoDatetime | None = Field(
        None, description="At or after this instant (with its offset)."
    )
    until: IsoDatetime | None = Field(None, description="Before this instant (with its offset).")


class AuditEventQuery(PageQuery, _AuditEventFilters):
    """The audit trail's query string."""
