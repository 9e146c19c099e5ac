"""Per-request context that the audit trail reads: who acts, under which request and key.

Set by the API layer (middleware, principal, Idempotency-Key); read by services when they
record a change. Outside a request (the CLI) the actor is the system.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    type: str  # user, client, system, anonymous
    id: str | None


SYSTEM = Actor("system", None)
ANONYMOUS_ACTOR = Actor("anonymous", None)

actor_var: ContextVar[Actor] = ContextVar("actor", default=SYSTEM)
idempotency_key_var: ContextVar[str | None] = ContextVar("idempotency_key", default=None)
