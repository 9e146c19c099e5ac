"""Applications: drafting, the lifecycle state machine, and the rules checked at submission
(open window, eligibility, one live application per district, participation limits)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import (
    ApplicantForm,
    ApplicationStage,
    ApplicationStatus,
    CallStatus,
    DocumentOwner,
    LegalNature,
    MemberRole,
    MemberStatus,
    PhaseKind,
)
from app.core.errors import (
    CallNotOpen,
    Conflict,
    DistrictAlreadyApplied,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    ParticipationLimitReached,
    PartnershipMemberNotAccepted,
)
from app.core.i18n import msg
from app.models.application import Application
from app.models.call import Call
from app.models.district import District
from app.models.organisation import Organisation
from app.models.programme import Measure, MeasureLine
from app.repositories import applicants as applicant_repo
from app.repositories import applications as repo
from app.repositories import calls as call_repo
from app.repositories import programmes as programme_repo
from app.repositories import visibility
from app.schemas.application import (
    ApplicationCreate,
    ApplicationQuery,
    ApplicationRead,
    ApplicationUpdate,
    application_item,
)
from app.schemas.common import ReadJson, read_json
from app.schemas.dry_run import DryRunReport
from app.schemas.page import Page
from app.services import audit, document_rules, first_come, indicator_rules
from app.services.eligibility import (
    ApplicantFacts,
    EligibilityRules,
    OrganisationFacts,
    check_eligible,
)
from app.services.paging import SortKey

S = ApplicationStatus
_STAGE_WINDOW = {
    ApplicationStage.SINGLE: PhaseKind.SUBMISSION,
    ApplicationStage.PRELIMINARY: PhaseKind.PRELIMINARY,
    ApplicationStage.EXECUTIVE: PhaseKind.EXECUTIVE,
}


@dataclass(frozen=True)
class Transition:
    sources: frozenset[ApplicationStatus]
    target: ApplicationStatus
    stages: frozenset[ApplicationStage]
    by_applicant: bool  # True: the applicant acts; False: the region decides


_ALL_STAGES = frozenset(ApplicationStage)
_FINAL_STAGES = frozenset({ApplicationStage.SINGLE, ApplicationStage.EXECUTIVE})
TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(frozenset({S.DRAFT}), S.SUBMITTED, _ALL_STAGES, True),
    "withdraw": Transition(
        frozenset({S.DRAFT, S.SUBMITTED, S.UNDER_REVIEW}), S.WITHDRAWN, _ALL_STAGES, True
    ),
    "start-review": Transition(frozenset({S.SUBMITTED}), S.UNDER_REVIEW, _ALL_STAGES, False),
    "approve": Transition(frozenset({S.UNDER_REVIEW}), S.APPROVED, _FINAL_STAGES, False),
    "reject": Transition(frozenset({S.UNDER_REVIEW}), S.REJECTED, _FINAL_STAGES, False),
    "admit-preliminary": Transition(
        frozenset({S.UNDER_REVIEW}), S.ADMITTED, frozenset({ApplicationStage.PRELIMINARY}), False
    ),
    "reject-preliminary": Transition(
        frozenset({S.UNDER_REVIEW}), S.REJECTED, frozenset({ApplicationStage.PRELIMINARY}), False
    ),
}


# Leaving the process: what a first-come application holds goes back to the call.
_RELEASING = frozenset({S.WITHDRAWN, S.REJECTED})

APPLICATION_ORDER = SortKey[Application](Application.created_at, Application.id)


async def list_applications(
    session: AsyncSession, principal: Principal, query: ApplicationQuery
) -> Page[ApplicationRead]:
    """The applications the caller may see, oldest first."""
    rows = partial(
        repo.page_applications,
        session,
        visible=visibility.applications(principal),
        programme_id=query.programme_id,
        measure_id=query.measure_id,
        call_id=query.call_id,
        fund=query.fund,
        status=query.status,
        stage=query.stage,
        district_id=query.district_id,
        organisation_id=query.organisation_id,
        min_requested=query.min_requested,
        max_requested=query.max_requested,
        q=query.q,
    )
    return await APPLICATION_ORDER.page_of(query, rows, ApplicationRead.model_validate)


async def load_application(
    session: AsyncSession, application_id: uuid.UUID, principal: Principal
) -> Application:
    """An application the principal may see; another party's is 404, like a missing one."""
    application = await repo.get_application(
        session, application_id, visibility.applications(principal)
    )
    if application is None:
        raise NotFound(msg("No application {application_id}.", application_id=application_id))
    return application


@dataclass(frozen=True, slots=True)
class SubmissionSubject:
    """An application with its call and measure, read together (a dry run's first read)."""

    application: Application
    call: Call
    measure: Measure
    organisation: Organisation | None  # a single applicant's; None for a partnership


async def load_submission_subject(
    session: AsyncSession, application_id: uuid.UUID, principal: Principal
) -> SubmissionSubject:
    """As :func:`load_application` (another party's is 404), with its call, its measure and
    a single applicant's organisation in the same statement."""
    row = await repo.get_submission_subject(
        session, application_id, visibility.applications(principal)
    )
    if row is None:
        raise NotFound(msg("No application {application_id}.", application_id=application_id))
    application, call, measure, organisation = row
    return SubmissionSubject(application, call, measure, organisation)


async def read_application(session: AsyncSession, application: Application) -> ApplicationRead:
    return ApplicationRead.model_validate(application)


async def get_application(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID
) -> ReadJson:
    """An application the principal may see (another party's is 404, like a missing one).
    Already serialised: its raw row formatted without a model (the same bytes as
    ApplicationRead)."""
    row = await repo.application_row(session, application_id, principal)
    if row is None:
        raise NotFound(msg("No application {application_id}.", application_id=application_id))
    return read_json(application_item(row))


async def require_lead(
    session: AsyncSession, application: Application, principal: Principal
) -> None:
    """Refuse (403) anyone but the applicant's lead organisation's users (or an
    administrator)."""
    lead, _ = await _applicant_organisations(session, application)
    _require_acts_for(principal, lead)


async def _applicant_organisations(
    session: AsyncSession, application: Application
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The lead (or single applicant) and every organisation of the applicant."""
    if application.applicant_organisation_id is not None:
        return application.applicant_organisation_id, [application.applicant_organisation_id]
    assert application.partnership_id is not None
    members = (await applicant_repo.members_of(session, [application.partnership_id]))[
        application.partnership_id
    ]
    lead = next(m.organisation_id for m in members if m.role is MemberRole.LEAD)
    return lead, [m.organisation_id for m in members]


def _require_acts_for(principal: Principal, lead: uuid.UUID) -> None:
    """The lead ("capofila") files; the region's administrators may act for anyone."""
    if principal.role is Role.ADMINISTRATOR:
        return
    if principal.role is not Role.APPLICANT or lead not in principal.organisation_ids:
        raise Forbidden(msg("Only the applicant's lead organisation may do this."))


async def _resolve_line(
    session: AsyncSession, measure: Measure, call: Call, line_number: int | None
) -> MeasureLine | None:
    if call.line_id is not None:
        line = await session.get(MeasureLine, call.line_id)
        if line_number is not None and line is not None and line.number != line_number:
            raise InvalidInput(msg("This call is for line {number} only.", number=line.number))
        return line
    lines = await programme_repo.list_lines(session, measure.id)
    if not lines:
        if line_number is not None:
            raise InvalidInput(
                msg("Measure {measure_code} has no lines.", measure_code=measure.code)
            )
        return None
    if line_number is None:
        numbers = ", ".join(str(line.number) for line in lines)
        raise InvalidInput(
            msg(
                "Measure {measure_code} needs a line_number ({numbers}).",
                measure_code=measure.code,
                numbers=numbers,
            )
        )
    line = next((x for x in lines if x.number == line_number), None)
    if line is None:
        raise InvalidInput(
            msg(
                "Measure {measure_code} has no line {line_number}.",
                measure_code=measure.code,
                line_number=line_number,
            )
        )
    return line


async def _resolve_area(
    session: AsyncSession, measure: Measure, code: str | None
) -> uuid.UUID | None:
    if code is None:
        return None
    area = await programme_repo.get_thematic_area(session, measure.id, code)
    if area is None:
        raise InvalidInput(
            msg(
                "Measure {measure_code} has no thematic area {code}.",
                measure_code=measure.code,
                code=code,
            )
        )
    return area.id


async def create_application(
    session: AsyncSession, *, data: ApplicationCreate, principal: Principal
) -> Application:
    """A draft application to a published call, by one of the caller's organisations."""
    call = await session.get(Call, data.call_id)
    if call is None or call.status != CallStatus.PUBLISHED:
        raise NotFound(msg("No published call {call_id}.", call_id=data.call_id))
    measure = await session.get(Measure, call.measure_id)
    assert measure is not None
    # The applicant is looked up through the caller's eyes: another party's organisation or
    # partnership is as absent as a missing one (404; a 403 would confirm that it exists).
    if data.applicant_organisation_id is not None:
        organisation = await applicant_repo.get_organisation(
            session, data.applicant_organisation_id, visibility.organisations(principal)
        )
        if organisation is None:
            raise NotFound(
                msg(
                    "No organisation {applicant_organisation_id}.",
                    applicant_organisation_id=data.applicant_organisation_id,
                )
            )
        lead = organisation.id
    else:
        assert data.partnership_id is not None
        partnership = await applicant_repo.get_partnership(
            session, data.partnership_id, visibility.partnerships(principal)
        )
        members = (await applicant_repo.members_of(session, [data.partnership_id]))[
            data.partnership_id
        ]
        if partnership is None or not members:
            raise NotFound(
                msg("No partnership {partnership_id}.", partnership_id=data.partnership_id)
            )
        lead = next(m.organisation_id for m in members if m.role is MemberRole.LEAD)
    # Visible but not the lead (a partner of the partnership, region staff): 403.
    _require_acts_for(principal, lead)
    line = await _resolve_line(session, measure, call, data.line_number)
    stage = ApplicationStage.SINGLE
    district_id = data.district_id
    preliminary: Application | None = None
    if measure.two_stage_submission:
        stage = ApplicationStage.PRELIMINARY
        if data.preliminary_id is not None:
            stage = ApplicationStage.EXECUTIVE
            preliminary = await session.get(Application, data.preliminary_id)
            if (
                preliminary is None
                or preliminary.call_id != call.id
                or preliminary.applicant_organisation_id != data.applicant_organisation_id
                or preliminary.partnership_id != data.partnership_id
            ):
                raise NotFound(
                    msg(
                        "No preliminary project {preliminary_id} of this applicant.",
                        preliminary_id=data.preliminary_id,
                    )
                )
            if preliminary.status != S.ADMITTED:
                raise Conflict(
                    msg("The executive project needs an admitted preliminary project."),
                    preliminary_status=preliminary.status,
                )
            district_id = preliminary.district_id
    elif data.preliminary_id is not None:
        raise InvalidInput(msg("This call has a single stage: preliminary_id does not apply."))
    if district_id is not None and await session.get(District, district_id) is None:
        raise NotFound(msg("No district {district_id}.", district_id=district_id))
    if measure.one_per_district and district_id is None:
        raise InvalidInput(
            msg(
                "Measure {measure_code} takes one project per district: give district_id.",
                measure_code=measure.code,
            )
        )
    application = Application(
        id=uuid.uuid4(),
        call_id=call.id,
        measure_id=measure.id,
        line_id=line.id if line else None,
        applicant_organisation_id=data.applicant_organisation_id,
        partnership_id=data.partnership_id,
        title=data.title,
        description=data.description,
        total_cost=data.total_cost,
        requested=data.requested,
        thematic_area_id=await _resolve_area(session, measure, data.thematic_area_code),
        district_id=district_id,
        stage=stage,
        preliminary_id=preliminary.id if preliminary else None,
        status=S.DRAFT,
    )
    session.add(application)
    await session.flush()
    await audit.record(
        session,
        action="application.create",
        entity_type="application",
        entity_id=application.id,
        after=audit.snapshot(application),
    )
    return application


async def update_application(
    session: AsyncSession,
    application: Application,
    *,
    data: ApplicationUpdate,
    principal: Principal,
) -> Application:
    lead, _ = await _applicant_organisations(session, application)
    _require_acts_for(principal, lead)
    if application.status != S.DRAFT:
        raise IllegalTransition(
            msg("Only a draft can be changed."),
            current_status=application.status,
            attempted="update",
        )
    before = audit.snapshot(application)
    measure = await session.get(Measure, application.measure_id)
    assert measure is not None
    if data.title is not None:
        application.title = data.title
    if data.description is not None:
        application.description = data.description
    total = application.total_cost if data.total_cost is None else data.total_cost
    requested = application.requested if data.requested is None else data.requested
    if requested <= 0 or requested > total:
        raise InvalidInput(
            msg("requested must be more than 0 and at most total_cost."),
            requested=requested,
            total_cost=total,
        )
    application.total_cost, application.requested = total, requested
    if data.thematic_area_code is not None:
        application.thematic_area_id = await _resolve_area(
            session, measure, data.thematic_area_code
        )
    if data.district_id is not None and application.stage is not ApplicationStage.EXECUTIVE:
        if await session.get(District, data.district_id) is None:
            raise NotFound(msg("No district {district_id}.", district_id=data.district_id))
        application.district_id = data.district_id
    await session.flush()
    await audit.record(
        session,
        action="application.update",
        entity_type="application",
        entity_id=application.id,
        before=before,
        after=audit.snapshot(application),
    )
    return application


async def _facts(
    session: AsyncSession,
    application: Application,
    findings: list[DomainError],
    *,
    lock: bool,
    read: Organisation | None = None,
) -> ApplicantFacts:
    """The applicant's organisations as they are now. ``lock`` (a real submission): locked
    against a concurrent change of their eligibility details until the submission commits;
    a dry run reads them without a lock (``read``: a single applicant's organisation, read
    already with the application). A member yet to accept is added to ``findings``."""
    if application.partnership_id is not None:
        if lock:
            await applicant_repo.lock_partnership(session, application.partnership_id, share=True)
        pending = await _pending_members(session, application.partnership_id)
        if pending is not None:
            findings.append(pending)
    lead_id, ids = await _applicant_organisations(session, application)
    if read is not None and not lock and ids == [read.id]:
        organisations = {read.id: read}
    else:
        organisations = await applicant_repo.organisations_by_id(session, ids, lock=lock)

    def facts(org: Organisation) -> OrganisationFacts:
        return OrganisationFacts(
            id=org.id,
            name=org.legal_name,
            legal_nature=org.legal_nature,
            profit_status=org.profit_status,
            size_class=org.size_class,
            province=org.province,
            accompaniment_experience=org.accompaniment_experience,
        )

    lead = facts(organisations[lead_id])
    if application.partnership_id is None:
        return ApplicantFacts(form=ApplicantForm.ORGANISATION, lead=lead)
    return ApplicantFacts(
        form=ApplicantForm.PARTNERSHIP,
        lead=lead,
        members=tuple(facts(organisations[i]) for i in ids),
    )


async def _pending_members(
    session: AsyncSession, partnership_id: uuid.UUID
) -> PartnershipMemberNotAccepted | None:
    """With the partnership held FOR SHARE: an acceptance (FOR UPDATE) has committed or
    waits, so the members judged below are the ones that consented."""
    members = (await applicant_repo.members_of(session, [partnership_id], fresh=True))[
        partnership_id
    ]
    pending = sorted(str(m.organisation_id) for m in members if m.status is MemberStatus.INVITED)
    if pending:
        return PartnershipMemberNotAccepted(
            msg(
                "The partnership applies only with members that have accepted; still "
                "invited: {pending}.",
                pending=", ".join(pending),
            ),
            pending_organisation_ids=pending,
        )
    return None


async def _check_submission(
    session: AsyncSession,
    application: Application,
    call: Call,
    now: datetime,
    *,
    lock: bool,
    measure: Measure | None = None,
    organisation: Organisation | None = None,
) -> list[DomainError]:
    """Every rule a submission must pass, in the order they are checked: the open window,
    accepted members, eligibility (one finding listing every violation), one live
    application per district, participation limits (one finding per organisation over its
    limit). A submission refuses with the first; a dry run reports them all. ``measure``:
    the call's measure, and ``organisation`` a single applicant's, when the caller has them
    already (a dry run reads them with the application)."""
    findings: list[DomainError] = []
    rules = await call_repo.call_rules(session, call.id)
    phases = rules.phases
    wanted = _STAGE_WINDOW[application.stage]
    open_now = [p for p in phases if p.opens_at <= now < p.closes_at]
    if call.status != CallStatus.PUBLISHED or not any(p.kind is wanted for p in open_now):
        findings.append(
            CallNotOpen(
                msg(
                    "Call {call_code} is not accepting {wanted} submissions now.",
                    call_code=call.code,
                    wanted=wanted,
                ),
                call_status=call.status,
                open_phase=open_now[0].kind if open_now else None,
                next_opening=_next_opening(phases, wanted, now),
            )
        )
        if lock:
            return findings  # a submission stops here, before it locks the applicant
    measure = measure or await session.get(Measure, application.measure_id)
    assert measure is not None
    line = await session.get(MeasureLine, application.line_id) if application.line_id else None
    district_lead = None
    if application.district_id is not None:
        district = await session.get(District, application.district_id)
        district_lead = district.lead_organisation_id if district else None
    applicant = await _facts(session, application, findings, lock=lock, read=organisation)
    if findings and lock:
        return findings
    ineligible = check_eligible(
        EligibilityRules.of(measure, line),
        applicant,
        total_cost=application.total_cost,
        district_lead_organisation_id=district_lead,
    )
    if ineligible is not None:
        findings.append(ineligible)
    if measure.one_per_district and application.stage is not ApplicationStage.EXECUTIVE:
        assert application.district_id is not None
        holder = await repo.live_in_district_slot(session, measure.id, application.district_id)
        if holder is not None and holder != application.id:
            findings.append(
                DistrictAlreadyApplied(
                    msg(
                        "The district already has a live application to measure {measure_code}.",
                        measure_code=measure.code,
                    ),
                    district_id=application.district_id,
                )
            )
    if application.stage is not ApplicationStage.EXECUTIVE:
        findings.extend(
            await _check_participation(session, application, call, applicant, rules.limits)
        )
    missing = await document_rules.missing_required(
        session, DocumentOwner.APPLICATION, application.id, application.measure_id
    )
    if missing is not None:
        findings.append(missing)
    if (
        targets := await indicator_rules.missing_targets(
            session, application.id, application.measure_id
        )
    ) is not None:
        findings.append(targets)
    return findings


def _next_opening(
    phases: list[call_repo.PhaseWindow], kind: PhaseKind, now: datetime
) -> datetime | None:
    upcoming = [p.opens_at for p in phases if p.kind is kind and p.opens_at > now]
    return min(upcoming) if upcoming else None


async def _check_participation(
    session: AsyncSession,
    application: Application,
    call: Call,
    applicant: ApplicantFacts,
    limits: dict[LegalNature, int],
) -> list[DomainError]:
    found: list[DomainError] = []
    for org in applicant.organisations:
        cap = limits.get(org.legal_nature)
        if cap is None:
            continue
        taken = await repo.live_participations(session, call.id, org.id, excluding=application.id)
        if taken >= cap:
            found.append(
                ParticipationLimitReached(
                    msg(
                        "{org_name} already takes part in {taken} projects of call {call_code} "
                        "(at most {cap} for a {legal_nature}).",
                        org_name=org.name,
                        taken=taken,
                        call_code=call.code,
                        cap=cap,
                        legal_nature=org.legal_nature,
                    ),
                    organisation_id=org.id,
                    cap=cap,
                    taken=taken,
                )
            )
    return found


def _authorise(principal: Principal, transition: Transition, lead: uuid.UUID | None) -> None:
    if transition.by_applicant:
        assert lead is not None
        _require_acts_for(principal, lead)
    elif not principal.is_region:
        raise Forbidden(msg("Only the region's officers decide on applications."))


def _illegal(application: Application, action: str) -> IllegalTransition | None:
    transition = TRANSITIONS[action]
    if application.status not in transition.sources or application.stage not in transition.stages:
        return IllegalTransition(
            msg(
                "Cannot {action} a {stage} application that is {application_status}.",
                action=action,
                stage=application.stage,
                application_status=application.status,
            ),
            current_status=application.status,
            stage=application.stage,
            attempted=action,
        )
    return None


async def move_application(
    session: AsyncSession, application: Application, *, action: str, principal: Principal
) -> Application:
    """Apply one lifecycle action, or refuse it with the current and attempted states."""
    transition = TRANSITIONS[action]
    lead = None
    if transition.by_applicant:
        lead, _ = await _applicant_organisations(session, application)
    _authorise(principal, transition, lead)
    if (illegal := _illegal(application, action)) is not None:
        raise illegal
    now = datetime.now(UTC)
    # A first-come call's queue changes with the call's row locked, before any application
    # row is written (submissions, releases and promotions all lock in that order).
    call = None
    if action == "submit" or transition.target in _RELEASING:
        call = await session.get(Call, application.call_id)
        assert call is not None
        if action == "submit" or first_come.applies(call):
            call = await repo.lock_call(session, application.call_id)
            assert call is not None
    before = audit.snapshot(application)
    if action == "submit":
        assert call is not None
        findings = await _check_submission(session, application, call, now, lock=True)
        if findings:
            raise findings[0]
        measure = await session.get(Measure, application.measure_id)
        assert measure is not None
        if measure.one_per_district and application.stage is not ApplicationStage.EXECUTIVE:
            application.district_slot_id = application.district_id
        application.submitted_at = now
    if transition.target in (S.APPROVED, S.REJECTED, S.ADMITTED):
        application.decided_at = now
    application.status = transition.target
    await session.flush()
    if call is not None and action == "submit":
        await first_come.reserve_on_submit(session, call, application)
    elif call is not None and transition.target in _RELEASING:
        await first_come.release_on_exit(session, call, application)
    after = audit.snapshot(application)
    if action == "submit":
        # The documents as submitted: their hashes are in the chained trail from now on.
        after["documents"] = await document_rules.submitted_documents(
            session, DocumentOwner.APPLICATION, application.id
        )
    await audit.record(
        session,
        action=f"application.{action}",
        entity_type="application",
        entity_id=application.id,
        before=before,
        after=after,
    )
    return application


async def dry_run_submission(
    session: AsyncSession,
    subject: SubmissionSubject,
    *,
    principal: Principal,
    precondition: DomainError | None = None,
) -> DryRunReport:
    """Every rule a submission of ``application`` would meet now, each with its figures,
    writing nothing and locking nothing. Refused (403) exactly as the submission would be
    for a caller who may not submit. ``precondition``: the If-Match finding, reported first
    (the submission checks it before any rule)."""
    application, call = subject.application, subject.call
    lead, _ = await _applicant_organisations(session, application)
    _authorise(principal, TRANSITIONS["submit"], lead)
    findings: list[DomainError] = [precondition] if precondition is not None else []
    if (illegal := _illegal(application, "submit")) is not None:
        findings.append(illegal)
    findings += await _check_submission(
        session,
        application,
        call,
        datetime.now(UTC),
        lock=False,
        measure=subject.measure,
        organisation=subject.organisation,
    )
    if (closed := first_come.refusal_on_submit(call, application)) is not None:
        findings.append(closed)
    return DryRunReport.of(findings)
