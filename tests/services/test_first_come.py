"""First-come calls (app.services.first_come): reservations in commit order, a waiting list
in strict order, releases that promote it, and the call closing itself. The same races on
real servers are in tests/concurrency/test_storms.py."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus
from app.core.errors import BudgetBelowAllocated, FirstComeCallClosed, StillWaiting
from app.models import Application, AuditEvent, Call
from app.repositories import consistency
from app.schemas.application import AllocationCreate, ApplicationRead
from app.schemas.call import CallRead, CallUpdate
from app.services import calls
from app.services.allocations import grant_allocation, revoke_allocation
from app.services.applications import (
    dry_run_submission,
    load_submission_subject,
    move_application,
)
from app.services.calls import read_call
from tests.world import Budget, approved, first_come, first_come_in_line

REGION = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)
S = ApplicationStatus
_APPLICANTS = itertools.count(1)  # a new applicant organisation per draft


async def _submit(session: AsyncSession, world: Budget, *requests: int) -> list[Application]:
    """One draft per request (in euros), submitted in that order."""
    made = []
    for requested in requests:
        draft = await approved(
            session, world, requested=requested, n=next(_APPLICANTS), status=S.DRAFT
        )
        await move_application(session, draft, action="submit", principal=REGION)
        made.append(draft)
    return made


async def _state(session: AsyncSession, call: Call) -> tuple[Decimal, int, Decimal]:
    await session.refresh(call)
    return call.reserved, call.waiting_count, call.available


async def _closed(session: AsyncSession, call: Call) -> bool:
    await session.refresh(call)
    return call.closed_for_submissions


async def _queue(session: AsyncSession, apps: list[Application]) -> list[tuple[str, int | None]]:
    """Each application's hold: its reservation in euros, or its waiting position."""
    out: list[tuple[str, int | None]] = []
    for app in apps:
        await session.refresh(app)
        out.append((str(app.reserved), app.waiting_position))
    return out


async def _review(session: AsyncSession, app: Application) -> None:
    await move_application(session, app, action="start-review", principal=REGION)


async def test_submissions_reserve_until_the_budget_then_wait_in_order(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=1000)
    apps = await _submit(session, world, 400, 600, 1, 300)
    # 400 + 600 fills the budget exactly (the boundary is reserved); 1 euro more waits.
    assert await _queue(session, apps) == [
        ("400.00", None),
        ("600.00", None),
        ("0.00", 1),
        ("0.00", 2),
    ]
    assert await _state(session, world.call) == (Decimal("1000.00"), 2, Decimal("0.00"))
    read = ApplicationRead.model_validate(apps[3])
    assert (read.status, read.waiting_position, read.reserved) == (S.SUBMITTED, 2, Decimal(0))
    figures = CallRead.model_validate(await read_call(session, world.call))
    assert (figures.reserved, figures.available, figures.waiting_count) == (
        Decimal("1000.00"),
        Decimal("0.00"),
        2,
    )
    assert figures.closed_for_submissions is False  # no limit on the list


async def test_a_later_smaller_request_never_jumps_the_line(session: AsyncSession) -> None:
    """Strict order: 50 is left, the first waiting asks 100, a later submission of 10 would
    fit and still waits behind it."""
    world = await first_come(session, budget_euros=1000)
    apps = await _submit(session, world, 950, 100, 10)
    assert await _queue(session, apps) == [("950.00", None), ("0.00", 1), ("0.00", 2)]
    assert await _state(session, world.call) == (Decimal("950.00"), 2, Decimal("50.00"))


async def test_a_withdrawal_promotes_in_order_as_many_as_fit(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=1000)
    apps = await _submit(session, world, 600, 400, 300, 200, 600, 100)
    await move_application(session, apps[0], action="withdraw", principal=REGION)
    # 600 freed: 300 and 200 fit (500), 600 does not and stops the line; 100 stays behind it.
    assert await _queue(session, apps) == [
        ("0.00", None),
        ("400.00", None),
        ("300.00", None),
        ("200.00", None),
        ("0.00", 1),
        ("0.00", 2),
    ]
    assert await _state(session, world.call) == (Decimal("900.00"), 2, Decimal("100.00"))
    actions = (
        await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("application.%"))
            .order_by(AuditEvent.seq)
        )
    ).all()
    assert actions[-4:] == [
        "application.release",
        "application.promote",
        "application.promote",
        "application.withdraw",
    ]
    assert actions.count("application.promote") == 2
    assert actions.count("application.release") == 1
    assert actions.count("application.reserve") == 2
    assert actions.count("application.wait_list") == 4


async def test_a_waiting_withdrawal_closes_the_gap(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100)
    apps = await _submit(session, world, 100, 10, 20, 30)
    await move_application(session, apps[2], action="withdraw", principal=REGION)
    assert await _queue(session, apps) == [
        ("100.00", None),
        ("0.00", 1),
        ("0.00", None),
        ("0.00", 2),
    ]
    assert await _state(session, world.call) == (Decimal("100.00"), 2, Decimal("0.00"))


async def test_a_rejection_releases_and_promotes(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100)
    apps = await _submit(session, world, 100, 100)
    await _review(session, apps[0])
    await move_application(session, apps[0], action="reject", principal=REGION)
    assert await _queue(session, apps) == [("0.00", None), ("100.00", None)]
    assert await _state(session, world.call) == (Decimal("100.00"), 0, Decimal("0.00"))


async def test_a_grant_converts_the_reservation_and_a_smaller_one_releases_the_rest(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=1000)
    apps = await _submit(session, world, 1000, 200, 300)
    await _review(session, apps[0])
    await move_application(session, apps[0], action="approve", principal=REGION)
    # The whole budget is reserved by this application: granting it must not count it twice.
    allocation = await grant_allocation(
        session,
        data=AllocationCreate(application_id=apps[0].id, amount=Decimal("800.00")),
        principal=REGION,
    )
    await session.refresh(world.call)
    assert (world.call.allocated, world.call.reserved) == (Decimal("800.00"), Decimal("200.00"))
    # 200 released: the first in line (200) fits, the next (300) does not.
    assert await _queue(session, apps) == [("0.00", None), ("200.00", None), ("0.00", 1)]
    assert world.call.available == Decimal("0.00")
    # A revocation frees 800: the 300 waiting is promoted.
    await revoke_allocation(session, allocation, reason="Rinuncia", principal=REGION)
    assert await _queue(session, apps) == [("0.00", None), ("200.00", None), ("300.00", None)]
    assert await _state(session, world.call) == (Decimal("500.00"), 0, Decimal("500.00"))


async def test_a_waiting_application_is_not_granted(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100)
    apps = await _submit(session, world, 100, 50)
    await _review(session, apps[1])
    await move_application(session, apps[1], action="approve", principal=REGION)
    with pytest.raises(StillWaiting) as refused:
        async with session.begin_nested():
            await grant_allocation(
                session,
                data=AllocationCreate(application_id=apps[1].id, amount=Decimal("50.00")),
                principal=REGION,
            )
    assert refused.value.figures == {"waiting_position": 1}


async def test_the_call_closes_when_the_list_is_full_and_reopens_on_release(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=1)
    apps = await _submit(session, world, 100, 10)
    assert await _closed(session, world.call)
    late = await approved(session, world, requested=5, n=next(_APPLICANTS), status=S.DRAFT)
    with pytest.raises(FirstComeCallClosed) as refused:
        async with session.begin_nested():
            await move_application(session, late, action="submit", principal=REGION)
    assert refused.value.figures["waiting_count"] == 1
    assert refused.value.figures["waiting_list_length"] == 1
    await session.refresh(late)
    assert (late.status, late.waiting_position) == (S.DRAFT, None)
    assert await _state(session, world.call) == (Decimal("100.00"), 1, Decimal("0.00"))
    # One list place short of full: open.
    await move_application(session, apps[1], action="withdraw", principal=REGION)
    assert not await _closed(session, world.call)
    await move_application(session, late, action="submit", principal=REGION)
    assert late.waiting_position == 1


async def test_with_no_waiting_list_the_call_closes_when_nothing_is_left(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=0)
    await _submit(session, world, 99)
    await session.refresh(world.call)
    assert not world.call.closed_for_submissions  # one euro left
    await _submit(session, world, 1)
    assert await _closed(session, world.call)


async def test_the_database_refuses_reservations_beyond_the_budget(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=100)
    with pytest.raises(IntegrityError, match="call_reserved_within_budget"):
        async with session.begin_nested():
            await session.execute(
                update(Call).where(Call.id == world.call.id).values(reserved=Decimal("100.01"))
            )
    with pytest.raises(IntegrityError, match="call_reserved_within_budget"):
        async with session.begin_nested():
            await session.execute(
                update(Call).where(Call.id == world.call.id).values(reserved=Decimal("-0.01"))
            )


async def test_the_database_refuses_a_longer_list_than_its_length(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=2)
    with pytest.raises(IntegrityError, match="call_waiting_within_length"):
        async with session.begin_nested():
            await session.execute(
                update(Call).where(Call.id == world.call.id).values(waiting_count=3)
            )


@pytest.mark.counters_may_disagree
async def test_wecare_check_recomputes_the_reservations_and_the_list(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=100)
    await _submit(session, world, 60, 60)
    connection = await session.connection()
    assert await consistency.differences(connection) == []
    await session.execute(
        update(Call).where(Call.id == world.call.id).values(reserved=Decimal("50.00"))
    )
    await session.execute(
        update(Application).where(Application.waiting_position == 1).values(waiting_position=2)
    )
    found = {(d.column, d.stored, d.recomputed) for d in await consistency.differences(connection)}
    assert ("reserved_cents", 5000, 6000) in found
    assert ("last waiting_position", 2, 1) in found


async def test_a_larger_budget_moves_the_line(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100)
    apps = await _submit(session, world, 100, 30, 20)
    await calls.update_call(session, world.call, data=CallUpdate(budget=Decimal("129.99")))
    # 29.99 more: 30 does not fit, and stops the line.
    assert await _queue(session, apps) == [("100.00", None), ("0.00", 1), ("0.00", 2)]
    await calls.update_call(session, world.call, data=CallUpdate(budget=Decimal("150.00")))
    assert await _queue(session, apps) == [("100.00", None), ("30.00", None), ("20.00", None)]
    assert await _state(session, world.call) == (Decimal("150.00"), 0, Decimal("0.00"))
    # Not below what is reserved.
    with pytest.raises(BudgetBelowAllocated):
        await calls.update_call(session, world.call, data=CallUpdate(budget=Decimal("149.99")))


async def test_a_dry_run_of_a_submission_says_what_the_first_come_list_would_do(
    session: AsyncSession,
) -> None:
    """The dry run reports the closed list with the real refusal's figures, and nothing while
    the request would still reserve or wait; it moves no counter."""
    world = await first_come(session, budget_euros=100, waiting_list_length=1)
    await _submit(session, world, 90)
    fits = await approved(session, world, requested=10, n=next(_APPLICANTS), status=S.DRAFT)
    waits = await approved(session, world, requested=11, n=next(_APPLICANTS), status=S.DRAFT)
    for draft in (fits, waits):  # exactly what is left reserves; one euro more waits
        subject = await load_submission_subject(session, draft.id, REGION)
        report = await dry_run_submission(session, subject, principal=REGION)
        assert report.would_succeed, report
    await move_application(session, waits, action="submit", principal=REGION)
    before = await _state(session, world.call)
    late = await approved(session, world, requested=1, n=next(_APPLICANTS), status=S.DRAFT)
    subject = await load_submission_subject(session, late.id, REGION)
    report = await dry_run_submission(session, subject, principal=REGION)
    assert not report.would_succeed
    (closed,) = [v for v in report.violations if v.rule == "first_come_call_closed"]
    assert (closed.figures["waiting_count"], closed.figures["waiting_list_length"]) == (1, 1)
    assert await _state(session, world.call) == before
    with pytest.raises(FirstComeCallClosed):
        async with session.begin_nested():
            await move_application(session, late, action="submit", principal=REGION)


async def _closure(session: AsyncSession, call: Call) -> tuple[bool, object, bool]:
    """(closed for submissions, why, closed_at recorded), as stored."""
    await session.refresh(call)
    return call.closed_for_submissions, call.closed_reason, call.closed_at is not None


async def test_closed_at_is_recorded_when_the_list_fills_and_cleared_when_it_moves(
    session: AsyncSession,
) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=2)
    apps = await _submit(session, world, 100, 10)
    # One waits of two: open, nothing recorded (one place short of the boundary).
    assert await _closure(session, world.call) == (False, None, False)
    apps += await _submit(session, world, 10)
    assert await _closure(session, world.call) == (True, "waiting_list_full", True)
    closed_at = world.call.closed_at
    # A later change that leaves it closed keeps the moment it closed.
    await calls.update_call(session, world.call, data=CallUpdate(dates_note="Note."))
    await session.refresh(world.call)
    assert world.call.closed_at == closed_at
    # The last in line withdraws: a place is free, the call is open again.
    await move_application(session, apps[2], action="withdraw", principal=REGION)
    assert await _closure(session, world.call) == (False, None, False)
    connection = await session.connection()
    assert await consistency.differences(connection) == []


async def test_with_no_list_the_call_closes_when_nothing_is_left(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=0)
    apps = await _submit(session, world, 99)
    # One euro left: still open.
    assert await _closure(session, world.call) == (False, None, False)
    apps += await _submit(session, world, 1)
    assert await _closure(session, world.call) == (True, "nothing_left", True)
    # A larger budget opens it (the call's update records it too).
    await calls.update_call(session, world.call, data=CallUpdate(budget=Decimal("100.01")))
    assert await _closure(session, world.call) == (False, None, False)
    await calls.update_call(session, world.call, data=CallUpdate(budget=Decimal("100.00")))
    assert await _closure(session, world.call) == (True, "nothing_left", True)
    # A grant of less than the reservation releases the rest: open again.
    await move_application(session, apps[1], action="start-review", principal=REGION)
    await move_application(session, apps[1], action="approve", principal=REGION)
    await grant_allocation(
        session,
        data=AllocationCreate(application_id=apps[1].id, amount=Decimal("0.50")),
        principal=REGION,
    )
    assert await _closure(session, world.call) == (False, None, False)


@pytest.mark.counters_may_disagree
async def test_wecare_check_compares_closed_at_with_the_counters(session: AsyncSession) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=1)
    await _submit(session, world, 100, 10)
    connection = await session.connection()
    assert await consistency.differences(connection) == []
    await session.execute(update(Call).where(Call.id == world.call.id).values(closed_at=None))
    found = {
        (d.code, d.column, d.stored, d.recomputed)
        for d in await consistency.differences(connection)
    }
    assert (world.call.code, "closed_at is set", 0, 1) in found


async def test_the_fuzz_worlds_draft_waits_closes_the_call_and_leaves(
    session: AsyncSession,
) -> None:
    """tests.world.first_come_in_line does what the fuzz run relies on."""
    draft = await first_come_in_line(session)
    call = await session.get(Call, draft.call_id)
    assert call is not None
    assert await _closure(session, call) == (False, None, False)
    await move_application(session, draft, action="submit", principal=REGION)
    assert (draft.reserved, draft.waiting_position) == (Decimal("0.00"), 1)
    assert await _closure(session, call) == (True, "waiting_list_full", True)
    await move_application(session, draft, action="withdraw", principal=REGION)
    assert await _closure(session, call) == (False, None, False)
    connection = await session.connection()
    assert await consistency.differences(connection) == []
