"""Object-level access: each principal's SQL predicate returns exactly its rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ROLE_SCOPES, Principal, Role
from app.core.domain import (
    AllocationStatus,
    ApplicationStage,
    ApplicationStatus,
    MemberRole,
    MemberStatus,
    PartnershipForm,
)
from app.models import (
    Allocation,
    Application,
    Call,
    Organisation,
    Partnership,
    PartnershipMember,
    Programme,
    Review,
)
from app.repositories import visibility
from app.services.reference_data import load_reference_data, read_reference_file
from app.services.users import create_user
from tests.actors import TAX_CODES, make_organisation
from tests.world import euros

# The world below inserts allocations directly, without moving the counters.
pytestmark = pytest.mark.counters_may_disagree

SECOND_FILE = Path(__file__).resolve().parents[1] / "data" / "second_programme.yaml"


class World:
    """Organisations A, B, C; partnership P = A (lead) + C; applications by A, by B and by P;
    allocations: A's active, B's revoked; a reviewer assigned to B's application."""

    orgs: dict[str, Organisation]
    apps: dict[str, Application]
    allocations: dict[str, Allocation]
    reviewer_id: uuid.UUID


@pytest.fixture
async def world(session: AsyncSession) -> World:
    await load_reference_data(session, read_reference_file(SECOND_FILE))
    call = await session.scalar(select(Call).where(Call.code == "TEST-CARE-2030"))
    programme = await session.scalar(select(Programme))
    assert call is not None
    assert programme is not None
    w = World()
    w.orgs = {
        name: await make_organisation(session, name=name, tax_code=code)
        for name, code in zip("ABC", TAX_CODES, strict=False)
    }
    partnership = Partnership(id=uuid.uuid4(), name="P", form=PartnershipForm.ATS_TO_BE_FORMED)
    session.add(partnership)
    await session.flush()
    session.add_all(
        [
            PartnershipMember(
                partnership_id=partnership.id,
                organisation_id=w.orgs["A"].id,
                role=MemberRole.LEAD,
                status=MemberStatus.ACCEPTED,
            ),
            PartnershipMember(
                partnership_id=partnership.id,
                organisation_id=w.orgs["C"].id,
                role=MemberRole.PARTNER,
                status=MemberStatus.ACCEPTED,
            ),
        ]
    )

    def application(title: str, **applicant: uuid.UUID) -> Application:
        return Application(
            id=uuid.uuid4(),
            call_id=call.id,
            measure_id=call.measure_id,
            title=title,
            description="…",
            total_cost=euros(100_000),
            requested=euros(50_000),
            stage=ApplicationStage.SINGLE,
            status=ApplicationStatus.APPROVED,
            **applicant,
        )

    w.apps = {
        "by-A": application("by A", applicant_organisation_id=w.orgs["A"].id),
        "by-B": application("by B", applicant_organisation_id=w.orgs["B"].id),
        "by-P": application("by P", partnership_id=partnership.id),
    }
    session.add_all(w.apps.values())
    await session.flush()
    now = datetime.now(UTC)

    def allocation(app: Application, status: AllocationStatus) -> Allocation:
        return Allocation(
            id=uuid.uuid4(),
            application_id=app.id,
            programme_id=programme.id,
            measure_id=call.measure_id,
            call_id=call.id,
            amount=euros(10_000),
            status=status,
            granted_by="test",
            revoked_at=now if status is AllocationStatus.REVOKED else None,
        )

    w.allocations = {
        "A-active": allocation(w.apps["by-A"], AllocationStatus.ACTIVE),
        "B-revoked": allocation(w.apps["by-B"], AllocationStatus.REVOKED),
    }
    session.add_all(w.allocations.values())
    reviewer = await create_user(
        session,
        email="rev@example.org",
        display_name="Rev",
        password="x" * 12,
        role=Role.REVIEWER,
        organisation_ids=[],
    )
    session.add(Review(application_id=w.apps["by-B"].id, reviewer_id=reviewer.id))
    w.reviewer_id = reviewer.id
    await session.flush()
    return w


def user(role: Role, *orgs: uuid.UUID, id: uuid.UUID | None = None) -> Principal:
    return Principal(
        kind="user",
        id=id or uuid.uuid4(),
        role=role,
        scopes=ROLE_SCOPES[role],
        organisation_ids=frozenset(orgs),
    )


def client(org: uuid.UUID) -> Principal:
    return Principal(kind="client", client_id="c", organisation_ids=frozenset({org}))


async def visible_apps(session: AsyncSession, world: World, principal: Principal) -> set[str]:
    ids = set(
        await session.scalars(select(Application.id).where(visibility.applications(principal)))
    )
    return {name for name, app in world.apps.items() if app.id in ids}


class TestApplications:
    async def test_region_sees_all(self, session: AsyncSession, world: World) -> None:
        for role in (Role.ADMINISTRATOR, Role.OFFICER):
            assert await visible_apps(session, world, user(role)) == {"by-A", "by-B", "by-P"}

    async def test_applicant_sees_own_and_partnerships(
        self, session: AsyncSession, world: World
    ) -> None:
        assert await visible_apps(session, world, user(Role.APPLICANT, world.orgs["A"].id)) == {
            "by-A",
            "by-P",
        }
        # C is only a partner of P: it sees P's application, not A's own.
        assert await visible_apps(session, world, user(Role.APPLICANT, world.orgs["C"].id)) == {
            "by-P"
        }
        assert await visible_apps(session, world, user(Role.APPLICANT)) == set()

    async def test_reviewer_sees_assigned_only(self, session: AsyncSession, world: World) -> None:
        assigned = user(Role.REVIEWER, id=world.reviewer_id)
        assert await visible_apps(session, world, assigned) == {"by-B"}
        assert await visible_apps(session, world, user(Role.REVIEWER)) == set()

    async def test_partner_client_sees_none(self, session: AsyncSession, world: World) -> None:
        assert await visible_apps(session, world, client(world.orgs["A"].id)) == set()


class TestOtherResources:
    async def test_organisations(self, session: AsyncSession, world: World) -> None:
        async def names(principal: Principal) -> set[str]:
            rows = await session.scalars(
                select(Organisation.legal_name).where(visibility.organisations(principal))
            )
            return set(rows)

        assert await names(user(Role.OFFICER)) == {"A", "B", "C"}
        assert await names(user(Role.APPLICANT, world.orgs["B"].id)) == {"B"}
        assert await names(client(world.orgs["C"].id)) == {"C"}
        assert await names(user(Role.REVIEWER)) == set()

    async def test_partnerships(self, session: AsyncSession, world: World) -> None:
        async def count(principal: Principal) -> int:
            rows = await session.scalars(
                select(Partnership.id).where(visibility.partnerships(principal))
            )
            return len(list(rows))

        assert await count(user(Role.APPLICANT, world.orgs["C"].id)) == 1
        assert await count(user(Role.APPLICANT, world.orgs["B"].id)) == 0
        assert await count(user(Role.OFFICER)) == 1
        assert await count(client(world.orgs["A"].id)) == 0

    async def test_an_invited_organisation_sees_its_invitation_only(
        self, session: AsyncSession, world: World
    ) -> None:
        """B invited to P (not yet accepted): no partnership, no application of P, only the
        invitation; accepted, it sees P and P's application."""
        partnership_id = world.apps["by-P"].partnership_id
        invitation = PartnershipMember(
            partnership_id=partnership_id,
            organisation_id=world.orgs["B"].id,
            role=MemberRole.PARTNER,
            status=MemberStatus.INVITED,
        )
        session.add(invitation)
        await session.flush()
        b = user(Role.APPLICANT, world.orgs["B"].id)

        async def memberships(principal: Principal) -> set[str]:
            found = set(
                await session.scalars(
                    select(PartnershipMember.organisation_id).where(
                        visibility.memberships(principal)
                    )
                )
            )
            return {name for name, org in world.orgs.items() if org.id in found}

        assert await visible_apps(session, world, b) == {"by-B"}
        assert (
            list(await session.scalars(select(Partnership.id).where(visibility.partnerships(b))))
            == []
        )
        assert await memberships(b) == {"B"}
        # The partnership's accepted members see the invitation (who is pending).
        assert await memberships(user(Role.APPLICANT, world.orgs["C"].id)) == {"A", "B", "C"}
        invitation.status = MemberStatus.ACCEPTED
        await session.flush()
        assert await visible_apps(session, world, b) == {"by-B", "by-P"}
        assert await memberships(b) == {"A", "B", "C"}

    async def test_allocations_active_are_public_revoked_are_not(
        self, session: AsyncSession, world: World
    ) -> None:
        async def seen(principal: Principal) -> set[str]:
            ids = set(
                await session.scalars(
                    select(Allocation.id).where(visibility.allocations(principal))
                )
            )
            return {name for name, a in world.allocations.items() if a.id in ids}

        anonymous = Principal(kind="anonymous")
        assert await seen(anonymous) == {"A-active"}
        assert await seen(client(world.orgs["C"].id)) == {"A-active"}
        assert await seen(user(Role.APPLICANT, world.orgs["B"].id)) == {"A-active", "B-revoked"}
        assert await seen(user(Role.OFFICER)) == {"A-active", "B-revoked"}
