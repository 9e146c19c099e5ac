"""Granting down a published ranking (README "Selection: the ranking", "Granting down the
ranking").

The officer's one action takes the call's latest published version and tries each entry
in its order (the ordinal), each through the single grant's own path
(``app.services.allocations.grant_allocation``), so every cap holds as it does for one
grant: the programme's, the measure's and the call's budgets (first-come reservations
counted), the measure's project cap and one project per district, each by its conditional
UPDATE or its unique index. Each try runs in its own SAVEPOINT: a refused one leaves
nothing, and the next one is tried (a smaller request further down may still fit what a
larger one did not; the ranking's own ``fundable`` outcome stops at the first that does
not fit, the run does not, as the issue asks).

- An entry below the thresholds is ``not_eligible`` and never tried.
- An entry whose application already has an active allocation is ``already_granted``
  (whether it was granted before the run or by a single grant that committed while the
  run was going: the grant path finds it after it has queued on the programme's row).
- Any other entry is granted its requested amount (``granted``, with the allocation), or
  ``skipped`` with the refusal a single grant would have answered with, its rule and its
  figures.
- Whether the last fundable application may get part of its request is the call's rule
  (``call.partial_last_grant``; null, as for WECARE's calls whose source does not give it:
  not allowed). When allowed and an entry is refused by a budget cap (programme, measure
  or call) and by nothing else, it is granted what is left of the tightest of the three
  (never more than requested, never 0) and marked ``partial``; otherwise it is skipped.

A second run grants nothing new: every entry granted by the first is ``already_granted``.
The run writes one ``ranking.allocate`` event with the version and the counts, after each
grant's own ``allocation.grant`` event.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.domain import RankingOutcome
from app.core.errors import (
    CONSTRAINT_ERRORS,
    AllocationAlreadyActive,
    CallBudgetExceeded,
    Conflict,
    DomainError,
    MeasureBudgetExceeded,
    ProgrammeBudgetExceeded,
    RankingReplaced,
)
from app.core.i18n import msg
from app.db.guards import violated_constraint
from app.models.allocation import Allocation
from app.models.call import Call
from app.repositories import applications as applications_repo
from app.repositories import rankings as repo
from app.schemas.application import AllocationCreate
from app.schemas.dry_run import Finding
from app.schemas.ranking import (
    AllocationAlreadyGranted,
    AllocationGranted,
    AllocationNotEligible,
    AllocationSkipped,
    RankingAllocationReport,
)
from app.services import audit
from app.services.allocations import dry_run_grant, grant_allocation
from app.services.rankings import load_ranking


async def allocate(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, version: int
) -> RankingAllocationReport:
    """Grant down version ``version`` of the call's ranking, in rank order; the report of
    what each entry got. 409 ``ranking_replaced`` when a newer version replaces it."""
    ranking = await load_ranking(session, principal, call_id, version)
    latest = await repo.latest(session, ranking.call_id)
    assert latest is not None  # the version itself is published
    if latest.id != ranking.id:
        raise RankingReplaced(
            msg(
                "Version {version} of the ranking is replaced by version "
                "{latest_version}: grants follow the latest version.",
                version=version,
                latest_version=latest.version,
            ),
            version=version,
            latest_version=latest.version,
        )
    ranking_id, ranking_call = ranking.id, ranking.call_id
    call = await session.get(Call, ranking_call)
    assert call is not None
    partial_allowed = call.partial_last_grant is True  # null: not given, not allowed
    # Plain values first: a savepoint rolled back expires what it touched.
    entries = [
        (e.ordinal, e.position, e.application_id, e.requested, e.outcome, list(e.failed))
        for e in await repo.entries(session, ranking_id)
    ]
    report = RankingAllocationReport(
        call_id=ranking_call,
        version=version,
        granted=[],
        skipped=[],
        already_granted=[],
        not_eligible=[],
    )
    for ordinal, position, application_id, requested, outcome, failed in entries:
        if outcome == RankingOutcome.BELOW_THRESHOLD:
            report.not_eligible.append(
                AllocationNotEligible(ordinal=ordinal, application_id=application_id, failed=failed)
            )
            continue
        existing = await applications_repo.active_allocation_of(session, application_id)
        if existing is not None:
            report.already_granted.append(
                AllocationAlreadyGranted(
                    ordinal=ordinal,
                    position=position,
                    application_id=application_id,
                    allocation_id=existing,
                )
            )
            continue
        data = AllocationCreate(application_id=application_id, amount=requested)
        try:
            async with session.begin_nested():
                allocation = await grant_allocation(session, data=data, principal=principal)
                allocation_id, amount = allocation.id, allocation.amount
        except AllocationAlreadyActive as granted_meanwhile:
            found = granted_meanwhile.figures["allocation_id"]
            assert isinstance(found, uuid.UUID)
            report.already_granted.append(
                AllocationAlreadyGranted(
                    ordinal=ordinal,
                    position=position,
                    application_id=application_id,
                    allocation_id=found,
                )
            )
            continue
        except DomainError as refused:
            part = None
            if partial_allowed and isinstance(refused, BUDGET_CAPS):
                part = await _partial(session, principal, data)
            if part is None:
                report.skipped.append(
                    _skipped(ordinal, position, application_id, requested, refused)
                )
                continue
            allocation_id, amount = part.id, part.amount
        except IntegrityError as guard:
            # A unique index is the backstop of a race the checks above lost: the rule its
            # constraint maps to, as a single grant's answer would name it.
            kind = CONSTRAINT_ERRORS.get(violated_constraint(guard) or "", Conflict)
            by_guard = kind("A database guard refused the grant.")
            report.skipped.append(_skipped(ordinal, position, application_id, requested, by_guard))
            continue
        report.granted.append(
            AllocationGranted(
                ordinal=ordinal,
                position=position,
                application_id=application_id,
                allocation_id=allocation_id,
                requested=requested,
                amount=amount,
                partial=amount != requested,
            )
        )
    await audit.record(
        session,
        action="ranking.allocate",
        entity_type="ranking",
        entity_id=ranking_id,
        after={
            "call_id": str(ranking_call),
            "version": version,
            "granted": len(report.granted),
            "skipped": len(report.skipped),
            "already_granted": len(report.already_granted),
            "not_eligible": len(report.not_eligible),
        },
    )
    return report


BUDGET_CAPS = (ProgrammeBudgetExceeded, MeasureBudgetExceeded, CallBudgetExceeded)


async def _partial(
    session: AsyncSession, principal: Principal, data: AllocationCreate
) -> Allocation | None:
    """The grant of what is left of the tightest budget cap, when something (less than
    requested) is left; else None. A budget cap refused the whole request, so the rules a
    grant checks before the budgets (approval, one per district, one active allocation)
    passed; the part goes through the same grant path, which would refuse it otherwise."""
    session.expire_all()  # the savepoint rolled back: read the counters as they stand
    whole = await dry_run_grant(session, data=data, principal=principal)
    left = min(
        (c.available for c in whole.caps if c.cap in BUDGET_KINDS and c.available is not None),
        default=None,
    )
    if left is None or left <= 0 or left >= data.amount:
        return None
    part = AllocationCreate(application_id=data.application_id, amount=left)
    try:
        async with session.begin_nested():
            return await grant_allocation(session, data=part, principal=principal)
    except (DomainError, IntegrityError):
        return None


BUDGET_KINDS = frozenset({"programme_budget", "measure_budget", "call_budget"})


def _skipped(
    ordinal: int,
    position: int | None,
    application_id: uuid.UUID,
    requested: object,
    refused: DomainError,
) -> AllocationSkipped:
    return AllocationSkipped.model_validate(
        {
            "ordinal": ordinal,
            "position": position,
            "application_id": application_id,
            "requested": requested,
            "refusal": Finding.of(refused),
        }
    )
