"""An acceptance (or a refusal) of an invitation and a submission of the partnership never
interleave: the answer locks the partnership FOR UPDATE, the submission holds it FOR SHARE,
so the submission judges the members as they are once the answer has committed (scripted on
PostgreSQL; SQLite's writers queue at BEGIN)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus, LegalNature, MemberStatus
from app.core.errors import Ineligible
from app.db.session import Database
from app.models import Application, Measure, PartnershipMember
from app.schemas.organisation import MembershipDecision
from app.services import applications as applications_service
from app.services import organisations as organisations_service
from tests.actors import make_organisation, tax_code
from tests.world import budget, open_window, partnership, partnership_application

ADMIN = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)


@dataclass
class Draft:
    application_id: uuid.UUID
    partnership_id: uuid.UUID
    invited_id: uuid.UUID  # the third-sector member the measure requires, not yet accepted
    invited_user: Principal


@pytest.fixture
async def draft(postgres_scratch: Database) -> Draft:
    async with postgres_scratch.session(write=True) as arrange:
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
            arrange, name="Comune", tax_code=tax_code(51), nature=LegalNature.OTHER_PUBLIC_BODY
        )
        invited = await make_organisation(arrange, name="Volontari", tax_code=tax_code(52))
        applicant = await partnership(arrange, lead, invited=(invited,))
        application = await partnership_application(
            arrange, world, applicant, status=ApplicationStatus.DRAFT
        )
    user = Principal(
        kind="user",
        id=uuid.uuid4(),
        role=Role.APPLICANT,
        organisation_ids=frozenset({invited.id}),
    )
    return Draft(application.id, applicant.id, invited.id, user)


async def _submit(session: AsyncSession, application_id: uuid.UUID) -> Any:
    application = await session.get(Application, application_id)
    assert application is not None
    return await applications_service.move_application(
        session, application, action="submit", principal=ADMIN
    )


async def _answer(session: AsyncSession, draft: Draft, action: str) -> Any:
    partnership, _, member = await organisations_service.get_membership(
        session, draft.partnership_id, draft.invited_id, draft.invited_user
    )
    answer = getattr(organisations_service, f"{action}_membership")
    return await answer(
        session, partnership, member, data=MembershipDecision(), principal=draft.invited_user
    )


async def _second_waits(
    scratch: Database,
    first_step: Callable[[AsyncSession], Coroutine[Any, Any, Any]],
    second_step: Callable[[AsyncSession], Coroutine[Any, Any, Any]],
) -> Any:
    """The second step's outcome (its result, or the domain error it raised), after it
    waited for the first to commit."""
    maker = async_sessionmaker(scratch.engine, expire_on_commit=False)
    async with maker() as first, maker() as second:
        async with first.begin():
            await first_step(first)
            await second.begin()
            waiting: asyncio.Task[Any] = asyncio.create_task(second_step(second))
            await asyncio.sleep(0.5)
            assert not waiting.done(), "the second step did not wait for the first"
        try:
            outcome = await waiting
        except Exception as error:
            await second.rollback()
            return error
        await second.commit()
        return outcome


async def test_a_submission_waits_for_the_acceptance_then_counts_the_member(
    postgres_scratch: Database, draft: Draft
) -> None:
    outcome = await _second_waits(
        postgres_scratch,
        lambda s: _answer(s, draft, "accept"),
        lambda s: _submit(s, draft.application_id),
    )
    assert isinstance(outcome, Application), outcome
    async with postgres_scratch.session(write=False) as check:
        assert (
            await check.scalar(
                select(Application.status).where(Application.id == draft.application_id)
            )
            == ApplicationStatus.SUBMITTED
        )
        assert (
            await check.scalar(
                select(PartnershipMember.status).where(
                    PartnershipMember.organisation_id == draft.invited_id
                )
            )
            == MemberStatus.ACCEPTED
        )


async def test_a_submission_waits_for_the_refusal_then_judges_without_the_member(
    postgres_scratch: Database, draft: Draft
) -> None:
    outcome = await _second_waits(
        postgres_scratch,
        lambda s: _answer(s, draft, "decline"),
        lambda s: _submit(s, draft.application_id),
    )
    assert isinstance(outcome, Ineligible), outcome
    assert [v["rule"] for v in outcome.figures["violations"]] == [  # type: ignore[attr-defined]
        "eligibility_required_members"
    ]
