"""The grant act: the CUP and the RNA concession code recorded on an allocation.

- CUP (Codice Unico di Progetto): an act that funds a public-investment project without
  its CUP is null (L. 3/2003 art. 11, as DL 76/2020 art. 41 amended it). The region records
  it on the allocation once the CUP system has issued it; one active allocation carries a
  given CUP (``allocation_cup_key``), and nothing is paid before it is recorded
  (:func:`require_cup`, which the payments call before the first one).
- RNA COR: the national state-aid register's code of the concession (D.M. 115/2017 art. 9),
  one per allocation (``allocation_rna_cor_key``).

Each is its own audited change of an active allocation; recording it again corrects it
(the audit event keeps the value before). The formats are checked by the request schemas
(app.schemas.application.CUP_PATTERN, RNA_COR_PATTERN).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.domain import AllocationStatus
from app.core.errors import CupRequired, CupTaken, IllegalTransition, RnaCorTaken
from app.core.i18n import msg
from app.models.allocation import Allocation
from app.repositories import grant_act as repo
from app.schemas.application import CupRecord, RnaCorRecord
from app.services import audit


def require_cup(allocation: Allocation) -> str:
    """The allocation's CUP, or the problem "a CUP is required before the first payment"
    (409 ``cup_required``): the payments call it before paying anything."""
    if allocation.cup is None:
        raise CupRequired(
            msg(
                "A CUP is required before the first payment: record the project's CUP on "
                "the allocation first."
            ),
            allocation_id=allocation.id,
        )
    return allocation.cup


def _active(allocation: Allocation, attempted: str) -> None:
    if allocation.status != AllocationStatus.ACTIVE:
        raise IllegalTransition(
            msg("Only an active allocation's grant act can be recorded."),
            current_status=allocation.status,
            attempted=attempted,
        )


async def record_cup(
    session: AsyncSession, allocation: Allocation, *, data: CupRecord, principal: Principal
) -> Allocation:
    """Record (or correct) the allocation's CUP: 409 ``cup_taken`` when another active
    allocation carries it (the partial unique index is the backstop under concurrency)."""
    _active(allocation, "record_cup")
    holder = await repo.active_allocation_with_cup(session, data.cup, other_than=allocation.id)
    if holder is not None:
        raise CupTaken(
            msg("CUP {cup} is already recorded on another active allocation.", cup=data.cup),
            cup=data.cup,
            allocation_id=holder,
        )
    before = audit.snapshot(allocation)
    allocation.cup = data.cup
    await session.flush()
    await audit.record(
        session,
        action="allocation.record_cup",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=audit.snapshot(allocation),
    )
    return allocation


async def record_rna_cor(
    session: AsyncSession, allocation: Allocation, *, data: RnaCorRecord, principal: Principal
) -> Allocation:
    """Record (or correct) the concession's RNA COR code: 409 ``rna_cor_taken`` when another
    allocation carries it (the unique index is the backstop under concurrency)."""
    _active(allocation, "record_rna_cor")
    holder = await repo.allocation_with_rna_cor(session, data.rna_cor, other_than=allocation.id)
    if holder is not None:
        raise RnaCorTaken(
            msg(
                "RNA COR {rna_cor} is already recorded on another allocation.", rna_cor=data.rna_cor
            ),
            rna_cor=data.rna_cor,
            allocation_id=holder,
        )
    before = audit.snapshot(allocation)
    allocation.rna_cor = data.rna_cor
    await session.flush()
    await audit.record(
        session,
        action="allocation.record_rna_cor",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=audit.snapshot(allocation),
    )
    return allocation
