"""Partnership members consent (issue 12, item 1): naming an organisation invites it; it is a
member only once one of its own users (or the region, with a recorded reason) accepts.
Until then it counts for no participation limit, freezes nothing, sees nothing but the
invitation, and the partnership cannot submit. An id reveals nothing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus, LegalNature, MemberStatus
from app.models import (
    Application,
    AuditEvent,
    CallParticipationLimit,
    Measure,
    Organisation,
    PartnershipMember,
)
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import Api, accept, invite, new_draft, new_partnership
from tests.world import (
    Budget,
    budget,
    open_window,
    partnership,
    partnership_application,
)

PARTNERSHIPS = "/api/v1/partnerships"
APPLICATIONS = "/api/v1/applications"


@dataclass
class Scene:
    api: Api
    world: Budget
    alice: Actor  # applicant of A, the lead
    carol: Actor  # applicant of C, invited by A
    bob: Actor  # applicant of B, unrelated
    officer: Actor
    a: Organisation
    b: Organisation
    c: Organisation
    partnership: str  # led by A, C invited (not yet accepted)
    member_path: str  # C's invitation
    application: str  # the partnership's draft


@pytest.fixture
async def scene(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Scene:
    world = await budget(session, total=1_000_000)
    await session.execute(update(Measure).values(applicant_forms=["partnership"]))
    open_window(session, world)
    a = await make_organisation(session, name="Cooperativa A", tax_code=tax_code(21))
    b = await make_organisation(session, name="Cooperativa B", tax_code=tax_code(22))
    c = await make_organisation(session, name="Associazione C", tax_code=tax_code(23))
    alice = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[a.id])
    bob = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[b.id])
    carol = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[c.id])
    officer = await user_actor(session, settings, Role.OFFICER)
    api = Api(client)
    made = await new_partnership(api, alice, a.id, name="ATS Valle")
    invited = await invite(api, made["id"], alice, c.tax_code)
    assert (invited["organisation_id"], invited["status"]) == (str(c.id), "invited")
    application = await new_draft(
        api,
        alice,
        world.call.id,
        title="Progetto della valle",
        total_cost="1000.00",
        requested="800.00",
        partnership_id=made["id"],
    )
    return Scene(
        api,
        world,
        alice,
        carol,
        bob,
        officer,
        a,
        b,
        c,
        made["id"],
        f"{PARTNERSHIPS}/{made['id']}/members/{c.id}",
        f"{APPLICATIONS}/{application['id']}",
    )


async def _status(client: httpx.AsyncClient, path: str, actor: Actor) -> int:
    return (await client.get(path, headers=actor.headers)).status_code


async def _events(session: AsyncSession, action: str) -> list[AuditEvent]:
    return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


class TestInvitation:
    async def test_the_invited_sees_the_invitation_and_nothing_else(
        self, client: httpx.AsyncClient, scene: Scene
    ) -> None:
        carol = scene.carol
        assert await _status(client, f"{PARTNERSHIPS}/{scene.partnership}", carol) == 404
        assert await _status(client, scene.application, carol) == 404
        listed = await scene.api.read(APPLICATIONS, carol)
        assert listed["items"] == []
        assert (await scene.api.read(PARTNERSHIPS, carol))["items"] == []
        by_member = await scene.api.read(f"{APPLICATIONS}?organisation_id={scene.c.id}", carol)
        assert by_member["items"] == []
        # The invitation itself: the partnership's name and who invited, nothing more.
        invitation = await scene.api.read(scene.member_path, carol)
        assert invitation == {
            "partnership_id": scene.partnership,
            "partnership_name": "ATS Valle",
            "partnership_form": "ats_to_be_formed",
            "invited_by_organisation_id": str(scene.a.id),
            "invited_by_organisation_name": "Cooperativa A",
            "organisation_id": str(scene.c.id),
            "role": "partner",
            "status": "invited",
        }
        pending = await scene.api.read(f"/api/v1/organisations/{scene.c.id}/invitations", carol)
        assert pending["items"] == [invitation]
        # Accepted, it is a member: it sees the partnership and its application.
        await accept(scene.api, scene.partnership, str(scene.c.id), carol)
        assert await _status(client, f"{PARTNERSHIPS}/{scene.partnership}", carol) == 200
        assert await _status(client, scene.application, carol) == 200
        assert len((await scene.api.read(APPLICATIONS, carol))["items"]) == 1
        after = await scene.api.read(f"/api/v1/organisations/{scene.c.id}/invitations", carol)
        assert after["items"] == []

    async def test_the_lead_sees_the_pending_member(self, scene: Scene) -> None:
        read = await scene.api.read(f"{PARTNERSHIPS}/{scene.partnership}", scene.alice)
        assert read["members"] == [
            {"organisation_id": str(scene.a.id), "role": "lead", "status": "accepted"},
            {"organisation_id": str(scene.c.id), "role": "partner", "status": "invited"},
        ]

    async def test_nobody_else_sees_or_answers_the_invitation(
        self, client: httpx.AsyncClient, scene: Scene
    ) -> None:
        await scene.api.read(scene.member_path, scene.carol)
        etag = scene.api.etags[scene.member_path]
        assert await _status(client, scene.member_path, scene.bob) == 404
        assert (
            await _status(client, f"/api/v1/organisations/{scene.c.id}/invitations", scene.bob)
            == 404
        )
        for action in ("accept", "decline"):
            response = await client.post(
                f"{scene.member_path}/{action}",
                json={},
                headers={**scene.bob.headers, "If-Match": etag},
            )
            assert response.status_code == 404, response.text
            # The lead sees its invitation but cannot answer it for the invited.
            response = await client.post(
                f"{scene.member_path}/{action}",
                json={},
                headers={**scene.alice.headers, "If-Match": etag},
            )
            assert response.status_code == 403, response.text
        assert (await scene.api.read(scene.member_path, scene.carol))["status"] == "invited"

    async def test_an_answer_needs_if_match(self, client: httpx.AsyncClient, scene: Scene) -> None:
        response = await client.post(
            f"{scene.member_path}/accept", json={}, headers=scene.carol.headers
        )
        assert response.status_code == 428
        response = await client.post(
            f"{scene.member_path}/accept",
            json={},
            headers={**scene.carol.headers, "If-Match": '"stale"'},
        )
        assert response.status_code == 412

    async def test_declining_removes_the_invitation_on_the_record(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        await scene.api.act(scene.member_path, "decline", scene.carol, expect=204)
        assert await _status(client, scene.member_path, scene.carol) == 404
        read = await scene.api.read(f"{PARTNERSHIPS}/{scene.partnership}", scene.alice)
        assert [m["organisation_id"] for m in read["members"]] == [str(scene.a.id)]
        (event,) = await _events(session, "partnership.decline")
        assert (event.actor_id, event.entity_id) == (str(scene.carol.id), scene.partnership)
        before = json.loads(event.before or "{}")["members"]
        assert {"organisation_id": str(scene.c.id), "role": "partner", "status": "invited"} in (
            before
        )
        # Declined, it cannot be accepted any more.
        assert await _status(client, scene.member_path, scene.officer) == 404

    async def test_the_lead_withdraws_an_invitation(
        self, session: AsyncSession, scene: Scene
    ) -> None:
        path = f"{PARTNERSHIPS}/{scene.partnership}"
        changed = await scene.api.patch(path, scene.alice, {"partner_organisation_ids": []})
        assert [m["organisation_id"] for m in changed["members"]] == [str(scene.a.id)]
        (event,) = await _events(session, "partnership.update")
        assert json.loads(event.after or "{}")["members"] == [
            {"organisation_id": str(scene.a.id), "role": "lead", "status": "accepted"}
        ]

    async def test_a_kept_member_keeps_its_consent(self, scene: Scene) -> None:
        """Re-sending the partner list changes nobody's status (no accept by the back door,
        no reset of an acceptance)."""
        path = f"{PARTNERSHIPS}/{scene.partnership}"
        body = {"partner_organisation_ids": [str(scene.c.id)]}
        assert (await scene.api.patch(path, scene.alice, body))["members"][1]["status"] == (
            "invited"
        )
        await accept(scene.api, scene.partnership, str(scene.c.id), scene.carol)
        assert (await scene.api.patch(path, scene.alice, body))["members"][1]["status"] == (
            "accepted"
        )

    async def test_inviting_twice_or_an_unregistered_tax_code(self, scene: Scene) -> None:
        members = f"{PARTNERSHIPS}/{scene.partnership}/members"
        again = await scene.api.call(
            "POST", members, scene.alice, json={"tax_code": scene.c.tax_code}, expect=409
        )
        assert again["rule"] == "conflict"
        missing = await scene.api.call(
            "POST", members, scene.alice, json={"tax_code": tax_code(99)}, expect=404
        )
        assert missing["rule"] == "not_found"
        # An invited member cannot invite: only the lead's users (or an administrator).
        await scene.api.call(
            "POST", members, scene.carol, json={"tax_code": scene.b.tax_code}, expect=404
        )

    async def test_own_organisations_join_at_once(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, scene: Scene
    ) -> None:
        second = await make_organisation(session, name="Cooperativa A2", tax_code=tax_code(24))
        third = await make_organisation(session, name="Cooperativa A3", tax_code=tax_code(25))
        both = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[scene.a.id, second.id, third.id]
        )
        made = await new_partnership(
            scene.api, both, scene.a.id, name="ATS A", form="network", partners=[second.id]
        )
        assert [m["status"] for m in made["members"]] == ["accepted", "accepted"]
        by_tax_code = await invite(scene.api, made["id"], both, third.tax_code)
        assert by_tax_code["status"] == "accepted"


class TestNoExistenceLeak:
    """An id of another party's organisation gets the very answer an unknown id gets; other
    organisations are invited by their public tax code."""

    @staticmethod
    def _same(one: httpx.Response, other: httpx.Response, ids: tuple[str, str]) -> None:
        assert (one.status_code, other.status_code) == (404, 404)
        assert one.headers["content-type"] == other.headers["content-type"]
        first, second = one.json(), other.json()
        first.pop("request_id", None), second.pop("request_id", None)
        first.pop("instance", None), second.pop("instance", None)
        assert json.dumps(first).replace(ids[0], "X") == json.dumps(second).replace(ids[1], "X")

    async def test_on_forming(self, client: httpx.AsyncClient, scene: Scene) -> None:
        answers = []
        ids = (str(uuid.uuid4()), str(scene.b.id))
        for partner in ids:
            answers.append(
                await client.post(
                    PARTNERSHIPS,
                    headers=scene.alice.headers,
                    json={
                        "name": "ATS",
                        "form": "network",
                        "lead_organisation_id": str(scene.a.id),
                        "partner_organisation_ids": [partner],
                    },
                )
            )
        self._same(answers[0], answers[1], ids)

    async def test_on_changing_the_partners(self, client: httpx.AsyncClient, scene: Scene) -> None:
        path = f"{PARTNERSHIPS}/{scene.partnership}"
        answers = []
        ids = (str(uuid.uuid4()), str(scene.b.id))
        for partner in ids:
            await scene.api.read(path, scene.alice)
            answers.append(
                await client.patch(
                    path,
                    headers={**scene.alice.headers, "If-Match": scene.api.etags[path]},
                    json={"partner_organisation_ids": [str(scene.c.id), partner]},
                )
            )
        self._same(answers[0], answers[1], ids)
        # Nothing changed.
        read = await scene.api.read(path, scene.alice)
        assert [m["organisation_id"] for m in read["members"]] == [str(scene.a.id), str(scene.c.id)]


class TestSubmission:
    async def test_waits_for_every_member_to_accept(
        self, session: AsyncSession, scene: Scene
    ) -> None:
        refused = await scene.api.act(scene.application, "submit", scene.alice, expect=409)
        assert refused["rule"] == "partnership_member_not_accepted"
        assert refused["pending_organisation_ids"] == [str(scene.c.id)]
        assert (await scene.api.read(scene.application, scene.alice))["status"] == "draft"
        await accept(scene.api, scene.partnership, str(scene.c.id), scene.carol)
        submitted = await scene.api.act(scene.application, "submit", scene.alice)
        assert submitted["status"] == "submitted"
        # Submitted, the members are frozen: no new invitation.
        frozen = await scene.api.call(
            "POST",
            f"{PARTNERSHIPS}/{scene.partnership}/members",
            scene.alice,
            json={"tax_code": scene.b.tax_code},
            expect=409,
        )
        assert "frozen" in frozen["detail"]


class TestRegionAcceptance:
    async def test_needs_a_reason_and_is_audited(
        self, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
    ) -> None:
        refused = await scene.api.act(scene.member_path, "accept", scene.officer, expect=422)
        assert refused["rule"] == "reason_required"
        assert (await scene.api.read(scene.member_path, scene.carol))["status"] == "invited"
        assert await _events(session, "partnership.accept") == []
        reason = "Lettera di adesione firmata, prot. 1234/2026."
        accepted = await scene.api.act(
            scene.member_path, "accept", scene.officer, json={"reason": reason}
        )
        assert accepted["status"] == "accepted"
        (event,) = await _events(session, "partnership.accept")
        assert (event.actor_type, event.actor_id) == ("user", str(scene.officer.id))
        assert (event.entity_type, event.entity_id, event.reason) == (
            "partnership",
            scene.partnership,
            reason,
        )
        statuses = [
            {m["organisation_id"]: m["status"] for m in json.loads(state or "{}")["members"]}[
                str(scene.c.id)
            ]
            for state in (event.before, event.after)
        ]
        assert statuses == ["invited", "accepted"]

    async def test_the_region_declines_with_a_reason_too(self, scene: Scene) -> None:
        refused = await scene.api.act(scene.member_path, "decline", scene.officer, expect=422)
        assert refused["rule"] == "reason_required"
        await scene.api.act(
            scene.member_path,
            "decline",
            scene.officer,
            json={"reason": "Ente cessato."},
            expect=204,
        )

    async def test_an_accepted_membership_is_not_accepted_again(self, scene: Scene) -> None:
        await accept(scene.api, scene.partnership, str(scene.c.id), scene.carol)
        again = await scene.api.act(scene.member_path, "accept", scene.carol, expect=409)
        assert (again["rule"], again["current_status"]) == ("conflict", "accepted")
        declined = await scene.api.act(scene.member_path, "decline", scene.carol, expect=409)
        assert declined["rule"] == "conflict"


class TestInvitedCountsForNothing:
    """Each predicate on its own: a live application with an invited member (which the
    submission rule no longer lets happen, arranged here directly) neither takes the
    invited organisation's participation slot nor freezes its details; the same with the
    member accepted does both."""

    async def _live_with(
        self,
        session: AsyncSession,
        world: Budget,
        member: Organisation,
        n: int,
        status: MemberStatus,
    ) -> None:
        lead = await make_organisation(session, name=f"Capofila {n}", tax_code=tax_code(600 + n))
        kwargs: dict[str, Any] = {"invited": (member,)} if status is MemberStatus.INVITED else {}
        partners = () if status is MemberStatus.INVITED else (member,)
        formed = await partnership(session, lead, *partners, **kwargs)
        await partnership_application(session, world, formed, status=ApplicationStatus.SUBMITTED)

    @pytest.mark.parametrize("status", [MemberStatus.INVITED, MemberStatus.ACCEPTED])
    async def test_the_fse1_participation_slot(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        status: MemberStatus,
    ) -> None:
        world = await budget(session, total=1_000_000)
        open_window(session, world)
        session.add(
            CallParticipationLimit(
                id=uuid.uuid4(),
                call_id=world.call.id,
                legal_nature=LegalNature.THIRD_SECTOR_ORGANISATION,
                max_projects=2,
            )
        )
        third = await make_organisation(session, name="Volontari", tax_code=tax_code(610))
        for n in (1, 2):
            await self._live_with(session, world, third, n, status)
        own = Application(
            id=uuid.uuid4(),
            call_id=world.call.id,
            measure_id=world.measure.id,
            applicant_organisation_id=third.id,
            title="Progetto proprio",
            description="-",
            total_cost=Decimal(1_000),
            requested=Decimal(1_000),
            stage="single",
            status=ApplicationStatus.DRAFT,
        )
        session.add(own)
        await session.flush()
        admin = await user_actor(session, settings, Role.ADMINISTRATOR)
        api = Api(client)
        path = f"{APPLICATIONS}/{own.id}"
        if status is MemberStatus.INVITED:
            assert (await api.act(path, "submit", admin))["status"] == "submitted"
        else:
            refused = await api.act(path, "submit", admin, expect=409)
            assert (refused["rule"], refused["taken"], refused["cap"]) == (
                "participation_limit",
                2,
                2,
            )

    @pytest.mark.parametrize("status", [MemberStatus.INVITED, MemberStatus.ACCEPTED])
    async def test_the_freeze_of_eligibility_details(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        status: MemberStatus,
    ) -> None:
        world = await budget(session, total=1_000_000)
        member = await make_organisation(session, name="Volontari", tax_code=tax_code(620))
        await self._live_with(session, world, member, 1, status)
        admin = await user_actor(session, settings, Role.ADMINISTRATOR)
        api = Api(client)
        path = f"/api/v1/organisations/{member.id}"
        if status is MemberStatus.INVITED:
            assert (await api.patch(path, admin, {"legal_nature": "foundation"}))[
                "legal_nature"
            ] == "foundation"
        else:
            refused = await api.patch(path, admin, {"legal_nature": "foundation"}, expect=409)
            assert refused["rule"] == "organisation_in_live_application"

    async def test_the_invited_sees_no_live_application(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await budget(session, total=1_000_000)
        invited = await make_organisation(session, name="Volontari", tax_code=tax_code(630))
        await self._live_with(session, world, invited, 1, MemberStatus.INVITED)
        user = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[invited.id])
        api = Api(client)
        assert (await api.read(APPLICATIONS, user))["items"] == []
        assert (await api.read(PARTNERSHIPS, user))["items"] == []
        await session.execute(
            update(PartnershipMember)
            .where(PartnershipMember.organisation_id == invited.id)
            .values(status=MemberStatus.ACCEPTED)
        )
        assert len((await api.read(APPLICATIONS, user))["items"]) == 1
        assert len((await api.read(PARTNERSHIPS, user))["items"]) == 1
