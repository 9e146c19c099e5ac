"""A submission judges its organisations' eligibility; a change of those details can neither
slip in before the submission commits nor be lost after it (scripted on PostgreSQL; SQLite's
writers queue at BEGIN). Either order ends with a consistent refusal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus, LegalNature
from app.core.errors import DomainError, Ineligible, OrganisationInLiveApplication
from app.db.session import Database
from app.models import Application, Measure, Organisation
from app.schemas.organisation import OrganisationUpdate
from app.services import applications as applications_service
from app.services import organisations as organisations_service
from tests.world import approved, budget, open_window, partnership, partnership_application

ADMIN = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)


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


async def _submit(session: AsyncSession, application_id: uuid.UUID) -> Any:
    application = await session.get(Application, application_id)
    assert application is not None
    return await applications_service.move_application(
        session, application, action="submit", principal=ADMIN
    )


async def _turn_into_an_enterprise(session: AsyncSession, organisation_id: uuid.UUID) -> Any:
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    data = OrganisationUpdate(legal_nature=LegalNature.ENTERPRISE)
    return await organisations_service.update_organisation(
        session, organisation, data=data, principal=ADMIN
    )


async def _second_waits_then_fails(
    scratch: Database,
    first_step: Callable[[AsyncSession], Coroutine[Any, Any, Any]],
    second_step: Callable[[AsyncSession], Coroutine[Any, Any, Any]],
) -> DomainError:
    maker = async_sessionmaker(scratch.engine, expire_on_commit=False)
    async with maker() as first, maker() as second:
        async with first.begin():
            await first_step(first)
            await second.begin()
            waiting: asyncio.Task[Any] = asyncio.create_task(second_step(second))
            await asyncio.sleep(0.5)
            assert not waiting.done(), "the second step did not wait for the first"
        with pytest.raises(DomainError) as refused:
            await waiting
        await second.rollback()
    return refused.value


async def test_a_change_waits_for_the_submission_then_is_refused(
    scratch: Database, draft: Application
) -> None:
    organisation_id = draft.applicant_organisation_id
    assert organisation_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: _submit(s, draft.id),
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
        lambda s: _submit(s, draft.id),
    )
    assert isinstance(refusal, Ineligible)
    async with scratch.session(write=False) as check:
        assert (
            await check.scalar(select(Application.status).where(Application.id == draft.id))
            == ApplicationStatus.DRAFT
        )


@pytest.fixture
async def partnership_draft(scratch: Database) -> Application:
    """A partnership's draft to a call open now; partnerships need a third-sector member."""
    from tests.actors import make_organisation, tax_code

    async with scratch.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000)
        await arrange.execute(
            update(Measure).values(
                applicant_forms=["partnership"],
                required_member_natures=["third_sector_organisation"],
                min_required_members=1,
            )
        )
        open_window(arrange, world)
        lead = await make_organisation(
            arrange, name="Comune", tax_code=tax_code(41), nature=LegalNature.OTHER_PUBLIC_BODY
        )
        partner = await make_organisation(arrange, name="Volontari", tax_code=tax_code(42))
        applicant = await partnership(arrange, lead, partner)
        application = await partnership_application(
            arrange, world, applicant, status=ApplicationStatus.DRAFT
        )
        return application


async def _drop_the_partners(session: AsyncSession, partnership_id: uuid.UUID) -> Any:
    from app.schemas.organisation import PartnershipUpdate

    partnership, members = await organisations_service.get_partnership(
        session, partnership_id, ADMIN
    )
    return await organisations_service.update_partnership(
        session,
        partnership,
        members,
        data=PartnershipUpdate(partner_organisation_ids=[]),
        principal=ADMIN,
    )


async def test_a_change_of_members_waits_for_the_submission_then_is_refused(
    scratch: Database, partnership_draft: Application
) -> None:
    partnership_id = partnership_draft.partnership_id
    assert partnership_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: _submit(s, partnership_draft.id),
        lambda s: _drop_the_partners(s, partnership_id),
    )
    assert "frozen" in refusal.detail


async def test_a_submission_waits_for_the_change_of_members_then_judges_it(
    scratch: Database, partnership_draft: Application
) -> None:
    partnership_id = partnership_draft.partnership_id
    assert partnership_id is not None
    refusal = await _second_waits_then_fails(
        scratch,
        lambda s: _drop_the_partners(s, partnership_id),
        lambda s: _submit(s, partnership_draft.id),
    )
    assert isinstance(refusal, Ineligible)
