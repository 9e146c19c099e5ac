"""First-come calls ("a sportello"): a submission reserves its request against the call in
commit order, or waits in line; releases promote the line in strict order.

- Submitting (single-stage or executive application; a preliminary project asks for no
  money yet) reserves ``requested`` with one conditional UPDATE of the call, in the
  transaction that submits, with the call's row locked since the submission began: so the
  reservations are granted in the order the submissions commit. Nobody may reserve while
  someone waits, so the reserved set is always a prefix of the commit order.
- What does not fit joins the waiting list at the next position (1..n, contiguous), if the
  list has room (``waiting_list_length``; None: no limit). When it has none the call is
  closed for submissions: the submission is refused and nothing is written.
- A withdrawal or a rejection releases the reservation, or leaves the waiting list (those
  behind move up). A grant converts the reservation into the allocation: the call's
  counter moves from ``reserved`` to ``allocated`` and a smaller grant releases the rest.
  A revocation frees allocated money. After each, the waiting list is promoted in strict
  order: the head while it fits, and the first that does not stops the line (a later,
  smaller request never jumps it).
- The reservation is held on the application (``Application.reserved``) and summed into
  ``Call.reserved``; ``wecare check`` verifies both counters against the applications.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.core.domain import ApplicationStage, SelectionMethod
from app.core.errors import FirstComeCallClosed, StillWaiting
from app.core.i18n import msg
from app.core.money import ZERO
from app.db.types import Money
from app.models.application import Application
from app.models.call import Call
from app.repositories import first_come as repo
from app.services import audit

_RESERVING_STAGES = frozenset({ApplicationStage.SINGLE, ApplicationStage.EXECUTIVE})


def applies(call: Call) -> bool:
    return call.selection_method is SelectionMethod.FIRST_COME


async def _record(
    session: AsyncSession, action: str, application: Application, **figures: Decimal | int
) -> None:
    """One audit event per queue change: the application as stored, and the figures of the
    change (money in cents, as the trail records it)."""
    await session.flush()
    await audit.record(
        session,
        action=f"application.{action}",
        entity_type="application",
        entity_id=application.id,
        after={
            **audit.snapshot(application),
            **{
                key: Money.stored(value) if isinstance(value, Decimal) else value
                for key, value in figures.items()
            },
        },
    )


def _closed(call: Call, amount: Decimal) -> FirstComeCallClosed:
    return FirstComeCallClosed(
        msg(
            "Call {call_code} has {available} left and its waiting list is full "
            "({waiting_count} of {waiting_list_length}).",
            call_code=call.code,
            available=call.available,
            waiting_count=call.waiting_count,
            waiting_list_length=call.waiting_list_length,
        ),
        budget=call.budget,
        allocated=call.allocated,
        reserved=call.reserved,
        available=call.available,
        requested=amount,
        waiting_count=call.waiting_count,
        waiting_list_length=call.waiting_list_length,
    )


async def sync_closure(session: AsyncSession, call: Call) -> None:
    """With ``call`` locked, after its counters moved: record when it closed itself for new
    submissions (``closed_at``), or clear it when it opened again. Every change of a
    first-come call's counters or of its waiting list's length ends here."""
    if not applies(call):
        return
    closed_at = await repo.sync_closure(session, call.id, datetime.now(UTC))
    set_committed_value(call, "closed_at", closed_at)


async def reserve_on_submit(session: AsyncSession, call: Call, application: Application) -> None:
    """With ``call`` locked: reserve the request, or join the waiting list, or refuse."""
    if not applies(call) or application.stage not in _RESERVING_STAGES:
        return
    amount = application.requested
    if await repo.reserve(session, call.id, amount):
        application.reserved = amount
        await _record(session, "reserve", application)
        await sync_closure(session, call)
        return
    position = await repo.join_waiting_list(session, call.id)
    if position is None:
        await repo.refresh_call(session, call)
        raise _closed(call, amount)
    application.waiting_position = position
    await _record(session, "wait_list", application)
    await sync_closure(session, call)


def refusal_on_submit(call: Call, application: Application) -> FirstComeCallClosed | None:
    """What ``reserve_on_submit`` would refuse now, from the call as read (a dry run: no
    counter moves). The same conditions as its two conditional UPDATEs: a reservation needs
    room and nobody waiting; a place on the list needs the list not full."""
    if not applies(call) or application.stage not in _RESERVING_STAGES:
        return None
    amount = application.requested
    if call.waiting_count == 0 and call.allocated + call.reserved + amount <= call.budget:
        return None
    limit = call.waiting_list_length
    if limit is None or call.waiting_count + 1 <= limit:
        return None
    return _closed(call, amount)


async def release_on_exit(session: AsyncSession, call: Call, application: Application) -> None:
    """With ``call`` locked: a withdrawn or rejected application gives back what it holds
    (its reservation, or its place in line), and the line moves."""
    if not applies(call):
        return
    if application.reserved > ZERO:
        released = application.reserved
        await repo.release(session, call.id, released)
        application.reserved = ZERO
        await _record(session, "release", application, released_cents=released)
        await promote_waiting(session, call)
    elif application.waiting_position is not None:
        position = application.waiting_position
        application.waiting_position = None
        await session.flush()
        await repo.leave_waiting_list(session, call.id)
        await repo.close_gap(session, call.id, position)
        await _record(session, "leave_waiting_list", application, left_position=position)
    await sync_closure(session, call)


def released_on_grant(call: Call, application: Application) -> Decimal:
    """What the grant's write of the call's counter releases of the application's
    reservation (app.repositories.budgets.write_grant: it stops counting as reserved in the
    same UPDATE that counts the grant as allocated, never twice). A waiting application
    has nothing to grant from."""
    if not applies(call):
        return ZERO
    if application.waiting_position is not None:
        raise StillWaiting(
            msg(
                "The application waits at position {waiting_position} of call "
                "{call_code}: it is granted once promoted.",
                waiting_position=application.waiting_position,
                call_code=call.code,
            ),
            waiting_position=application.waiting_position,
        )
    return application.reserved


async def after_grant(
    session: AsyncSession, call: Call, application: Application, amount: Decimal
) -> None:
    """After the allocation counter moved: what the grant did not take is released."""
    if not applies(call):
        return
    if application.reserved <= ZERO:  # nothing held, but the allocation may take the rest
        await sync_closure(session, call)
        return
    held = application.reserved
    application.reserved = ZERO
    await _record(
        session,
        "convert",
        application,
        granted_cents=amount,
        released_cents=held - amount,
    )
    if amount < held:
        await promote_waiting(session, call)
    await sync_closure(session, call)


async def after_revocation(session: AsyncSession, call: Call) -> None:
    """A revoked allocation freed money: the line moves."""
    if applies(call):
        await promote_waiting(session, call)
        await sync_closure(session, call)


async def promote_waiting(session: AsyncSession, call: Call) -> int:
    """Strict order: the head of the line takes its reservation while it fits; the first
    that does not fit stops the line. How many were promoted."""
    promoted = 0
    while True:
        head = await repo.head_of_waiting_list(session, call.id)
        if head is None or not await repo.promote(session, call.id, head.requested):
            return promoted
        head.reserved = head.requested
        head.waiting_position = None
        await session.flush()
        await repo.close_gap(session, call.id, 1)
        await _record(session, "promote", head, promoted_from_position=1)
        promoted += 1
