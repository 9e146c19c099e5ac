"""Allocations ("concessioni"): granting within every cap, and revocation.

Rules 2, 3 and 6. The counters move by one conditional UPDATE each, programme -> measure
-> call; the partial unique indexes guard one active allocation per application and one
funded project per district. Any refusal leaves nothing written: the request's
transaction rolls back whatever counter already moved.

A grant (issue 17) reads everything its rules need in one statement and refuses what that
read decides without taking any lock; then, on PostgreSQL, moves the three counters and
inserts the allocation in one statement (app.repositories.budgets.write_grant), appends
the audit event in one more, and commits: the programme's row, which every grant of the
programme queues on, is held for those two statements only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from app.core import metrics
from app.core.auth import Principal
from app.core.domain import AllocationStatus, ApplicationStatus
from app.core.errors import (
    CONSTRAINT_ERRORS,
    AllocationAlreadyActive,
    AllocationExceedsRequest,
    CallBudgetExceeded,
    Conflict,
    DistrictAlreadyFunded,
    DomainError,
    IllegalTransition,
    MeasureBudgetExceeded,
    MeasureProjectCapReached,
    MixedTermsNotSet,
    NotFound,
    ProgrammeBudgetExceeded,
)
from app.core.i18n import msg
from app.db.guards import violated_constraint
from app.models.allocation import Allocation
from app.models.application import Application
from app.models.call import Call
from app.models.programme import Measure, Programme
from app.repositories import applications as repo
from app.repositories import budgets, visibility
from app.schemas.application import (
    AllocationCreate,
    AllocationQuery,
    AllocationRead,
    allocation_item,
)
from app.schemas.dry_run import Cap, CapKind, DryRunReport
from app.schemas.page import PageJson
from app.services import audit, de_minimis, first_come, loans, recoveries
from app.services.paging import SortKey

# Listed allocations are plain tuples of ALLOCATION_LIST_COLUMNS (the hot list skips the ORM).
ALLOCATION_ORDER = SortKey[Sequence[Any]](
    Allocation.granted_at, Allocation.id, row_columns=repo.ALLOCATION_LIST_COLUMNS
)


async def list_allocations(
    session: AsyncSession, principal: Principal, query: AllocationQuery
) -> PageJson:
    """Allocations by grant time: active ones for everyone, revoked ones for the region and
    the applicant concerned. Already serialised: the hot list skips the models (and, for the
    views every caller of a kind shares, the ORM: the repository runs them on the driver)."""
    filters: dict[str, object] = {
        "programme_id": query.programme_id,
        "measure_id": query.measure_id,
        "call_id": query.call_id,
        "application_id": query.application_id,
        "district_id": query.district_id,
        "organisation_id": query.organisation_id,
        "fund": query.fund,
        "status": query.status,
        "min_amount": query.min_amount,
        "max_amount": query.max_amount,
    }
    rows = await ALLOCATION_ORDER.fetch(
        query, partial(repo.page_allocations, session, principal=principal, filters=filters)
    )
    total = None
    if query.include_total:
        total = await repo.count_allocations(session, principal=principal, filters=filters)
    return PageJson(ALLOCATION_ORDER.page_json(rows, query.limit, allocation_item, total))


async def load_allocation(
    session: AsyncSession, allocation_id: uuid.UUID, principal: Principal
) -> Allocation:
    allocation = await repo.get_allocation(
        session, allocation_id, visibility.allocations(principal)
    )
    if allocation is None:
        raise NotFound(msg("No allocation {allocation_id}.", allocation_id=allocation_id))
    return allocation


async def read_allocation(session: AsyncSession, allocation: Allocation) -> AllocationRead:
    return AllocationRead.model_validate(allocation)


async def get_allocation(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID
) -> AllocationRead:
    return AllocationRead.model_validate(await load_allocation(session, allocation_id, principal))


def _figures(cap: Decimal, allocated: Decimal, requested: Decimal) -> dict[str, object]:
    return {
        "cap": cap,
        "allocated": allocated,
        "requested": requested,
        "available": cap - allocated,
    }


def _programme_refusal(programme: Programme, amount: Decimal) -> ProgrammeBudgetExceeded:
    return ProgrammeBudgetExceeded(
        msg(
            "Granting {amount} would exceed the total of programme {programme_code}.",
            amount=amount,
            programme_code=programme.code,
        ),
        **_figures(programme.total_budget, programme.allocated, amount),
    )


def _projects_refusal(measure: Measure) -> MeasureProjectCapReached:
    return MeasureProjectCapReached(
        msg(
            "Measure {measure_code} already funds {funded_projects} projects, its maximum.",
            measure_code=measure.code,
            funded_projects=measure.funded_projects,
        ),
        cap=measure.max_funded_projects,
        funded_projects=measure.funded_projects,
    )


def _projects_full(measure: Measure) -> bool:
    return (
        measure.max_funded_projects is not None
        and measure.funded_projects >= measure.max_funded_projects
    )


def _measure_refusal(measure: Measure, amount: Decimal) -> MeasureBudgetExceeded:
    return MeasureBudgetExceeded(
        msg(
            "Granting {amount} would exceed the budget of measure {measure_code}.",
            amount=amount,
            measure_code=measure.code,
        ),
        **_figures(measure.budget, measure.allocated, amount),
    )


def _call_refusal(
    call: Call, amount: Decimal, own_reservation: Decimal = Decimal("0.00")
) -> CallBudgetExceeded:
    """What is left of the call is its budget less what is granted and what first-come
    submissions hold reserved, except the application's own reservation, which its grant
    converts (a real grant has converted it by the time it checks the call)."""
    return CallBudgetExceeded(
        msg(
            "Granting {amount} would exceed the budget share of call {call_code}.",
            amount=amount,
            call_code=call.code,
        ),
        **_figures(call.budget - call.reserved + own_reservation, call.allocated, amount),
    )


async def _refusal(
    session: AsyncSession,
    failed: str,
    application: Application,
    amount: Decimal,
    released: Decimal,
) -> DomainError:
    """Explain which counter refused, with the figures as they stand now."""
    if failed == "programme":
        programme = await session.get(
            Programme, (await _measure(session, application)).programme_id
        )
        assert programme is not None
        await session.refresh(programme)
        return _programme_refusal(programme, amount)
    if failed == "measure":
        measure = await _measure(session, application)
        await session.refresh(measure)
        if _projects_full(measure):
            return _projects_refusal(measure)
        return _measure_refusal(measure, amount)
    call = await session.get(Call, application.call_id)
    assert call is not None
    await session.refresh(call)
    return _call_refusal(call, amount, released)


async def _measure(session: AsyncSession, application: Application) -> Measure:
    measure = await session.get(Measure, application.measure_id)
    assert measure is not None
    return measure


def _beyond_request(application: Application, amount: Decimal) -> AllocationExceedsRequest | None:
    if amount <= 0 or amount > application.requested:
        return AllocationExceedsRequest(
            msg(
                "The allocation must be more than 0 and at most the {requested} requested.",
                requested=application.requested,
            ),
            requested=application.requested,
            amount=amount,
        )
    return None


def check_within_request(application: Application, amount: Decimal) -> None:
    """Rule 6: more than nothing and at most what was requested (migration 0008 is the
    database's own guard of the upper bound)."""
    if (refusal := _beyond_request(application, amount)) is not None:
        raise refusal


def _not_approved(application: Application) -> IllegalTransition | None:
    if application.status != ApplicationStatus.APPROVED:
        return IllegalTransition(
            msg("Only an approved application can be funded."),
            current_status=application.status,
            attempted="grant",
        )
    return None


async def _grantable(
    session: AsyncSession, application_id: uuid.UUID, principal: Principal
) -> Application:
    application = await repo.get_application(
        session, application_id, visibility.applications(principal)
    )
    if application is None:
        raise NotFound(msg("No application {application_id}.", application_id=application_id))
    return application


def _budget_cap(
    kind: CapKind, code: str, budget: Decimal, allocated: Decimal, amount: Decimal
) -> Cap:
    return Cap(
        cap=kind,
        code=code,
        budget=budget,
        allocated=allocated,
        available=budget - allocated,
        requested=amount,
        fits=allocated + amount <= budget,
    )


async def dry_run_grant(
    session: AsyncSession, *, data: AllocationCreate, principal: Principal
) -> DryRunReport:
    """Every rule a grant of ``data`` would meet now, in the grant's order, each with its
    figures, and every cap with its figures: reads only (no counter moves, no lock)."""
    subject = await repo.get_grant_subject(
        session, data.application_id, visibility.applications(principal)
    )
    if subject is None:
        raise NotFound(msg("No application {application_id}.", application_id=data.application_id))
    application, measure, programme, call, existing, funded = subject
    amount = data.amount
    findings: list[DomainError] = []
    for found in (_not_approved(application), _beyond_request(application, amount)):
        if found is not None:
            findings.append(found)
    try:  # mixed instrument (app.services.loans): its terms must all be set
        loans.plan_loan(measure, amount)
    except MixedTermsNotSet as unset:
        findings.append(unset)
    if existing is not None:
        findings.append(
            AllocationAlreadyActive(
                msg("The application already has an active allocation."), allocation_id=existing
            )
        )
    caps: list[Cap] = []
    if measure.one_per_district and application.district_id is not None:
        caps.append(
            Cap(
                cap="district_project",
                code=measure.code,
                district_id=application.district_id,
                allocation_id=funded,
                fits=funded is None,
            )
        )
        if funded is not None:
            findings.append(
                DistrictAlreadyFunded(
                    msg(
                        "A project of this district is already funded by measure {measure_code}.",
                        measure_code=measure.code,
                    ),
                    district_id=application.district_id,
                    allocation_id=funded,
                )
            )
    # The counters in the grant's order: programme, measure (projects, then budget), call.
    in_programme = _budget_cap(
        "programme_budget", programme.code, programme.total_budget, programme.allocated, amount
    )
    projects = Cap(
        cap="measure_projects",
        code=measure.code,
        max_projects=measure.max_funded_projects,
        funded_projects=measure.funded_projects,
        fits=not _projects_full(measure),
    )
    in_measure = _budget_cap(
        "measure_budget", measure.code, measure.budget, measure.allocated, amount
    )
    # A first-come call's reservations hold part of its budget; the application's own
    # reservation becomes the grant (app.services.first_come.convert_on_grant).
    usable = call.budget - call.reserved + application.reserved
    in_call = _budget_cap("call_budget", call.code, usable, call.allocated, amount)
    caps += [in_programme, projects, in_measure, in_call]
    if not in_programme.fits:
        findings.append(_programme_refusal(programme, amount))
    # State aid (issue 16): the de minimis ceiling, checked after the programme's counter.
    aid_cap, aid_refusal = await de_minimis.dry_run(
        session,
        application=application,
        measure=measure,
        call=call,
        amount=amount,
        now=datetime.now(UTC),
    )
    caps += [aid_cap] if aid_cap is not None else []
    findings += [aid_refusal] if aid_refusal is not None else []
    if not projects.fits:
        findings.append(_projects_refusal(measure))
    if not in_measure.fits:
        findings.append(_measure_refusal(measure, amount))
    if not in_call.fits:
        findings.append(_call_refusal(call, amount, application.reserved))
    return DryRunReport.of(findings, caps)


async def grant_allocation(
    session: AsyncSession, *, data: AllocationCreate, principal: Principal
) -> Allocation:
    """Grant funding to an approved application within every cap, or raise and write nothing.

    Counted (``wecare_grants_total``): accepted, or refused by the rule that refused it,
    a database guard's included (the rule its constraint maps to, as the answer says)."""
    try:
        allocation = await _grant(session, data=data, principal=principal)
    except DomainError as refused:
        metrics.record_grant_refused(refused.rule)
        raise
    except IntegrityError as guard:
        rule = CONSTRAINT_ERRORS.get(violated_constraint(guard) or "", Conflict).rule
        metrics.record_grant_refused(rule)
        raise
    metrics.record_grant_accepted()
    return allocation


def _already_active(allocation_id: uuid.UUID) -> AllocationAlreadyActive:
    return AllocationAlreadyActive(
        msg("The application already has an active allocation."), allocation_id=allocation_id
    )


def _district_funded(
    measure: Measure, district_id: uuid.UUID, allocation_id: uuid.UUID
) -> DistrictAlreadyFunded:
    return DistrictAlreadyFunded(
        msg(
            "A project of this district is already funded by measure {measure_code}.",
            measure_code=measure.code,
        ),
        district_id=district_id,
        allocation_id=allocation_id,
    )


# The caps as read (one snapshot: the grant subject's). A refusal decided from them is final
# and takes no lock; a cap that fits as read is decided again by its conditional UPDATE,
# under the row's lock.


def _programme_as_read(programme: Programme, amount: Decimal) -> DomainError | None:
    if programme.allocated + amount > programme.total_budget:
        return _programme_refusal(programme, amount)
    return None


def _measure_as_read(measure: Measure, amount: Decimal) -> DomainError | None:
    if _projects_full(measure):
        return _projects_refusal(measure)
    if measure.allocated + amount > measure.budget:
        return _measure_refusal(measure, amount)
    return None


def _call_as_read(call: Call, amount: Decimal, released: Decimal) -> DomainError | None:
    """``released``: the application's own first-come reservation, which the grant converts."""
    if call.allocated + amount > call.budget or (
        call.allocated + call.reserved - released + amount > call.budget
    ):
        return _call_refusal(call, amount, released)
    return None


def _new_allocation(
    subject: repo.GrantSubject, amount: Decimal, district_id: uuid.UUID | None, actor: str
) -> Allocation:
    """Every column set (the row is inserted by app.repositories.budgets.write_grant, not
    by the unit of work, and the object then joins the session as it is stored)."""
    now = datetime.now(UTC)
    zero = Decimal("0.00")
    return Allocation(
        id=uuid.uuid4(),
        application_id=subject.application.id,
        programme_id=subject.measure.programme_id,
        measure_id=subject.measure.id,
        call_id=subject.application.call_id,
        district_id=district_id,
        amount=amount,
        status=AllocationStatus.ACTIVE,
        granted_at=now,
        granted_by=actor,
        revoked_at=None,
        revoked_by=None,
        revocation_reason=None,
        cup=None,
        rna_cor=None,
        accepted_on=None,
        accepted_at=None,
        accepted_by=None,
        guarantee_reference=None,
        completed_at=None,
        created_at=now,
        updated_at=now,
        version=1,
        claimed=zero,
        verified=zero,
        advanced=zero,
        paid=zero,
        due=zero,
        recovered=zero,
    )


async def _grant(
    session: AsyncSession, *, data: AllocationCreate, principal: Principal
) -> Allocation:
    # 1. One read, no lock: the application, its measure, programme and call, and the
    # allocations that would stand in the way. Every refusal decidable from it is made here.
    subject = await repo.get_grant_subject(
        session, data.application_id, visibility.applications(principal)
    )
    if subject is None:
        raise NotFound(msg("No application {application_id}.", application_id=data.application_id))
    application, measure, call = subject.application, subject.measure, subject.call
    refusal: DomainError | None = _not_approved(application)
    if refusal is not None:
        raise refusal
    amount = data.amount
    check_within_request(application, amount)
    loan = loans.plan_loan(measure, amount)  # mixed instrument: refused while terms are unset
    if subject.active_allocation is not None:
        raise _already_active(subject.active_allocation)
    district_id = application.district_id if measure.one_per_district else None
    if district_id is not None and subject.district_allocation is not None:
        raise _district_funded(measure, district_id, subject.district_allocation)
    # The caps in the grant's order (programme, de minimis, measure, call) as read: a
    # refusal decided from one snapshot is final and takes no counter lock.
    if (refusal := _programme_as_read(subject.programme, amount)) is not None:
        raise refusal
    # 2. State aid (issue 16): a de minimis grant locks its undertaking and sums its aid
    # under the lock; an undertaking's rows are not hot, and its lock comes before the
    # counters' (lock order: app.services.de_minimis).
    await de_minimis.check_grant(
        session,
        application=application,
        measure=measure,
        call=call,
        amount=amount,
        now=datetime.now(UTC),
    )
    if (refusal := _measure_as_read(measure, amount)) is not None:
        raise refusal
    released = first_come.released_on_grant(call, application)  # a waiting one is refused
    if (refusal := _call_as_read(call, amount, released)) is not None:
        raise refusal
    # 3. The critical section: programme -> measure -> call counters and the allocation
    # in one statement, then the audit head, then COMMIT. Every cap is decided again here,
    # under the rows' locks: by the conditional UPDATEs (budgets, project cap) and by the
    # partial unique indexes (one active allocation per application, one funded project
    # per district), which the insert waits on and never violates (ON CONFLICT DO NOTHING).
    allocation = _new_allocation(subject, amount, district_id, principal.actor)
    row = {column.name: getattr(allocation, key) for key, column in _ALLOCATION_COLUMNS}
    # Python work done before the locks, not under them: the event, and on PostgreSQL,
    # where nothing else is written after the counters (no first-come line to move, no
    # loan to open, both of which lock rows the audit head must come after), the event is
    # appended by the counters' own statement: the hot rows' locks span one statement and
    # the COMMIT.
    event = audit.pending(
        action="allocation.grant",
        entity_type="allocation",
        entity_id=allocation.id,
        after=audit.snapshot(allocation),
    )
    appended_with_grant = (
        session.get_bind().dialect.name == "postgresql"
        and loan is None
        and not first_come.applies(call)
    )
    writes = await budgets.write_grant(
        session,
        allocation=row,
        released=released,
        event=event.parameters() if appended_with_grant else None,
    )
    if writes.refused is not None or not writes.inserted:
        # Refused under the locks: a concurrent grant committed meanwhile. The rules keep
        # their order: its allocation of this application, or of the district, comes first
        # (the insert's unique indexes found it, or the counters refused before it ran).
        if (existing := await repo.active_allocation_of(session, application.id)) is not None:
            raise _already_active(existing)
        if district_id is not None and (
            funded := await repo.active_allocation_in_district(session, measure.id, district_id)
        ):
            raise _district_funded(measure, district_id, funded)
        assert writes.refused is not None, "only the two partial unique indexes can conflict"
        raise await _refusal(session, writes.refused, application, amount, released)
    make_transient_to_detached(allocation)
    session.add(allocation)  # persistent as inserted: nothing left for the unit of work
    if writes.appended is not None:
        event.appended(*writes.appended)
        return allocation
    await first_come.after_grant(session, call, application, amount)
    if loan is not None:  # mixed instrument: the loan part, its schedule, the fund's lent
        await loans.open_loan(session, allocation, loan)
    await audit.append_pending(session, event)
    return allocation


# The allocation's mapped attributes and their columns (the insert binds by column name).
_ALLOCATION_COLUMNS = tuple(
    (attr.key, attr.columns[0]) for attr in sa_inspect(Allocation).column_attrs
)


async def revoke_allocation(
    session: AsyncSession, allocation: Allocation, *, reason: str, principal: Principal
) -> Allocation:
    """Revoke an active allocation: its project slot is freed, and its amount as far as it
    was never paid; what was paid becomes a recovery (app.services.recoveries)."""
    if allocation.status != AllocationStatus.ACTIVE:
        raise IllegalTransition(
            msg("Only an active allocation can be revoked."),
            current_status=allocation.status,
            attempted="revoke",
        )
    await loans.before_revocation(session, allocation)  # mixed: nothing repaid yet
    before = audit.snapshot(allocation)
    allocation.status = AllocationStatus.REVOKED
    allocation.revoked_at = datetime.now(UTC)
    allocation.revoked_by = principal.actor
    allocation.revocation_reason = reason
    await session.flush()
    # The row is locked now (payments wait): what was paid is read as it stands. The
    # never-paid part returns to the caps, the paid part becomes a recovery
    # (app.services.recoveries, issue 16's rule).
    await session.refresh(allocation)
    await recoveries.settle_revocation(
        session, allocation, kept=Decimal("0.00"), total=True, principal=principal
    )
    call = await session.get(Call, allocation.call_id)
    assert call is not None
    await first_come.after_revocation(session, call)
    await audit.record(
        session,
        action="allocation.revoke",
        entity_type="allocation",
        entity_id=allocation.id,
        before=before,
        after=audit.snapshot(allocation),
        reason=reason,
    )
    return allocation
