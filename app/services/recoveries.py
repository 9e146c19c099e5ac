"""Revocation after payment (issue 16): recoveries.

A total or partial revocation of a grant with payments asks back what was paid beyond
the grant's new amount (a total revocation: everything paid): a recovery, with its due
date (the measure's ``recovery_days`` after the revocation; None while not set, "not
given by the source") and what came back so far.

The rule: **the programme's available budget grows only by what was never paid or has
been recovered.** A revocation (total, to 0, or partial, to a new amount N) of a grant of
A with P paid releases to the call, measure and programme at once ``A - max(N, P)``, the
part never paid; the part paid beyond N, ``max(P - N, 0)``, stays counted as allocated
until it comes back, and each amount recovered then releases its part. Paid stays what
was paid: the CHECK ``paid - due <= cap`` keeps what is paid and not asked back within
the grant, ``recovered <= due <= paid`` on every counter row.

Counters: ``due`` and ``recovered`` per allocation, call, measure and programme; a
recovery's ``recovered`` moves by one conditional UPDATE within its ``due`` (its row is
the lock its receipts queue on), then the allocation's and, programme -> measure -> call,
the totals' (``allocated`` down by the same amount).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal
from app.core.domain import AllocationStatus
from app.core.errors import (
    Conflict,
    DateOutOfRange,
    IllegalTransition,
    NotFound,
    RecoveredBeyondDue,
    ReductionNotBelowGrant,
)
from app.core.i18n import msg
from app.core.money import ZERO
from app.models.allocation import Allocation
from app.models.payment import Recovery, RecoveryReceipt
from app.repositories import budgets, visibility
from app.repositories import loans as loans_repo
from app.repositories import payments as repo
from app.schemas.page import Page
from app.schemas.payment import (
    RecoveryRead,
    RecoveryReceiptCreate,
    RecoveryReceiptQuery,
    RecoveryReceiptRead,
)
from app.services import audit
from app.services.paging import SortKey

RECEIPT_ORDER = SortKey[RecoveryReceipt](RecoveryReceipt.created_at, RecoveryReceipt.id)


async def settle_revocation(
    session: AsyncSession,
    allocation: Allocation,
    *,
    kept: Decimal,
    total: bool,
    principal: Principal,
) -> Recovery | None:
    """The counters of a revocation of ``allocation`` (its row locked, its amount not yet
    changed) down to ``kept`` (0: total): the never-paid part released at once (with the
    project slot on a total revocation), the paid part beyond ``kept`` due in a new
    recovery (a partial revocation before may already have asked some back)."""
    owed = max(allocation.paid - kept, ZERO)
    new_due = owed - allocation.due
    await budgets.release(
        session,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        amount=allocation.amount - kept - new_due,
        projects=1 if total else 0,
    )
    if new_due <= ZERO:
        return None
    await repo.add_to_due(
        session,
        allocation_id=allocation.id,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        amount=new_due,
    )
    terms = await repo.terms_of(session, allocation.measure_id)
    days = terms.recovery_days if terms is not None else None
    recovery = Recovery(
        id=uuid.uuid4(),
        allocation_id=allocation.id,
        due=new_due,
        recovered=ZERO,
        due_on=clock.today() + timedelta(days=days) if days is not None else None,
        created_by=principal.actor,
        created_at=datetime.now(UTC),
    )
    session.add(recovery)
    await session.flush()  # one event per change: the revocation's (its ``due`` shows it)
    await session.refresh(allocation)
    return recovery


async def reduce_allocation(
    session: AsyncSession,
    allocation: Allocation,
    *,
    amount: Decimal,
    reason: str,
    principal: Principal,
) -> Allocation:
    """A partial revocation: the active grant's amount goes down to ``amount`` (more than
    0, less than it was); what was paid beyond it becomes a recovery (the rule above)."""
    if allocation.status != AllocationStatus.ACTIVE:
        raise IllegalTransition(
            msg("Only an active allocation can be reduced."),
            current_status=allocation.status,
            attempted="reduce",
        )
    if not ZERO < amount < allocation.amount:
        raise ReductionNotBelowGrant(
            msg(
                "The new amount must be more than 0 and less than the grant of "
                "{allocation_amount}.",
                allocation_amount=allocation.amount,
            ),
            amount=allocation.amount,
            requested=amount,
        )
    if await loans_repo.loan_of(session, allocation.id) is not None:
        raise IllegalTransition(
            msg("A mixed grant's loan and grant parts are fixed: revoke it instead."),
            current_status=allocation.status,
            attempted="reduce",
        )
    seen = allocation.version
    # The row's lock first: a payment in flight is waited for, and what is due is
    # computed from what is paid now (a payment does not move the version).
    await session.refresh(allocation, with_for_update=True)
    if allocation.version != seen or allocation.status != AllocationStatus.ACTIVE:
        raise Conflict(msg("The allocation changed meanwhile; read it again."))
    before = audit.snapshot(allocation)
    await settle_revocation(session, allocation, kept=amount, total=False, principal=principal)
    allocation.amount = amount
    await session.flush()
    await audit.record(
        session,
        action="allocation.reduce",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=audit.snapshot(allocation),
        reason=reason,
    )
    return allocation


def read_recovery(recovery: Recovery) -> RecoveryRead:
    return RecoveryRead(
        id=recovery.id,
        allocation_id=recovery.allocation_id,
        due=recovery.due,
        recovered=recovery.recovered,
        outstanding=recovery.due - recovery.recovered,
        due_on=recovery.due_on,
        created_by=recovery.created_by,
        created_at=recovery.created_at,
    )


async def load_recovery(
    session: AsyncSession, recovery_id: uuid.UUID, principal: Principal
) -> Recovery:
    recovery = await repo.get_recovery(session, recovery_id, visibility.funding_records(principal))
    if recovery is None:
        raise NotFound(msg("No recovery {recovery_id}.", recovery_id=recovery_id))
    return recovery


async def get_recovery(
    session: AsyncSession, principal: Principal, recovery_id: uuid.UUID
) -> RecoveryRead:
    return read_recovery(await load_recovery(session, recovery_id, principal))


async def read_recovery_async(session: AsyncSession, recovery: Recovery) -> RecoveryRead:
    await session.refresh(recovery)
    return read_recovery(recovery)


async def record_recovered(
    session: AsyncSession,
    recovery_id: uuid.UUID,
    *,
    data: RecoveryReceiptCreate,
    principal: Principal,
) -> Recovery:
    """An amount that came back on a recovery, within what is still due, or raise and
    write nothing; it returns to the call's, measure's and programme's caps."""
    recovery = await load_recovery(session, recovery_id, principal)
    allocation = await session.get(Allocation, recovery.allocation_id)
    assert allocation is not None
    created = clock.day_of(recovery.created_at)
    if not created <= data.received_on <= clock.today():
        raise DateOutOfRange(
            msg("An amount recovered is dated between the recovery and today."),
            received_on=data.received_on,
            opened_on=created,
            today=clock.today(),
        )
    before = audit.snapshot(recovery)
    if not await repo.recover_on(session, recovery.id, data.amount):
        await session.refresh(recovery)
        raise RecoveredBeyondDue(
            msg(
                "Recovering {data_amount} would recover more than is due.", data_amount=data.amount
            ),
            due=recovery.due,
            recovered=recovery.recovered,
            requested=data.amount,
            available=recovery.due - recovery.recovered,
        )
    if not await repo.add_to_recovered(
        session,
        allocation_id=allocation.id,
        programme_id=allocation.programme_id,
        measure_id=allocation.measure_id,
        call_id=allocation.call_id,
        amount=data.amount,
    ):
        raise Conflict(
            msg("A counter of the grant, call, measure or programme refused the amount.")
        )
    receipt = RecoveryReceipt(
        id=uuid.uuid4(),
        recovery_id=recovery.id,
        amount=data.amount,
        received_on=data.received_on,
        treasury_reference=data.treasury_reference,
        recorded_by=principal.actor,
        created_at=datetime.now(UTC),
    )
    session.add(receipt)
    await session.flush()  # the treasury reference's unique index fires here
    await session.refresh(recovery)
    await audit.record(
        session,
        action="recovery.receive",
        entity_type="recovery",
        entity_id=recovery.id,
        before=before,
        after=audit.snapshot(recovery),
        reason=f"{data.amount} received on {data.received_on}, {data.treasury_reference}",
    )
    return recovery


async def recovery_ids(session: AsyncSession, allocation_id: uuid.UUID) -> list[uuid.UUID]:
    return [r.id for r in await repo.recoveries_of(session, allocation_id)]


async def list_receipts(
    session: AsyncSession, principal: Principal, recovery_id: uuid.UUID, query: RecoveryReceiptQuery
) -> Page[RecoveryReceiptRead]:
    """A recovery's receipts, oldest first, to whoever may read the recovery (404 to anyone
    else, as a missing one)."""
    recovery = await load_recovery(session, recovery_id, principal)
    rows = partial(repo.page_receipts, session, recovery_id=recovery.id)
    return await RECEIPT_ORDER.page_of(query, rows, RecoveryReceiptRead.model_validate)
