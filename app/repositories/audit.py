"""Queries on the audit trail and its head."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    CTE,
    ColumnElement,
    Insert,
    Select,
    Table,
    Text,
    Update,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models.audit import AuditCheckpoint, AuditEvent, AuditHead
from app.models.auth import SigningKeyRow
from app.models.webhook import OutboxMessage
from app.repositories.paging import Order, keyset


def _table(model: type[AuditEvent | AuditHead | OutboxMessage]) -> Table:
    table = model.__table__  # Core: no ORM bookkeeping on the hot append
    assert isinstance(table, Table)
    return table


_EVENTS, _HEADS, _OUTBOX = _table(AuditEvent), _table(AuditHead), _table(OutboxMessage)


async def lock_head(session: AsyncSession) -> tuple[int, str]:
    """The last sequence number and hash, holding the head row's lock until commit:
    concurrent writers queue here, so the chain cannot fork. (SQLite: the write transaction
    already holds the database's write lock from BEGIN IMMEDIATE.)"""
    row = (
        await session.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
        )
    ).one()
    return int(row[0]), str(row[1])


async def set_head(session: AsyncSession, *, seq: int, digest: str) -> None:
    """Move the head onto the event just inserted (the only move its trigger allows)."""
    await session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=seq, hash=digest)
        .execution_options(synchronize_session=False)
    )


# The event's columns the caller gives (the chain's own, seq, prev_hash and hash, are
# computed under the head's lock), bound as :event_<column>.
GIVEN = (
    "occurred_at",
    "actor_type",
    "actor_id",
    "request_id",
    "idempotency_key",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "reason",
)


def appended_event(after: ColumnElement[bool] | None = None) -> CTE:
    """PostgreSQL: the head locked (where ``after`` holds: a grant appends only once its
    allocation is inserted, and locks the head after its counters), and the next event
    chained from it and inserted, as a CTE returning its seq, prev_hash and hash. The hash
    is computed in the database from the head read under the lock: SHA-256 of
    ``prev_hash`` followed by the event's canonical content, given as the text around its
    two values known only there (``:content_head`` prev_hash ``:content_middle`` seq
    ``}``; app.services.audit builds them)."""
    head = (
        select(_HEADS.c.seq, _HEADS.c.hash)
        .where(_HEADS.c.id == 1, *(() if after is None else (after,)))
        .with_for_update()
        .cte("locked_head")
    )
    seq = head.c.seq + 1
    content = (
        head.c.hash
        + bindparam("content_head", type_=Text())
        + head.c.hash
        + bindparam("content_middle", type_=Text())
        + cast(seq, Text)
        + literal("}", Text)
    )
    digest = func.encode(func.sha256(func.convert_to(content, literal("UTF8"))), literal("hex"))
    row = select(
        seq,
        *(bindparam(f"event_{name}", type_=_EVENTS.c[name].type) for name in GIVEN),
        head.c.hash,
        digest,
    )
    return (
        insert(_EVENTS)
        .from_select(["seq", *GIVEN, "prev_hash", "hash"], row)
        .returning(_EVENTS.c.seq, _EVENTS.c.prev_hash, _EVENTS.c.hash)
        .cte("appended_event")
    )


def moved_head(event: CTE) -> Update:
    """The head moved onto the ``event`` just appended; its guard (a trigger) checks that
    the event exists and chains from the head it replaces.

    No condition on the head's hash here: the statement's snapshot may predate the head
    this statement locked (a writer that held it committed while this one queued), and a
    condition on the snapshot's stale row would skip the update, leaving the event
    appended and the head behind. The row is found by its id, and the update applies to
    its newest version, the one locked (READ COMMITTED re-reads a row updated meanwhile);
    the event is ahead of either version."""
    return (
        update(_HEADS)
        .where(_HEADS.c.id == 1, _HEADS.c.seq < event.c.seq)
        .values(seq=event.c.seq, hash=event.c.hash)
    )


# The event's outbox rows (a webhook's, an e-mail's: app.services.audit.pending), the n-th
# bound as :outbox<n>_<column>, each carrying the event's seq.
OUTBOX_GIVEN = ("channel", "kind", "entity_type", "entity_id", "audience", "occurred_at")
MAX_OUTBOX_ROWS = 2


def queued_outbox(event: CTE, rows: int) -> Insert:
    """The event's ``rows`` outbox rows (at least one), inserted with it (the same
    statement), in their order."""
    selects = [
        select(
            *(bindparam(f"outbox{n}_{name}", type_=_OUTBOX.c[name].type) for name in OUTBOX_GIVEN),
            event.c.seq,
        )
        for n in range(rows)
    ]
    source = selects[0] if rows == 1 else union_all(*selects)
    return insert(_OUTBOX).from_select([*OUTBOX_GIVEN, "audit_seq"], source).returning(_OUTBOX.c.id)


def _append_statement(outbox_rows: int) -> Update:
    """PostgreSQL: lock the head, insert the next event chained from it, move the head onto
    it (and queue the event's outbox rows), in one statement. Each step reads the one before
    (the head's lock first), and the head's guard finds the event inserted."""
    event = appended_event()
    moved = moved_head(event)
    if outbox_rows:
        queued = queued_outbox(event, outbox_rows).cte("queued_outbox")
        moved = moved.where(exists(select(queued.c.id)))
    return moved.returning(event.c.seq, event.c.prev_hash, event.c.hash)


_APPEND = tuple(_append_statement(rows) for rows in range(MAX_OUTBOX_ROWS + 1))


class EventParameters(NamedTuple):
    """The bind parameters of :func:`appended_event` and of :func:`queued_outbox`, and how
    many outbox rows they bind (which statement takes them)."""

    values: dict[str, Any]
    outbox_rows: int


def event_parameters(
    given: dict[str, Any],
    *,
    content_head: str,
    content_middle: str,
    outbox: Sequence[dict[str, Any]],
) -> EventParameters:
    values = {f"event_{name}": given[name] for name in GIVEN}
    values |= {"content_head": content_head, "content_middle": content_middle}
    for n, row in enumerate(outbox):
        values |= {f"outbox{n}_{name}": row[name] for name in OUTBOX_GIVEN}
    return EventParameters(values, len(outbox))


async def append(session: AsyncSession, event: EventParameters) -> tuple[int, str, str]:
    """Append one event on PostgreSQL; its seq, prev_hash and hash."""
    row = (await session.execute(_APPEND[event.outbox_rows], event.values)).one()
    return int(row[0]), str(row[1]), str(row[2])


async def head(session: AsyncSession) -> AuditHead:
    found = await session.get(AuditHead, 1)
    assert found is not None, "the audit head row is created by the migrations"
    return found


async def page_events(
    session: AsyncSession,
    *,
    filters: dict[str, Any],
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[AuditEvent]:
    query: Select[tuple[AuditEvent]] = select(AuditEvent)
    for name in ("entity_type", "entity_id", "actor_id", "action"):
        if filters.get(name) is not None:
            query = query.where(getattr(AuditEvent, name) == filters[name])
    if filters.get("since") is not None:
        query = query.where(AuditEvent.occurred_at >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(AuditEvent.occurred_at < filters["until"])
    return list(await session.scalars(keyset(query, order, after, limit)))


async def stream_events(
    connection: AsyncConnection, *, upto: int, batch: int = 5000
) -> AsyncIterator[Any]:
    """Every event up to sequence number ``upto``, in sequence order, in batches (for
    verification: events committed while the walk runs lie beyond ``upto``)."""
    last = 0
    while True:
        rows = (
            await connection.execute(
                select(AuditEvent.__table__)
                .where(AuditEvent.seq > last, AuditEvent.seq <= upto)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def read_head(connection: AsyncConnection) -> tuple[int, str]:
    row = (await connection.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1"))).one()
    return int(row[0]), str(row[1])


async def last_seq(connection: AsyncConnection) -> int:
    """The highest sequence number stored (0 for an empty trail)."""
    found = await connection.scalar(select(func.max(AuditEvent.seq)))
    return int(found or 0)


async def event_hash(connection: AsyncConnection, seq: int) -> str | None:
    found = await connection.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
    return None if found is None else str(found)


async def newest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    found: AuditCheckpoint | None = await session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    )
    return found


async def get_checkpoint(session: AsyncSession, seq: int) -> AuditCheckpoint | None:
    return await session.get(AuditCheckpoint, seq)


async def page_checkpoints(
    session: AsyncSession, *, order: Order, after: tuple[Any, ...] | None, limit: int
) -> list[AuditCheckpoint]:
    query: Select[tuple[AuditCheckpoint]] = select(AuditCheckpoint)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def all_checkpoints(connection: AsyncConnection) -> list[Any]:
    """Every checkpoint, oldest first (a few per day: small next to the events)."""
    query = select(AuditCheckpoint.__table__).order_by(AuditCheckpoint.seq)
    return list((await connection.execute(query)).all())


async def signing_key_rows(connection: AsyncConnection) -> list[Any]:
    """Every signing key, retired ones too: old checkpoints stay verifiable."""
    return list((await connection.execute(select(SigningKeyRow.__table__))).all())


async def current_head(session: AsyncSession) -> tuple[int, str]:
    """The committed head (no lock: a checkpoint signs a head that already exists)."""
    row = (await session.execute(select(AuditHead.seq, AuditHead.hash))).one()
    return int(row[0]), str(row[1])


async def checkpoint_lock(session: AsyncSession, *, wait: bool) -> bool:
    """PostgreSQL: one checkpoint writer at a time across workers (a transaction-scoped
    advisory lock; without ``wait``, False when another holds it). SQLite: the write
    transaction's BEGIN IMMEDIATE already serialises writers."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        await session.execute(select(func.pg_advisory_xact_lock(_CHECKPOINT_LOCK)))
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(_CHECKPOINT_LOCK))))


# Advisory-lock key of checkpoint writers (bigint key space; the login and idempotency
# locks use other keys).
_CHECKPOINT_LOCK = 0x5745_4341_5245_0A
