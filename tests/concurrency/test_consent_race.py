"""An acceptance (or a refusal) of an invitation and a submission of the partnership never
interleave: the answer locks the partnership FOR UPDATE, the submission holds it FOR SHARE,
so the submission judges the members as they are once the answer has committed (scripted on
PostgreSQL; SQLite's writers queue at BEGIN)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus, MemberStatus
from app.core.errors import Ineligible
from app.db.session import Database
from app.models import Application, PartnershipMember
from app.schemas.organisation import MembershipDecision
from app.services import organisations as organisations_service
from tests.concurrency.scripted import second_waits, submit
from tests.world import partnership_draft


@dataclass
class Draft:
    application_id: uuid.UUID
    partnership_id: uuid.UUID
    invited_id: uuid.UUID  # the third-sector member the measure requires, not yet accepted
    invited_user: Principal


@pytest.fixture
async def draft(postgres_scratch: Database) -> Draft:
    async with postgres_scratch.session(write=True) as arrange:
        made = await partnership_draft(arrange, n=51, accepted=False)
    user = Principal(
        kind="user",
        id=uuid.uuid4(),
        role=Role.APPLICANT,
        organisation_ids=frozenset({made.partner.id}),
    )
    return Draft(made.application.id, made.partnership.id, made.partner.id, user)


async def _answer(session: AsyncSession, draft: Draft, action: str) -> Any:
    membership = await organisations_service.load_membership(
        session, draft.partnership_id, draft.invited_id, draft.invited_user
    )
    answer = getattr(organisations_service, f"{action}_membership")
    return await answer(
        session, membership, data=MembershipDecision(), principal=draft.invited_user
    )


async def test_a_submission_waits_for_the_acceptance_then_counts_the_member(
    postgres_scratch: Database, draft: Draft
) -> None:
    outcome = await second_waits(
        postgres_scratch,
        lambda s: _answer(s, draft, "accept"),
        lambda s: submit(s, draft.application_id),
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
    outcome = await second_waits(
        postgres_scratch,
        lambda s: _answer(s, draft, "decline"),
        lambda s: submit(s, draft.application_id),
    )
    assert isinstance(outcome, Ineligible), outcome
    assert [v["rule"] for v in outcome.figures["violations"]] == [  # type: ignore[attr-defined]
        "eligibility_required_members"
    ]
