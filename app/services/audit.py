"""The audit trail: one event per change, in the change's own transaction, hash-chained.

Each event's hash is SHA-256 of the previous event's hash followed by the event's own
canonical content, so altering, removing or reordering any event breaks every hash after
it. Recording is the last write of a transaction (it locks the chain's head row), which
keeps lock order acyclic: budget counters, then rows, then the head.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Principal
from app.core.context import Actor, actor_var, idempotency_key_var
from app.core.logging import request_id_var
from app.core.security import (
    CheckpointClaims,
    InvalidCheckpoint,
    signing_key_is_authentic,
    verify_checkpoint,
)
from app.db.types import Money
from app.models.audit import GENESIS_HASH, AuditEvent
from app.models.webhook import OutboxMessage
from app.repositories import audit as repo
from app.schemas.audit import AuditEventQuery, AuditEventRead, AuditHeadRead
from app.schemas.page import Page
from app.services import email_events, webhook_events
from app.services.paging import SortKey

# Never copied into the trail: secrets and their hashes.
_SECRET_COLUMNS = {"password_hash", "secret_hash", "encrypted_private_key", "token_hash"}


# Exact types only: a StrEnum member is a str but must become its value below.
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value  # most of an event's content; isinstance chains were the walk's top cost
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _stored(column: Any, value: Any) -> Any:
    return column.type.stored(value) if isinstance(column.type, Money) else value


def snapshot(entity: object) -> dict[str, Any]:
    """The entity's row as stored (secrets left out), ready for canonical JSON: column names
    and values, money in integer cents, as the trail has always recorded it."""
    mapper = inspect(entity).mapper
    return {
        attr.columns[0].name: _plain(_stored(attr.columns[0], getattr(entity, attr.key)))
        for attr in mapper.column_attrs
        if attr.key not in _SECRET_COLUMNS
    }


def event_content(event: AuditEvent | Any) -> dict[str, Any]:
    """What the hash covers: every field but the hash itself."""
    return {
        "seq": event.seq,
        "occurred_at": _plain(event.occurred_at),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "request_id": event.request_id,
        "idempotency_key": event.idempotency_key,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "prev_hash": event.prev_hash,
    }


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(content)).encode()).hexdigest()


@dataclass(frozen=True)
class PendingEvent:
    """An event built but not yet appended (its seq, prev_hash and hash are the chain's,
    known under the head's lock), and its outbox rows: a webhook's, an e-mail's, either,
    both or none."""

    event: AuditEvent
    outbox: tuple[dict[str, Any], ...]

    def parameters(self) -> repo.EventParameters:
        """PostgreSQL: the bind parameters of the append (app.repositories.audit)."""
        given = {name: getattr(self.event, name) for name in repo.GIVEN}
        return repo.event_parameters(
            given, outbox=self.outbox, **_content_around_chain(event_content(self.event))
        )

    def appended(self, seq: int, prev_hash: str, digest: str) -> AuditEvent:
        """The event as the database appended it."""
        self.event.seq, self.event.prev_hash, self.event.hash = seq, prev_hash, digest
        return self.event


class Change(TypedDict, total=False):
    """What an event says of a change: the action on an entity, its state before and after
    (snapshots), the reason given, and who acted (default: the request's actor)."""

    action: Required[str]
    entity_type: Required[str]
    entity_id: Required[object]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    actor: Actor | None


def pending(**change: Unpack[Change]) -> PendingEvent:
    """The event for a change made in this transaction, built before any lock is taken."""
    action, entity_type = change["action"], change["entity_type"]
    before, after = change.get("before"), change.get("after")
    actor = change.get("actor") or actor_var.get()
    request_id = request_id_var.get()
    event = AuditEvent(
        occurred_at=datetime.now(UTC),
        actor_type=actor.type,
        actor_id=actor.id,
        request_id=None if request_id == "-" else request_id,
        idempotency_key=idempotency_key_var.get(),
        action=action,
        entity_type=entity_type,
        entity_id=str(change["entity_id"]),
        before=canonical(before) if before is not None else None,
        after=canonical(after) if after is not None else None,
        reason=change.get("reason"),
    )
    rows = (
        webhook_events.outbox_row(
            action=action,
            entity_type=entity_type,
            entity_id=event.entity_id,
            occurred_at=event.occurred_at,
            after=after,
        ),
        email_events.outbox_row(
            action=action,
            entity_type=entity_type,
            entity_id=event.entity_id,
            occurred_at=event.occurred_at,
        ),
    )
    return PendingEvent(event, tuple(row for row in rows if row is not None))


async def record(session: AsyncSession, **change: Unpack[Change]) -> AuditEvent:
    """Append one event for a change made in this transaction (call it last)."""
    return await append_pending(session, pending(**change))


async def append_pending(session: AsyncSession, waiting: PendingEvent) -> AuditEvent:
    """Append an event built by :func:`pending` (call it last)."""
    await session.flush()  # the change itself first: its guards fire before the head is locked
    if session.get_bind().dialect.name == "postgresql":
        # One prebuilt statement: the head locked, the event chained and inserted, the
        # head moved, the outbox row queued (the hash computed in the database, from the
        # content given here).
        return waiting.appended(*await repo.append(session, waiting.parameters()))
    # SQLite: the write transaction already holds the database's lock (BEGIN IMMEDIATE).
    event = waiting.event
    last_seq, event.prev_hash = await repo.lock_head(session)
    event.seq = last_seq + 1
    event.hash = chain_hash(event.prev_hash, event_content(event))
    session.add(event)
    await session.flush()
    await repo.set_head(session, seq=event.seq, digest=event.hash)
    # Its outbox rows (webhooks, e-mails), flushed at COMMIT.
    session.add_all(OutboxMessage(audit_seq=event.seq, **row) for row in waiting.outbox)
    return event


def _content_around_chain(content: dict[str, Any]) -> dict[str, str]:
    """The canonical content but its two values read under the head's lock, prev_hash and
    seq, as the text before the first and between the two: ``canonical(content)`` is
    ``content_head + prev_hash + content_middle + str(seq) + "}"``. Built key by key in
    the sorted order ``canonical`` writes (prev_hash's place among the keys is fixed, seq
    is the last), each key and value as ``canonical`` encodes them."""
    items = [
        f"{canonical(key)}:{canonical(value)}"
        for key, value in sorted(content.items())
        if key not in ("prev_hash", "seq")
    ]
    keys = sorted(content)
    head = items[: keys.index("prev_hash")]
    middle = items[keys.index("prev_hash") : keys.index("seq") - 1]
    assert keys[-1] == "seq", "seq is the last key of the content"
    return {
        "content_head": "{" + "".join(f"{item}," for item in head) + '"prev_hash":"',
        "content_middle": '",' + "".join(f"{item}," for item in middle) + '"seq":',
    }


@dataclass(frozen=True)
class Verification:
    events: int
    head_seq: int
    first_broken_seq: int | None
    reason: str | None
    checkpoints: int = 0
    # One line per checkpoint the trail contradicts, naming the checkpoint and the tamper.
    checkpoint_failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None and not self.checkpoint_failures


async def trusted_keys(connection: AsyncConnection, *, secret: str) -> dict[str, dict[str, Any]]:
    """Every signing key (retired ones too) whose public part is the public half of a
    private key that decrypts with the server secret, by kid: a key row planted by someone
    with database access but without the secret is left out."""
    return {
        row.kid: dict(row.public_jwk)
        for row in await repo.signing_key_rows(connection)
        if signing_key_is_authentic(row.kid, row.encrypted_private_key, row.public_jwk, secret)
    }


async def verify_chain(
    connection: AsyncConnection, *, keys: Mapping[str, Mapping[str, Any]] | None = None
) -> Verification:
    """Walk the chain from the start to the head; name the first event that does not fit,
    and every checkpoint the trail contradicts.

    ``keys`` (kid -> public JWK, a JWKS's keys) verify the checkpoints' signatures; by
    default the public keys stored in the database (``wecare audit verify`` passes only
    keys authenticated with the server secret, or a JWKS kept elsewhere).

    Checkpoints are read first, then the head, and the walk stops at the head's sequence
    number: on a live database writers keep committing (each its event and the head
    together) and checkpoints keep being signed, and reading either after the walk would
    compare it with a state that moved on, a false alarm.
    """
    checkpoint_rows = await repo.all_checkpoints(connection)
    if keys is None:
        keys = {row.kid: dict(row.public_jwk) for row in await repo.signing_key_rows(connection)}
    head_seq, head_hash = await repo.read_head(connection)
    signed, failures = _signed_checkpoints(checkpoint_rows, keys)
    wanted = {claims.seq for claims in signed}
    seen: dict[int, str] = {}
    walk = await _walk(connection, head_seq, head_hash, wanted, seen)
    for claims in signed:
        if claims.seq == 0:
            actual: str | None = GENESIS_HASH
        elif claims.seq in seen:
            actual = seen[claims.seq]
        else:
            actual = await repo.event_hash(connection, claims.seq)
        if actual is None and claims.seq > head_seq:
            failures.append(
                f"checkpoint {claims.seq}: the trail ends at seq {head_seq}, below the "
                "checkpoint (truncated, or its last events dropped)"
            )
        elif actual is None:
            failures.append(f"checkpoint {claims.seq}: event {claims.seq} is missing")
        elif actual != claims.hash:
            failures.append(
                f"checkpoint {claims.seq}: event {claims.seq} does not have the signed hash "
                f"(the range up to seq {claims.seq} was rewritten)"
            )
    return replace(walk, checkpoints=len(checkpoint_rows), checkpoint_failures=tuple(failures))


def _signed_checkpoints(
    rows: list[Any], keys: Mapping[str, Mapping[str, Any]]
) -> tuple[list[CheckpointClaims], list[str]]:
    """The claims of every checkpoint whose signature holds and agrees with its row; a
    failure line for each of the others."""
    signed: list[CheckpointClaims] = []
    failures: list[str] = []
    for row in rows:
        try:
            claims = verify_checkpoint(row.jws, public_keys=keys)
        except InvalidCheckpoint as error:
            failures.append(f"checkpoint {row.seq}: forged signature ({error})")
            continue
        if (claims.seq, claims.hash) != (row.seq, row.hash):
            failures.append(
                f"checkpoint {row.seq}: the row differs from what its signature covers "
                f"(seq {claims.seq})"
            )
        signed.append(claims)
    return signed, failures


async def _walk(
    connection: AsyncConnection,
    head_seq: int,
    head_hash: str,
    wanted: set[int],
    seen: dict[int, str],
) -> Verification:
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    async for row in repo.stream_events(connection, upto=head_seq):
        count += 1
        if row.seq in wanted:
            seen[row.seq] = row.hash
        occurred = row.occurred_at
        if isinstance(occurred, datetime) and occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        content = event_content(row)
        content["occurred_at"] = _plain(occurred)
        problem = None
        if row.seq != expected_seq:
            problem = f"sequence jumps from {expected_seq - 1} to {row.seq}"
        elif row.prev_hash != prev_hash:
            problem = "prev_hash does not match the previous event's hash"
        elif chain_hash(prev_hash, content) != row.hash:
            problem = "hash does not match the event's content"
        if problem:
            return Verification(
                count,
                expected_seq - 1,
                expected_seq if row.seq != expected_seq else row.seq,
                problem,
            )
        expected_seq, prev_hash = row.seq + 1, row.hash
    if (head_seq, head_hash) != (expected_seq - 1, prev_hash):
        return Verification(count, head_seq, expected_seq, "the head does not match the last event")
    # An event beyond the head: read the last sequence number, then the head again. Every
    # commit moves both together, so the later read of the head is never behind the earlier
    # read of the events, unless rows were added, or the head moved back, by hand.
    last = await repo.last_seq(connection)
    current_seq, _ = await repo.read_head(connection)
    if last > current_seq or current_seq < head_seq:
        return Verification(count, head_seq, head_seq + 1, "events lie beyond the head")
    return Verification(count, head_seq, None, None)


# Reading the trail (administrators: the route requires audit:read).

AUDIT_EVENT_ORDER = SortKey[AuditEvent](AuditEvent.seq)


async def list_audit_events(
    session: AsyncSession, principal: Principal, query: AuditEventQuery
) -> Page[AuditEventRead]:
    """The changes in sequence order, with who made them and the state before and after."""
    filters = query.model_dump(exclude={"limit", "cursor"})
    rows = partial(repo.page_events, session, filters=filters)
    return await AUDIT_EVENT_ORDER.page_of(query, rows, AuditEventRead.model_validate)


async def get_audit_head(session: AsyncSession, principal: Principal) -> AuditHeadRead:
    """The last sequence number and hash, to be exported and kept elsewhere."""
    head = await repo.head(session)
    return AuditHeadRead(seq=head.seq, hash=head.hash)
