"""The budget counters, changed by one conditional UPDATE each.

Concurrent writers queue on the counter row; the WHERE clause is evaluated against the
committed value, so a cap can never be overshot. Always in the order programme -> measure
-> call, so that two transactions never wait on each other in a cycle. A grant moves all
three and inserts its allocation in one statement (``write_grant``): the programme's row,
the hottest, is locked for as short a time as the grant can make it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.money import ZERO
from app.db.session import mark_critical_section
from app.db.types import Money
from app.models.allocation import Allocation
from app.models.call import Call
from app.models.programme import Measure, Programme
from app.repositories import audit


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def add_to_measures_budget(
    session: AsyncSession, programme_id: uuid.UUID, amount: Decimal
) -> bool:
    """Programme: the measures' budgets grow (or shrink) by ``amount`` within the total."""
    new = Programme.measures_budget + amount  # amount is bound as Money: cents in the SQL
    result = await session.execute(
        update(Programme)
        .where(Programme.id == programme_id, new <= Programme.total_budget, new >= ZERO)
        .values({Programme.measures_budget: new})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def add_to_calls_budget(
    session: AsyncSession, measure_id: uuid.UUID, amount: Decimal
) -> bool:
    """Measure: the calls' budget shares grow (or shrink) by ``amount`` within its budget."""
    new = Measure.calls_budget + amount
    result = await session.execute(
        update(Measure)
        .where(Measure.id == measure_id, new <= Measure.budget, new >= ZERO)
        .values({Measure.calls_budget: new})
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


# Each counter row's cap column.
_CAP = {"programme": "total_budget_cents", "measure": "budget_cents", "call": "budget_cents"}
_AMOUNT = bindparam("amount", type_=Money())
# What a first-come application holds reserved on its call: its grant converts it.
_RELEASED = bindparam("released", type_=Money())


def _reserve(table: Table, key: str, *extra: ColumnElement[bool], stamped: bool = False) -> Update:
    """``allocated += :amount, funded_projects += 1`` on the row ``:<key>``, only while the
    cap (and any ``extra`` condition) still holds. Built once: building and keying them per
    request cost more than executing them. ``:amount`` is a Money bind: the Decimal goes in
    as cents, so the SQL compares cents with cents."""
    grown = table.c.allocated_cents + _AMOUNT
    statement = (
        update(table)
        .where(table.c.id == bindparam(key), grown <= table.c[_CAP[table.name]], *extra)
        .values(allocated_cents=grown, funded_projects=table.c.funded_projects + 1)
    )
    # In one statement with others, ``updated_at`` is bound by name (:stamp, the new
    # allocation's own), not by each UPDATE's onupdate default (one parameter each).
    if stamped:
        statement = statement.values(updated_at=bindparam("stamp", type_=table.c.updated_at.type))
    return statement


def _table(model: type[Programme | Measure | Call | Allocation]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_PROGRAMME = _table(Programme)
_MEASURE = _table(Measure)
_CALL = _table(Call)
_ALLOCATION = _table(Allocation)
_PROJECT_ROOM = _MEASURE.c.max_funded_projects.is_(None) | (
    _MEASURE.c.funded_projects + 1 <= _MEASURE.c.max_funded_projects
)
# The programme's alone (tests/concurrency/test_interleaving.py scripts its row lock).
_RESERVE_IN_PROGRAMME = _reserve(_PROGRAMME, "key")


async def reserve_in_programme(
    session: AsyncSession, programme_id: uuid.UUID, amount: Decimal
) -> bool:
    result = await session.execute(_RESERVE_IN_PROGRAMME, {"key": programme_id, "amount": amount})
    return _changed(result)


# The grant's writes: the three counters, then the allocation. The call's UPDATE also ends
# the application's own first-come reservation (``:released``, 0 elsewhere): the grant
# counts it as allocated instead, never twice.
_GRANT_PROGRAMME = _reserve(_PROGRAMME, "programme_key", stamped=True)
_GRANT_MEASURE = _reserve(_MEASURE, "measure_key", _PROJECT_ROOM, stamped=True)
_GRANT_CALL = _reserve(
    _CALL,
    "call_key",
    _CALL.c.allocated_cents + _CALL.c.reserved_cents - _RELEASED + _AMOUNT <= _CALL.c.budget_cents,
    stamped=True,
).values(reserved_cents=_CALL.c.reserved_cents - _RELEASED)
# Every column of the new allocation is bound (:new_<column name>): the caller holds the row.
# (Never a bind named as a column: a parameter named so would join an UPDATE's SET.)
_ALLOCATION_ROW = select(*(bindparam(f"new_{c.name}", type_=c.type) for c in _ALLOCATION.c))


def _grant_statement(outbox_rows: int | None) -> Select[Any]:
    """PostgreSQL: the grant's writes in one statement, one round trip. Each step runs only
    if the one before changed its row (the EXISTS on the previous CTE), which also keeps
    the lock order programme -> measure -> call -> allocation's unique indexes -> the audit
    head. The allocation is inserted ``ON CONFLICT DO NOTHING``: where a concurrent grant
    committed the application's allocation or the district's project meanwhile (its index
    entry is waited for), nothing is inserted and the caller says which, with the figures.
    ``outbox_rows`` (None: not audited here): the grant's audit event is appended (and its
    outbox rows queued) in the
    same statement, once the allocation is inserted, so that the counters' locks are held
    for this one statement and the COMMIT that follows, never across the event loop's
    turns between statements. Returns which steps changed their row, the allocation's id
    if inserted, and (audited) the event's seq, prev_hash and hash."""
    # When the programme's row was locked (queueing for it excluded): app.db.session's
    # critical section starts there.
    programme = _GRANT_PROGRAMME.returning(
        _PROGRAMME.c.id, func.clock_timestamp().label("locked_at")
    ).cte("granted_programme")
    measure = (
        _GRANT_MEASURE.where(exists(select(programme.c.id)))
        .returning(_MEASURE.c.id)
        .cte("granted_measure")
    )
    call = _GRANT_CALL.where(exists(select(measure.c.id))).returning(_CALL.c.id).cte("granted_call")
    allocation = (
        postgresql.insert(_ALLOCATION)
        .from_select(
            [c.name for c in _ALLOCATION.c],
            _ALLOCATION_ROW.where(exists(select(call.c.id))),
        )
        .on_conflict_do_nothing()
        .returning(_ALLOCATION.c.id)
        .cte("granted_allocation")
    )

    def changed(cte: Any) -> Any:
        return select(func.count()).select_from(cte).scalar_subquery()

    columns: list[Any] = [
        changed(programme),
        changed(measure),
        changed(call),
        select(allocation.c.id).scalar_subquery(),
    ]
    if outbox_rows is not None:
        event = audit.appended_event(after=exists(select(allocation.c.id)))
        head = audit.moved_head(event).returning(event.c.seq).cte("moved_head")
        columns += [
            select(head.c.seq).scalar_subquery(),
            select(event.c.prev_hash).scalar_subquery(),
            select(event.c.hash).scalar_subquery(),
            changed(audit.queued_outbox(event, outbox_rows).cte("queued_outbox"))
            if outbox_rows
            else literal(0),
        ]
    return select(*columns, select(programme.c.locked_at).scalar_subquery())


_GRANT = {rows: _grant_statement(rows) for rows in (None, *range(audit.MAX_OUTBOX_ROWS + 1))}
_INSERT_ALLOCATION_SQLITE = (
    sqlite.insert(_ALLOCATION)
    # SQLite parses ``INSERT ... SELECT ... ON CONFLICT`` only with a WHERE on the SELECT.
    .from_select([c.name for c in _ALLOCATION.c], _ALLOCATION_ROW.where(true()))
    .on_conflict_do_nothing()
    .returning(_ALLOCATION.c.id)
)
# SQLite: each UPDATE with only its own parameters (any other would join its SET).
_SQLITE_STEPS = (
    (_GRANT_PROGRAMME, ("programme_key", "amount", "stamp")),
    (_GRANT_MEASURE, ("measure_key", "amount", "stamp")),
    (_GRANT_CALL, ("call_key", "amount", "released", "stamp")),
)
Counter = Literal["programme", "measure", "call"]


class GrantWrites(NamedTuple):
    """Which counter refused (None: none did), and whether the allocation was inserted
    (False with no refusal: a unique index found an active allocation of the application,
    or a funded project of the district, committed meanwhile)."""

    refused: Counter | None
    inserted: bool
    # The audit event appended with the grant: its seq, prev_hash and hash.
    appended: tuple[int, str, str] | None = None


async def write_grant(
    session: AsyncSession,
    *,
    allocation: dict[str, Any],
    released: Decimal,
    event: audit.EventParameters | None = None,
) -> GrantWrites:
    """Move the programme's, the measure's and the call's counters and insert the
    ``allocation`` (its row by column name), each only if every step before it succeeded:
    one statement on PostgreSQL; on SQLite, whose write transaction already holds the
    database's lock, one per step. ``event`` (PostgreSQL only: the bind parameters of the
    audit append, with its outbox rows): the grant's audit event, appended in the same
    statement once the allocation is inserted."""
    values = {f"new_{name}": value for name, value in allocation.items()}
    values |= {
        "programme_key": allocation["programme_id"],
        "measure_key": allocation["measure_id"],
        "call_key": allocation["call_id"],
        "amount": allocation["amount_cents"],
        "released": released,
        "stamp": allocation["updated_at"],
    }
    steps: list[bool] = []
    if session.get_bind().dialect.name == "postgresql":
        grant = _GRANT[None if event is None else event.outbox_rows]
        row = (await session.execute(grant, values | (event.values if event else {}))).one()
        if (locked_at := row[-1]) is not None:  # observed at COMMIT (app.db.session)
            mark_critical_section(session, locked_at.timestamp())
        steps = [row[0] == 1, row[1] == 1, row[2] == 1]
        inserted = row[3] is not None
        if event is not None and inserted:
            assert row[4] is not None, "the event is appended once the allocation is"
            assert row[7] == event.outbox_rows, "with its outbox rows"
            appended = (int(row[4]), str(row[5]), str(row[6]))
            return GrantWrites(None, True, appended)
    else:
        mark_critical_section(session)  # the database's lock is held since BEGIN IMMEDIATE
        for statement, keys in _SQLITE_STEPS:
            step = {key: values[key] for key in keys}
            steps.append(_changed(await session.execute(statement, step)))
            if not steps[-1]:
                break
        inserted = (
            all(steps) and (await session.scalar(_INSERT_ALLOCATION_SQLITE, values)) is not None
        )
    counters: tuple[Counter, ...] = ("programme", "measure", "call")
    for name, ok in zip(counters, steps, strict=False):
        if not ok:
            return GrantWrites(name, False)
    return GrantWrites(None, inserted)


async def release(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID,
    measure_id: uuid.UUID,
    call_id: uuid.UUID,
    amount: Decimal,
    projects: int = 1,
) -> None:
    """A revoked allocation frees its amount and its project slot, in the same order (a
    partial revocation frees part of the amount, and no slot: ``projects=0``)."""
    for model, key in ((Programme, programme_id), (Measure, measure_id), (Call, call_id)):
        await session.execute(
            update(model)
            .where(model.id == key)
            .values(
                {
                    model.allocated: model.allocated - amount,
                    model.funded_projects: model.funded_projects - projects,
                }
            )
            .execution_options(synchronize_session=False)
        )
