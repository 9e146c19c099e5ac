"""Arranging budgets and applications directly in the database (fast, no HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal, Role
from app.core.domain import (
    Accumulation,
    ApplicationStage,
    ApplicationStatus,
    CallStatus,
    DocumentOwner,
    Fund,
    IndicatorKind,
    Instrument,
    LegalNature,
    MemberRole,
    MemberStatus,
    PartnershipForm,
    PhaseKind,
    RankingOutcome,
    SelectionMethod,
)
from app.models import (
    Allocation,
    Application,
    Call,
    CallPhase,
    District,
    DocumentKind,
    Indicator,
    Measure,
    MonitoringTerms,
    Organisation,
    Partnership,
    PartnershipMember,
    PaymentTerms,
    Programme,
    Ranking,
    RankingEntry,
    Review,
    ReviewScore,
)
from app.repositories.scoring import grids_of, lock_grid
from app.schemas.application import AllocationCreate
from app.schemas.payment import AcceptanceRequest
from app.schemas.scoring import ScoringGridSpec
from app.services.allocations import grant_allocation
from app.services.payments import accept_grant
from app.services.scoring import set_grid
from tests.actors import make_organisation, tax_code

EUR = 100


def euros(cents: int) -> Decimal:
    """``cents`` as a money attribute holds it (tests that count as the database does)."""
    return Decimal(cents).scaleb(-2)


def cents(amount: Decimal) -> int:
    """``amount`` in the integer cents the database stores."""
    return int(amount.scaleb(2))


@dataclass
class Budget:
    programme: Programme
    measure: Measure
    call: Call
    districts: list[District] = field(default_factory=list)


async def budget(
    session: AsyncSession,
    *,
    total: int,
    measure_budget: int | None = None,
    call_budget: int | None = None,
    max_projects: int | None = None,
    one_per_district: bool = False,
    code: str = "T",
) -> Budget:
    """A programme with one measure and one call; amounts in euros."""
    measure_budget = total if measure_budget is None else measure_budget
    call_budget = measure_budget if call_budget is None else call_budget
    programme = Programme(
        id=uuid.uuid4(),
        code=f"{code}-PROG",
        name_it="Prova",
        name_en="Test",
        description_it="-",
        description_en="-",
        responsible_office="Ufficio",
        legal_basis="Prova",
        total_budget=Decimal(total),
        measures_budget=Decimal(measure_budget),
        principles=[],
    )
    session.add(programme)
    await session.flush()
    measure = await new_measure(
        session,
        programme,
        code=f"{code}-M",
        budget=measure_budget,
        calls_budget=call_budget,
        max_funded_projects=max_projects,
        one_per_district=one_per_district,
    )
    call = await new_call(session, measure, code=f"{code}-CALL", budget=call_budget)
    return Budget(programme, measure, call)


async def new_measure(
    session: AsyncSession,
    programme: Programme,
    *,
    code: str,
    budget: int,
    calls_budget: int,
    fund: Fund = Fund.FSE,
    title: tuple[str, str] = ("Misura", "Measure"),
    **fields: object,
) -> Measure:
    """A measure of ``programme`` open to organisations (amounts in euros); ``fields`` sets
    any other column. The programme's counters are the caller's."""
    measure = Measure(
        id=uuid.uuid4(),
        programme_id=programme.id,
        code=code,
        fund=fund,
        title_it=title[0],
        title_en=title[1],
        objective_it="-",
        objective_en="-",
        beneficiaries_it="-",
        beneficiaries_en="-",
        budget=Decimal(budget),
        calls_budget=Decimal(calls_budget),
        applicant_forms=["organisation"],
        example_actions=[],
        **fields,
    )
    session.add(measure)
    await session.flush()
    return measure


async def new_call(
    session: AsyncSession,
    measure: Measure,
    *,
    code: str,
    budget: int,
    status: CallStatus = CallStatus.PUBLISHED,
    title: tuple[str, str] = ("Bando", "Call"),
) -> Call:
    """A call of ``measure`` (its budget in euros); the measure's counters are the caller's."""
    call = Call(
        id=uuid.uuid4(),
        measure_id=measure.id,
        code=code,
        title_it=title[0],
        title_en=title[1],
        status=status,
        budget=Decimal(budget),
    )
    session.add(call)
    await session.flush()
    return call


async def district(session: AsyncSession, world: Budget, n: int) -> District:
    lead = await make_organisation(
        session,
        name=f"Ente gestore {n}",
        tax_code=tax_code(500 + n),
        nature=LegalNature.SOCIAL_SERVICES_BODY,
    )
    found = District(
        id=uuid.uuid4(), code=f"D{n:02d}", name=f"Distretto {n}", lead_organisation_id=lead.id
    )
    session.add(found)
    await session.flush()
    world.districts.append(found)
    return found


def application(
    world: Budget,
    *,
    requested: int,
    status: ApplicationStatus = ApplicationStatus.APPROVED,
    title: str = "Progetto",
    **owner: uuid.UUID | None,
) -> Application:
    """An application to the world's call requesting ``requested`` euros, not yet added:
    ``owner`` names the applicant (``applicant_organisation_id`` or ``partnership_id``) and
    may name its ``district_id``."""
    return Application(
        id=uuid.uuid4(),
        call_id=world.call.id,
        measure_id=world.measure.id,
        title=title,
        description="-",
        total_cost=Decimal(requested),
        requested=Decimal(requested),
        stage=ApplicationStage.SINGLE,
        status=status,
        **owner,
    )


async def approved(
    session: AsyncSession,
    world: Budget,
    *,
    requested: int,
    district: District | None = None,
    n: int = 0,
    status: ApplicationStatus = ApplicationStatus.APPROVED,
) -> Application:
    """An application (approved by default) requesting ``requested`` euros."""
    applicant = await make_organisation(session, name=f"Applicant {n}", tax_code=tax_code(900 + n))
    made = application(
        world,
        requested=requested,
        status=status,
        title=f"Project {n}",
        applicant_organisation_id=applicant.id,
        district_id=district.id if district else None,
    )
    session.add(made)
    await session.flush()
    return made


def open_window(session: AsyncSession, world: Budget, *, days: float = 1) -> CallPhase:
    """A submission window on the world's call, opened a day ago, closing in ``days``."""
    now = datetime.now(UTC)
    phase = CallPhase(
        id=uuid.uuid4(),
        call_id=world.call.id,
        ordinal=1,
        kind=PhaseKind.SUBMISSION,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=days),
    )
    session.add(phase)
    return phase


async def partnership(
    session: AsyncSession,
    lead: Organisation,
    *partners: Organisation,
    invited: tuple[Organisation, ...] = (),
    form: PartnershipForm = PartnershipForm.ATS_TO_BE_FORMED,
    name: str | None = None,
) -> Partnership:
    """A partnership (named after its lead unless ``name``) led by ``lead`` with
    ``partners`` (who have accepted) and ``invited`` organisations (who have not answered
    yet)."""
    formed = Partnership(id=uuid.uuid4(), name=name or f"ATS {lead.legal_name}", form=form)
    session.add(formed)
    await session.flush()
    session.add_all(
        [
            PartnershipMember(
                partnership_id=formed.id,
                organisation_id=lead.id,
                role=MemberRole.LEAD,
                status=MemberStatus.ACCEPTED,
            ),
            *(
                PartnershipMember(
                    partnership_id=formed.id,
                    organisation_id=org.id,
                    role=MemberRole.PARTNER,
                    status=status,
                )
                for orgs, status in (
                    (partners, MemberStatus.ACCEPTED),
                    (invited, MemberStatus.INVITED),
                )
                for org in orgs
            ),
        ]
    )
    await session.flush()
    return formed


async def partnership_application(
    session: AsyncSession,
    world: Budget,
    applicant: Partnership,
    *,
    status: ApplicationStatus,
    requested: int = 1_000,
) -> Application:
    """An application of ``applicant`` to the world's call (amounts in euros)."""
    made = application(world, requested=requested, status=status, partnership_id=applicant.id)
    session.add(made)
    await session.flush()
    return made


@dataclass
class PartnershipDraft:
    application: Application
    partnership: Partnership
    partner: Organisation  # the third-sector member the measure requires


async def partnership_draft(
    session: AsyncSession, *, n: int, accepted: bool = True
) -> PartnershipDraft:
    """A call open now to partnerships that need a third-sector member, and the draft of a
    partnership led by a public body (tax_code(n)) with a third-sector partner
    (tax_code(n + 1)) that has ``accepted``, or is only invited."""
    world = await budget(session, total=1_000_000)
    await session.execute(
        update(Measure).values(
            applicant_forms=["partnership"],
            required_member_natures=["third_sector_organisation"],
            min_required_members=1,
        )
    )
    open_window(session, world)
    lead = await make_organisation(
        session, name="Comune", tax_code=tax_code(n), nature=LegalNature.OTHER_PUBLIC_BODY
    )
    partner = await make_organisation(session, name="Volontari", tax_code=tax_code(n + 1))
    if accepted:
        applicant = await partnership(session, lead, partner)
    else:
        applicant = await partnership(session, lead, invited=(partner,))
    application = await partnership_application(
        session, world, applicant, status=ApplicationStatus.DRAFT
    )
    return PartnershipDraft(application, applicant, partner)


# A made-up complete grid (the one of tests/data/second_programme.yaml): 100 points.
GRID: dict[str, object] = {
    "criteria": [
        {
            "code": "Q1",
            "name": {"it": "Qualità", "en": "Quality"},
            "max_score": 40,
            "min_score": 20,
        },
        {"code": "P2", "name": {"it": "Partenariato", "en": "Partnership"}, "max_score": 30},
        {"code": "S3", "name": {"it": "Sostenibilità", "en": "Sustainability"}, "max_score": 20},
        {"code": "B4", "name": {"it": "Budget", "en": "Budget"}, "max_score": 10},
    ],
    "min_total": 60,
    "reviewers_per_application": 3,
    "combination": "trimmed_mean",
    "tie_breaks": [{"kind": "criterion", "criterion": "Q1"}, {"kind": "earlier_submission"}],
}


async def with_grid(session: AsyncSession, call: Call, grid: dict[str, object] = GRID) -> None:
    """Give the call a scoring grid (through the service that checks it)."""
    await set_grid(session, call, ScoringGridSpec.model_validate(grid))


def scores(q1: int = 30, p2: int = 20, s3: int = 15, b4: int = 5) -> dict[str, object]:
    """A score body on GRID: every criterion once, each with a comment."""
    return {
        "scores": [
            {"criterion": code, "score": value, "comment": f"Motivazione {code}."}
            for code, value in (("Q1", q1), ("P2", p2), ("S3", s3), ("B4", b4))
        ]
    }


def card(q1: int, p2: int, s3: int, b4: int) -> dict[str, int]:
    """One reviewer's scores on GRID, by criterion code."""
    return {"Q1": q1, "P2": p2, "S3": s3, "B4": b4}


async def scored(
    session: AsyncSession,
    world: Budget,
    reviewers: Sequence[uuid.UUID | None],
    cards: list[dict[str, int]],
    *,
    requested: int = 1_000,
    n: int = 0,
    submitted_at: datetime | None = None,
    status: ApplicationStatus = ApplicationStatus.UNDER_REVIEW,
    name: str | None = None,
    applicant_tax_code: str | None = None,
) -> Application:
    """An application to the world's call (which has a grid) scored by one reviewer per
    card, each declared and scored as the review service leaves them (the grid locked)."""
    applicant = await make_organisation(
        session, name=name or f"Applicant {n}", tax_code=applicant_tax_code or tax_code(900 + n)
    )
    made = application(
        world,
        requested=requested,
        status=status,
        title=f"Project {n}",
        applicant_organisation_id=applicant.id,
    )
    made.submitted_at = submitted_at or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    session.add(made)
    await session.flush()
    grid, criteria = (await grids_of(session, [world.call.id]))[world.call.id]
    now = datetime.now(UTC)
    await lock_grid(session, grid.id, now)
    by_code = {c.code: c.id for c in criteria}
    assert None not in reviewers  # user accounts' ids (an Actor's id is optional)
    for reviewer, scores_given in zip(reviewers, cards, strict=False):
        review = Review(
            id=uuid.uuid4(),
            application_id=made.id,
            reviewer_id=reviewer,
            conflict_declared_at=now,
            scored_at=now,
        )
        session.add(review)
        await session.flush()
        session.add_all(
            ReviewScore(
                id=uuid.uuid4(),
                review_id=review.id,
                criterion_id=by_code[code],
                score=value,
                comment="-",
            )
            for code, value in scores_given.items()
        )
        await session.flush()
    for reviewer in reviewers[len(cards) :]:  # assigned, not scored yet
        session.add(Review(id=uuid.uuid4(), application_id=made.id, reviewer_id=reviewer))
    await session.flush()
    return made


async def first_come(
    session: AsyncSession, *, budget_euros: int, waiting_list_length: int | None = None
) -> Budget:
    """A first-come call of ``budget_euros`` with an open submission window (its measure and
    programme have ten times as much: room to raise the call's share)."""
    world = await budget(session, total=10 * budget_euros, call_budget=budget_euros, code="FC")
    world.call.selection_method = SelectionMethod.FIRST_COME
    world.call.waiting_list_length = waiting_list_length
    open_window(session, world)
    await session.flush()
    return world


async def first_come_in_line(session: AsyncSession) -> Application:
    """A draft to a first-come call with an open window whose budget is all reserved (one
    submitted application holds it) and whose waiting list has one place: submitted, it
    waits at position 1 and the call closes itself; withdrawn, it leaves the list and the
    call opens; its dry run reports the same. The fuzz run's application (tests/api/
    test_fuzz.py), so generated requests reach the reservation and the waiting list."""
    world = await first_come(session, budget_euros=100_000, waiting_list_length=1)
    holder = await approved(
        session, world, requested=100_000, n=20, status=ApplicationStatus.SUBMITTED
    )
    holder.submitted_at = datetime.now(UTC)
    holder.reserved = world.call.budget  # as its submission reserved it
    world.call.reserved = world.call.budget
    draft = await approved(session, world, requested=50_000, n=21, status=ApplicationStatus.DRAFT)
    await session.flush()
    return draft


# Made-up full terms (those of tests/data/second_programme.yaml's INVEST): 70% loan at
# 1.50% a year over five years, the first interest only, quarterly French instalments.
MIXED_TERMS: dict[str, object] = {
    "loan_share_bp": 7000,
    "annual_rate_bp": 150,
    "term_months": 60,
    "grace_months": 12,
    "grace_payment": "interest_only",
    "repayments_per_year": 4,
    "amortisation": "french",
    "note": None,
}


async def mixed(
    session: AsyncSession,
    *,
    total: int,
    terms: dict[str, object] | None = MIXED_TERMS,
    code: str = "MIX",
    measure_budget: int | None = None,
    call_budget: int | None = None,
) -> Budget:
    """A programme whose one measure (and call) is a mixed instrument of ``total`` euros
    (unless the measure's and call's budgets are given); ``terms`` None: every figure "not
    given by the source"."""
    world = await budget(
        session, total=total, measure_budget=measure_budget, call_budget=call_budget, code=code
    )
    world.measure.instrument = Instrument.MIXED
    world.measure.loan_terms = dict(terms) if terms is not None else dict.fromkeys(MIXED_TERMS)
    await session.flush()
    return world


async def ranked(
    session: AsyncSession,
    world: Budget,
    applications: Sequence[Application],
    *,
    below_threshold: Sequence[Application] = (),
    replaces: Ranking | None = None,
) -> Ranking:
    """A published version of the world's call's ranking, as publication writes it: the
    ``applications`` in that order (each ``eligible_not_funded``: the run reads only the
    order, the requested amounts and whether an entry is below the thresholds), then the
    ``below_threshold`` ones. The next version after ``replaces``, or version 1."""
    ranking = Ranking(
        id=uuid.uuid4(),
        call_id=world.call.id,
        version=1 if replaces is None else replaces.version + 1,
        replaces_id=None if replaces is None else replaces.id,
        decree_reference="DD 1/2026",
        decree_date=datetime(2026, 12, 1, tzinfo=UTC).date(),
        published_at=datetime.now(UTC),
        budget=world.call.budget,
        allocated=world.call.allocated,
        grid=GRID,
    )
    session.add(ranking)
    await session.flush()
    listed = [(a, RankingOutcome.ELIGIBLE_NOT_FUNDED) for a in applications]
    listed += [(a, RankingOutcome.BELOW_THRESHOLD) for a in below_threshold]
    session.add_all(
        RankingEntry(
            id=uuid.uuid4(),
            ranking_id=ranking.id,
            ordinal=ordinal,
            position=None if outcome == RankingOutcome.BELOW_THRESHOLD else ordinal,
            application_id=made.id,
            applicant_name=None,
            title=made.title,
            requested=made.requested,
            submitted_at=made.submitted_at,
            reviews=1,
            averages=[],
            total=Decimal(100 - ordinal),
            outcome=outcome,
            failed=["min_total"] if outcome == RankingOutcome.BELOW_THRESHOLD else [],
            tie_break=None,
        )
        for ordinal, (made, outcome) in enumerate(listed, start=1)
    )
    await session.flush()
    return ranking


# After the grant (issue 16): made-up payment terms with every figure, as
# tests/data/second_programme.yaml gives them.
PAYMENT_TERMS: dict[str, object] = {
    "acceptance_days": 60,
    "advance_share_pct": 30,
    "interim_payments": True,
    "retention_share_pct": 10,
    "cost_categories": ["staff", "services", "equipment", "travel"],
    "recovery_days": 90,
}


@dataclass
class Funded:
    world: Budget
    application: Application
    allocation: Allocation
    organisation_id: uuid.UUID


def project_code() -> str:
    """A CUP of the right shape (letter, 2 digits, letter, 11 digits), unique in practice."""
    return f"J{uuid.uuid4().int % 100:02d}B{uuid.uuid4().int % 10**11:011d}"


async def funded(
    session: AsyncSession,
    *,
    grant: int = 100_000,
    code: str = "PAY",
    terms: dict[str, object] | None = None,
    guarantee_required: bool | None = False,
    accept: bool = False,
    n: int = 1,
    world: Budget | None = None,
    cup: bool = True,
) -> Funded:
    """A grant of ``grant`` euros on a measure with ``terms`` (PAYMENT_TERMS by default),
    through the grant's own path; accepted today when ``accept``; with a CUP of its own
    (payments require one) unless not ``cup``."""
    if world is None:
        world = await budget(session, total=10 * grant, code=code)
        world.call.advance_guarantee_required = guarantee_required
        session.add(
            PaymentTerms(id=uuid.uuid4(), measure_id=world.measure.id, **(terms or PAYMENT_TERMS))
        )
        await session.flush()
    made = await approved(session, world, requested=grant, n=n)
    officer = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)
    allocation = await grant_allocation(
        session,
        data=AllocationCreate(application_id=made.id, amount=Decimal(grant)),
        principal=officer,
    )
    if cup:
        allocation.cup = project_code()
        await session.flush()
    if accept:
        admin = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)
        await accept_grant(
            session,
            allocation,
            data=AcceptanceRequest(accepted_on=clock.today()),
            principal=admin,
        )
    assert made.applicant_organisation_id is not None
    return Funded(world, made, allocation, made.applicant_organisation_id)


# Made-up indicators (those of tests/data/second_programme.yaml's CARE): a per-period
# count, a cumulative one broken down by age band (small cells below 3 hidden in public),
# and a result nobody must set a target for.
AGE_BANDS = ["under_18", "adult", "over_65"]


async def with_indicators(
    session: AsyncSession, measure: Measure, *, period_months: int | None = 3
) -> dict[str, Indicator]:
    """The made-up indicators on ``measure``, reported every ``period_months``."""
    session.add(
        MonitoringTerms(id=uuid.uuid4(), measure_id=measure.id, period_months=period_months)
    )
    specs = [
        ("VISITS", Accumulation.PER_PERIOD, [], True, 1, IndicatorKind.OUTPUT),
        (
            "PEOPLE",
            Accumulation.CUMULATIVE,
            [{"code": "age_band", "title": {"it": "Età", "en": "Age"}, "categories": AGE_BANDS}],
            True,
            3,
            IndicatorKind.OUTPUT,
        ),
        ("KEPT", Accumulation.CUMULATIVE, [], False, 1, IndicatorKind.RESULT),
    ]
    made = {}
    for ordinal, (name, accumulation, breakdowns, required, threshold, kind) in enumerate(
        specs, start=1
    ):
        indicator = Indicator(
            id=uuid.uuid4(),
            measure_id=measure.id,
            ordinal=ordinal,
            code=f"{measure.code}-{name}",
            eu_code=None,
            eu_code_basis=None,
            name_it=name.lower(),
            name_en=name.lower(),
            unit_it="n",
            unit_en="n",
            kind=kind,
            accumulation=accumulation,
            breakdowns=breakdowns,
            target_required=required,
            suppress_below=threshold,
            note=None,
        )
        session.add(indicator)
        made[name] = indicator
    await session.flush()
    return made


async def decree_kind(session: AsyncSession, measure_id: uuid.UUID) -> DocumentKind:
    """A measure's kind of call document, a decree (PDF), as a measure's data defines one."""
    kind = DocumentKind(
        id=uuid.uuid4(),
        measure_id=measure_id,
        owner_type=DocumentOwner.CALL,
        code="decree",
        ordinal=1,
        title_it="Determinazione",
        title_en="Decree",
        required=False,
        media_types=["application/pdf"],
    )
    session.add(kind)
    await session.flush()
    return kind
