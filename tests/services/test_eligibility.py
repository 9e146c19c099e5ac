"""Eligibility per measure and line, judged from the loaded data of two different programmes."""

from __future__ import annotations

import uuid
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStage, ApplicationStatus, ProfitStatus, SizeClass
from app.core.domain import LegalNature as N
from app.core.errors import Ineligible, MeasureProjectCapReached, ParticipationLimitReached
from app.core.money import parse_amount
from app.models import Application, Call, District, IndicatorTargets, Measure, MeasureLine
from app.schemas.application import AllocationCreate
from app.services import applications as applications_service
from app.services.allocations import grant_allocation
from app.services.applications import move_application
from app.services.eligibility import ApplicantFacts, EligibilityRules, ensure_eligible, evaluate
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests.actors import make_organisation, tax_code
from tests.factories import org, partnership, single
from tests.world import cents, euros

SECOND_FILE = Path(__file__).resolve().parents[1] / "data" / "second_programme.yaml"
EUR = 100  # cents


async def rules_for(
    session: AsyncSession, measure_code: str, line_number: int | None = None
) -> EligibilityRules:
    measure = await session.scalar(select(Measure).where(Measure.code == measure_code))
    assert measure is not None
    line = None
    if line_number is not None:
        line = await session.scalar(
            select(MeasureLine).where(
                MeasureLine.measure_id == measure.id, MeasureLine.number == line_number
            )
        )
        assert line is not None
    return EligibilityRules.of(measure, line)


def rules_failed(
    rules: EligibilityRules,
    applicant: ApplicantFacts,
    cost: str = "500000.00",
    *,
    district_lead_organisation_id: uuid.UUID | None = None,
) -> set[str]:
    violations = evaluate(
        rules,
        applicant,
        total_cost=parse_amount(cost),
        district_lead_organisation_id=district_lead_organisation_id,
    )
    return {v.rule for v in violations}


@pytest.fixture
async def wecare(session: AsyncSession) -> None:
    await load_reference_data(session, read_reference_file(WECARE_FILE))


@pytest.mark.usefixtures("wecare")
class TestWecareFse1:
    async def test_district_lead_with_a_third_sector_partner_in_piemonte(
        self, session: AsyncSession
    ) -> None:
        rules = await rules_for(session, "FSE1")
        lead = org(N.SOCIAL_SERVICES_BODY)
        applicant = partnership(lead, org(N.THIRD_SECTOR_ORGANISATION), org(N.HEALTH_AUTHORITY))
        assert rules_failed(rules, applicant, district_lead_organisation_id=lead.id) == set()

    async def test_without_a_third_sector_member(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FSE1")
        lead = org(N.SOCIAL_SERVICES_BODY)
        applicant = partnership(lead, org(N.MUNICIPALITY))
        assert rules_failed(rules, applicant, district_lead_organisation_id=lead.id) == {
            "eligibility_required_members"
        }

    async def test_a_third_sector_member_outside_piemonte_does_not_count(
        self, session: AsyncSession
    ) -> None:
        rules = await rules_for(session, "FSE1")
        lead = org(N.SOCIAL_SERVICES_BODY)
        applicant = partnership(lead, org(N.THIRD_SECTOR_ORGANISATION, province=None))
        assert rules_failed(rules, applicant, district_lead_organisation_id=lead.id) == {
            "eligibility_required_members"
        }

    async def test_lead_must_be_the_district_lead_body(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FSE1")
        applicant = partnership(org(N.MUNICIPALITY), org(N.THIRD_SECTOR_ORGANISATION))
        assert rules_failed(rules, applicant, district_lead_organisation_id=uuid.uuid4()) == {
            "eligibility_district_lead"
        }

    async def test_a_single_organisation_or_an_enterprise_partner_is_refused(
        self, session: AsyncSession
    ) -> None:
        rules = await rules_for(session, "FSE1")
        lead = org(N.SOCIAL_SERVICES_BODY)
        assert "eligibility_applicant_form" in rules_failed(
            rules, single(lead), district_lead_organisation_id=lead.id
        )
        applicant = partnership(
            lead, org(N.THIRD_SECTOR_ORGANISATION), org(N.ENTERPRISE, profit=ProfitStatus.PROFIT)
        )
        assert rules_failed(rules, applicant, district_lead_organisation_id=lead.id) == {
            "eligibility_legal_nature"
        }


@pytest.mark.usefixtures("wecare")
class TestWecareOtherMeasures:
    async def test_fse2_admits_social_enterprises_and_third_sector_only(
        self, session: AsyncSession
    ) -> None:
        rules = await rules_for(session, "FSE2")
        assert rules_failed(rules, single(org(N.SOCIAL_ENTERPRISE))) == set()
        assert rules_failed(rules, single(org(N.VOLUNTEER_ORGANISATION))) == set()
        assert rules_failed(rules, single(org(N.MUNICIPALITY))) == {"eligibility_legal_nature"}

    @pytest.mark.parametrize(
        ("size", "eligible"),
        [
            (SizeClass.MICRO, True),
            (SizeClass.MEDIUM, True),
            (SizeClass.LARGE, False),
            (None, False),
        ],
    )
    async def test_fse3_admits_smes_only(
        self, session: AsyncSession, size: SizeClass | None, eligible: bool
    ) -> None:
        rules = await rules_for(session, "FSE3")
        company = org(N.ENTERPRISE, profit=ProfitStatus.PROFIT, size=size)
        assert (rules_failed(rules, single(company)) == set()) is eligible
        pair = partnership(company, org(N.ENTERPRISE, size=SizeClass.SMALL))
        assert (rules_failed(rules, pair) == set()) is eligible

    async def test_fse4_needs_accompaniment_experience(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FSE4")
        assert rules_failed(rules, single(org(N.FOUNDATION, accompaniment=True))) == set()
        assert rules_failed(rules, single(org(N.FOUNDATION))) == {
            "eligibility_accompaniment_experience"
        }

    async def test_fesr_applications_go_through_a_line(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FESR")
        assert "eligibility_line_required" in rules_failed(rules, single(org(N.SOCIAL_ENTERPRISE)))


@pytest.mark.usefixtures("wecare")
class TestWecareFesrThresholds:
    @pytest.mark.parametrize(
        ("cost", "failed"),
        [
            ("999999.99", {"line_min_project_cost"}),
            ("1000000.00", set()),
            ("5000000.00", set()),
        ],
    )
    async def test_line_1_at_least_one_million(
        self, session: AsyncSession, cost: str, failed: set[str]
    ) -> None:
        rules = await rules_for(session, "FESR", 1)
        sme = org(N.SOCIAL_ENTERPRISE, size=SizeClass.SMALL)
        assert rules_failed(rules, single(sme), cost) == failed

    async def test_line_1_is_for_non_profit_smes(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FESR", 1)
        profit = org(N.ENTERPRISE, profit=ProfitStatus.PROFIT, size=SizeClass.SMALL)
        large = org(N.SOCIAL_ENTERPRISE, size=SizeClass.LARGE)
        assert rules_failed(rules, single(profit), "1000000.00") == {"eligibility_profit_status"}
        assert rules_failed(rules, single(large), "1000000.00") == {"eligibility_size_class"}

    @pytest.mark.parametrize(
        ("cost", "failed"),
        [("100000.00", set()), ("100000.01", {"line_max_project_cost"}), ("0.01", set())],
    )
    async def test_line_2_at_most_one_hundred_thousand(
        self, session: AsyncSession, cost: str, failed: set[str]
    ) -> None:
        rules = await rules_for(session, "FESR", 2)
        micro = org(N.ENTERPRISE, profit=ProfitStatus.PROFIT, size=SizeClass.MICRO)
        assert rules_failed(rules, single(micro), cost) == failed

    async def test_line_2_is_for_micro_and_small_enterprises(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FESR", 2)
        medium = org(N.ENTERPRISE, profit=ProfitStatus.PROFIT, size=SizeClass.MEDIUM)
        assert rules_failed(rules, single(medium), "50000.00") == {"eligibility_size_class"}

    async def test_ensure_eligible_raises_with_every_violation(self, session: AsyncSession) -> None:
        rules = await rules_for(session, "FESR", 2)
        medium_foundation = org(N.FOUNDATION, size=SizeClass.MEDIUM)
        with pytest.raises(Ineligible) as caught:
            ensure_eligible(rules, single(medium_foundation), total_cost=euros(100_000_01))
        assert caught.value.status == 422
        violations = caught.value.figures["violations"]
        assert {v["rule"] for v in violations} == {  # type: ignore[attr-defined]
            "eligibility_legal_nature",
            "eligibility_size_class",
            "line_max_project_cost",
        }


class TestSecondProgramme:
    """A made-up programme with other kinds and thresholds: same engine, other verdicts."""

    @pytest.fixture(autouse=True)
    async def _load(self, session: AsyncSession) -> None:
        await load_reference_data(session, read_reference_file(SECOND_FILE))
        await load_reference_data(session, read_reference_file(WECARE_FILE))

    async def test_its_kinds_are_not_wecare_kinds(self, session: AsyncSession) -> None:
        care = await rules_for(session, "CARE")
        fse3 = await rules_for(session, "FSE3")
        volunteers = single(org(N.VOLUNTEER_ORGANISATION))
        assert rules_failed(care, volunteers) == set()
        assert rules_failed(fse3, volunteers) == {
            "eligibility_legal_nature",
            "eligibility_size_class",
        }
        assert rules_failed(care, single(org(N.SOCIAL_ENTERPRISE))) == {"eligibility_legal_nature"}

    @pytest.mark.parametrize(
        ("cost", "failed"),
        [
            ("49999.99", {"line_min_project_cost"}),
            ("50000.00", set()),
            ("200000.00", set()),
            ("200000.01", {"line_max_project_cost"}),
        ],
    )
    async def test_its_thresholds_come_from_its_data(
        self, session: AsyncSession, cost: str, failed: set[str]
    ) -> None:
        rules = await rules_for(session, "INVEST", 1)
        assert rules_failed(rules, single(org(N.FOUNDATION)), cost) == failed

    async def test_its_caps_are_its_own(self, session: AsyncSession) -> None:
        care = await session.scalar(select(Measure).where(Measure.code == "CARE"))
        assert care is not None
        assert (care.max_funded_projects, cents(care.budget)) == (2, 600_000 * EUR)

    async def test_its_project_cap_is_enforced_by_the_same_engine(
        self, session: AsyncSession
    ) -> None:
        """CARE funds two projects at most (WECARE's FSE1: thirty): the third grant is
        refused with CARE's own figures."""
        care, call = await _care(session)
        applications = [
            await _care_application(session, care, call, n, status=ApplicationStatus.APPROVED)
            for n in range(3)
        ]
        for application in applications[:2]:
            await grant_allocation(
                session,
                data=AllocationCreate(application_id=application.id, amount=Decimal("1000.00")),
                principal=REGION,
            )
        # A request's refusal rolls its transaction back; here, a savepoint does.
        with pytest.raises(MeasureProjectCapReached) as refused:
            async with session.begin_nested():
                await grant_allocation(
                    session,
                    data=AllocationCreate(
                        application_id=applications[2].id, amount=Decimal("1000.00")
                    ),
                    principal=REGION,
                )
        assert refused.value.figures == {"cap": 2, "funded_projects": 2}
        await session.refresh(care)
        assert (care.funded_projects, cents(care.allocated)) == (2, 2_000 * EUR)

    async def test_its_participation_limit_is_enforced_by_the_same_engine(
        self, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """TEST-CARE-2030 lets a volunteer organisation into one project (from the data):
        its second submission, in another district, is refused; withdrawing frees it."""
        care, call = await _care(session)
        first = await _care_application(session, care, call, 1)
        second = await _care_application(
            session, care, call, 2, applicant_id=first.applicant_organisation_id
        )
        # Inside the call's submission window (2030-01-01 to 2030-07-01).
        monkeypatch.setattr(applications_service, "datetime", _FixedClock)
        await move_application(session, first, action="submit", principal=REGION)
        with pytest.raises(ParticipationLimitReached) as refused:
            await move_application(session, second, action="submit", principal=REGION)
        assert (refused.value.figures["cap"], refused.value.figures["taken"]) == (1, 1)
        assert second.status == ApplicationStatus.DRAFT
        await move_application(session, first, action="withdraw", principal=REGION)
        await move_application(session, second, action="submit", principal=REGION)
        submitted = await session.get(Application, second.id)
        assert submitted is not None
        assert submitted.status == ApplicationStatus.SUBMITTED


REGION = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)
# The indicators TEST-CARE-2030's measure asks a target for (tests/data/second_programme.yaml).
CARE_INDICATORS = ("CARE-VISITS", "CARE-PEOPLE")


class _FixedClock(datetime):
    """``datetime`` whose ``now`` is inside the second programme's 2030 windows."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FixedClock:
        return cls(2030, 3, 1, 9, 0, tzinfo=tz)


async def _care(session: AsyncSession) -> tuple[Measure, Call]:
    care = await session.scalar(select(Measure).where(Measure.code == "CARE"))
    call = await session.scalar(select(Call).where(Call.code == "TEST-CARE-2030"))
    assert care is not None
    assert call is not None
    return care, call


async def _care_application(
    session: AsyncSession,
    care: Measure,
    call: Call,
    n: int,
    *,
    status: ApplicationStatus = ApplicationStatus.DRAFT,
    applicant_id: uuid.UUID | None = None,
) -> Application:
    """A CARE application by a volunteer organisation, in a district of its own (CARE funds
    one project per district)."""
    if applicant_id is None:
        applicant = await make_organisation(
            session,
            name=f"Volontari {n}",
            tax_code=tax_code(700 + n),
            nature=N.VOLUNTEER_ORGANISATION,
        )
        applicant_id = applicant.id
    lead = await make_organisation(session, name=f"Comune {n}", tax_code=tax_code(720 + n))
    place = District(
        id=uuid.uuid4(), code=f"CARE-D{n}", name=f"Distretto {n}", lead_organisation_id=lead.id
    )
    session.add(place)
    await session.flush()
    application = Application(
        id=uuid.uuid4(),
        call_id=call.id,
        measure_id=care.id,
        applicant_organisation_id=applicant_id,
        title=f"Cura {n}",
        description="-",
        total_cost=Decimal(1_000),
        requested=Decimal(1_000),
        district_id=place.id,
        stage=ApplicationStage.SINGLE,
        status=status,
    )
    session.add(application)
    await session.flush()
    # CARE requires a target for each of its indicators at submission (issue 20).
    session.add(
        IndicatorTargets(
            id=uuid.uuid4(),
            application_id=application.id,
            figures={code: {"total": 10, "breakdowns": {}} for code in CARE_INDICATORS},
            set_by="test",
        )
    )
    await session.flush()
    return application
