"""First-come calls: the reservation and waiting-list counters of a call, each moved by one
conditional UPDATE, and the waiting list in order.

Every statement here runs with the call's row locked (app.services.first_come locks it
first), so the waiting list and the counters change one transaction at a time, in the order
those transactions commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CursorResult, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.types import Money
from app.models.application import Application
from app.models.call import Call


def _changed(result: object) -> bool:
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


_AMOUNT = bindparam("amount", type_=Money())
_FITS = Call.allocated + Call.reserved + _AMOUNT <= Call.budget

# A submission reserves only while nobody waits: the waiting list goes first (strict order).
_RESERVE = (
    update(Call)
    .where(Call.id == bindparam("key"), _FITS, Call.waiting_count == 0)
    .values({Call.reserved: Call.reserved + _AMOUNT})
    .execution_options(synchronize_session=False)
)
# The head of the waiting list leaves it with its reservation, while it fits.
_PROMOTE = (
    update(Call)
    .where(Call.id == bindparam("key"), _FITS, Call.waiting_count >= 1)
    .values({Call.reserved: Call.reserved + _AMOUNT, Call.waiting_count: Call.waiting_count - 1})
    .execution_options(synchronize_session=False)
)


async def reserve(session: AsyncSession, call_id: uuid.UUID, amount: Decimal) -> bool:
    """``reserved += amount`` while ``allocated + reserved + amount <= budget`` and no one
    waits; False (nothing written) otherwise."""
    return _changed(await session.execute(_RESERVE, {"key": call_id, "amount": amount}))


async def promote(session: AsyncSession, call_id: uuid.UUID, amount: Decimal) -> bool:
    """The head of the waiting list reserves ``amount`` and leaves the list, if it fits."""
    return _changed(await session.execute(_PROMOTE, {"key": call_id, "amount": amount}))


async def join_waiting_list(session: AsyncSession, call_id: uuid.UUID) -> int | None:
    """One more waits, within the call's waiting-list length: the new length (the newcomer's
    position), or None when the list is full."""
    grown = Call.waiting_count + 1
    return await session.scalar(
        update(Call)
        .where(
            Call.id == call_id,
            Call.waiting_list_length.is_(None) | (grown <= Call.waiting_list_length),
        )
        .values({Call.waiting_count: grown})
        .returning(Call.waiting_count)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, call_id: uuid.UUID, amount: Decimal) -> None:
    """A reservation ends (withdrawal, rejection, a grant that converts it)."""
    await session.execute(
        update(Call)
        .where(Call.id == call_id)
        .values({Call.reserved: Call.reserved - amount})
        .execution_options(synchronize_session=False)
    )


async def leave_waiting_list(session: AsyncSession, call_id: uuid.UUID) -> None:
    await session.execute(
        update(Call)
        .where(Call.id == call_id)
        .values({Call.waiting_count: Call.waiting_count - 1})
        .execution_options(synchronize_session=False)
    )


async def close_gap(session: AsyncSession, call_id: uuid.UUID, position: int) -> None:
    """Everyone behind ``position`` moves up one place (positions stay 1..n). Their versions
    move too: each one's representation changed."""
    await session.execute(
        update(Application)
        .where(Application.call_id == call_id, Application.waiting_position > position)
        .values(
            {
                Application.waiting_position: Application.waiting_position - 1,
                Application.version: Application.version + 1,
            }
        )
        .execution_options(synchronize_session=False)
    )


async def head_of_waiting_list(session: AsyncSession, call_id: uuid.UUID) -> Application | None:
    """The application at position 1, as committed now."""
    return await session.scalar(
        select(Application)
        .where(Application.call_id == call_id, Application.waiting_position == 1)
        .execution_options(populate_existing=True)
    )


# The closure as Call.closed_for_submissions decides it, in SQL (migration 0019 uses it too).
CLOSED = (
    Call.waiting_list_length.is_not(None)
    & (Call.waiting_count >= Call.waiting_list_length)
    & ((Call.waiting_count > 0) | (Call.budget - Call.allocated - Call.reserved <= 0))
)


async def sync_closure(session: AsyncSession, call_id: uuid.UUID, now: datetime) -> datetime | None:
    """``closed_at``: kept when still closed, ``now`` when it just closed, None when open
    again, from the counters as they are after this transaction's changes. The new value."""
    return await session.scalar(
        update(Call)
        .where(Call.id == call_id)
        .values({Call.closed_at: case((CLOSED, func.coalesce(Call.closed_at, now)), else_=None)})
        .returning(Call.closed_at)
        .execution_options(synchronize_session=False)
    )


async def refresh_call(session: AsyncSession, call: Call) -> None:
    await session.refresh(call, ["reserved", "waiting_count", "allocated"])
