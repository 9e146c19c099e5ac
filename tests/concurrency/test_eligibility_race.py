"""A submission judges its organisations' eligibility; a change of those details can neither
slip in before the submission commits nor be lost after it (scripted on PostgreSQL; SQLite's
writers queue at BEGIN). Either order ends with a consistent refusal."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import ApplicationStatus, LegalNature
from app.core.errors import DomainError, Ineligible, OrganisationInLiveApplication
from app.db.session import Database
from app.models import Application, Measure, Organisation
from app.schemas.organisation import OrganisationUpdate
from app.services import organisations as organisations_service
from tests.concurrency.scripted import ADMIN, Step, second_waits, submit
from tests.world import approved, budget, open_window, partnership_draft


@pytest.fixture
async def scratch(postgres_scratch: Database) -> Database:
    return postgres_scratch


@pytest.fixture
async def draft(scratch: Database) -> Application:
    """A draft by a third-sector organisation to a call open now, for third-sector only."""
    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000)
        await arrange.execute(
            update(Measure).values(eligible_legal_natures=["third_sector_organisation"])
        )
        open_window(arrange, world)
        return await approved(arrange, world, requested=1_000, status=ApplicationStatus.DRAFT)


async def _turn_into_an_enterprise(session: AsyncSession, organisation_id: uuid.UUID) -> Any:
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    data = OrganisationUpdate(legal_nature=LegalNature.ENTERPRISE)
    return await organisations_service.update_organisation(
        session, organisation, data=data, principal=ADMIN
    )


async def _second_waits_then_fails(
    scratch: Database, first_step: Step, second_step: Step
) -> DomainError:
    refused = await second_waits(scratch, first_step, second_step)
    assert isinstance(refused, DomainError), refused
    return refused


async def test_a_change_waits_for_the_submission_then_is_refused(
    scratch: Database, draft: Application
) -> None:
    organisation_id = draft.applicant_organisation_id
    assert organisation_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: submit(s, draft.id),
        lambda s: _turn_into_an_enterprise(s, organisation_id),
    )
    assert isinstance(refusal, OrganisationInLiveApplication)
    async with scratch.session(write=False) as check:
        assert (
            await check.scalar(
                select(Organisation.legal_nature).where(Organisation.id == organisation_id)
            )
            == LegalNature.THIRD_SECTOR_ORGANISATION
        )
        assert (
            await check.scalar(select(Application.status).where(Application.id == draft.id))
            == ApplicationStatus.SUBMITTED
        )


async def test_a_submission_waits_for_the_change_then_judges_it(
    scratch: Database, draft: Application
) -> None:
    organisation_id = draft.applicant_organisation_id
    assert organisation_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: _turn_into_an_enterprise(s, organisation_id),
        lambda s: submit(s, draft.id),
    )
    assert isinstance(refusal, Ineligible)
    async with scratch.session(write=False) as check:
        assert (
            await check.scalar(select(Application.status).where(Application.id == draft.id))
            == ApplicationStatus.DRAFT
        )


@pytest.fixture
async def partnership_drafted(scratch: Database) -> Application:
    """A partnership's draft to a call open now; partnerships need a third-sector member."""
    async with scratch.session(write=True) as arrange:
        return (await partnership_draft(arrange, n=41)).application


async def _drop_the_partners(session: AsyncSession, partnership_id: uuid.UUID) -> Any:
    from app.schemas.organisation import PartnershipUpdate

    partnership = await organisations_service.load_partnership(session, partnership_id, ADMIN)
    return await organisations_service.update_partnership(
        session, partnership, data=PartnershipUpdate(partner_organisation_ids=[]), principal=ADMIN
    )


async def test_a_change_of_members_waits_for_the_submission_then_is_refused(
    scratch: Database, partnership_drafted: Application
) -> None:
    partnership_id = partnership_drafted.partnership_id
    assert partnership_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: submit(s, partnership_drafted.id),
        lambda s: _drop_the_partners(s, partnership_id),
    )
    assert "frozen" in refusal.detail


async def test_a_submission_waits_for_the_change_of_members_then_judges_it(
    scratch: Database, partnership_drafted: Application
) -> None:
    partnership_id = partnership_drafted.partnership_id
    assert partnership_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: _drop_the_partners(s, partnership_id),
        lambda s: submit(s, partnership_drafted.id),
    )
    assert isinstance(refusal, Ineligible)
