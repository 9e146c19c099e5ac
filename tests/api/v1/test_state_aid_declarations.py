"""State-aid declarations (issue 16), on both databases: an organisation's linked
undertakings and its aid from other sources, seen and written as the organisation is, and
counted towards the de minimis ceiling at its exact boundary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import DeMinimisRegulation
from app.models import AuditEvent, Organisation, StateAidDeclaration
from app.services.de_minimis import period
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import allocate, grant, problem
from tests.api.v1.test_de_minimis import _apps, _today, _world

R2023 = DeMinimisRegulation.R2023_2831


def _path(organisation: Organisation) -> str:
    return f"/api/v1/organisations/{organisation.id}/state-aid-declarations"


async def _applicant(
    session: AsyncSession, settings: Settings, n: int
) -> tuple[Organisation, Actor]:
    organisation = await make_organisation(session, name=f"Impresa {n}", tax_code=tax_code(600 + n))
    user = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[organisation.id])
    return organisation, user


def _aid(amount: str, day: Any, regulation: str = "2023/2831") -> dict[str, str]:
    return {
        "kind": "other_aid",
        "amount": amount,
        "granted_on": day.isoformat(),
        "granting_body": "Camera di commercio di Torino",
        "regulation": regulation,
    }


async def _declarations(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(StateAidDeclaration)) or 0)


class TestDeclarations:
    async def test_declared_read_and_listed_by_its_own_and_the_region_only(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        officer: Actor,
    ) -> None:
        firm, user = await _applicant(session, settings, 1)
        other, stranger = await _applicant(session, settings, 2)
        link = {"kind": "linked_undertaking", "linked_tax_code": other.tax_code}
        made = await client.post(_path(firm), json=link, headers=user.headers)
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["kind"], body["linked_tax_code"], body["amount"]) == (
            "linked_undertaking",
            other.tax_code,
            None,
        )
        assert made.headers["location"].endswith(body["id"])
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "state_aid_declaration.create")
        )
        assert event is not None
        aid = await client.post(_path(firm), json=_aid("1000.00", _today()), headers=user.headers)
        assert aid.status_code == 201, aid.text
        assert aid.json()["amount"] == "1000.00"
        for reader in (user, officer):
            listed = (await client.get(_path(firm), headers=reader.headers)).json()["items"]
            assert [d["kind"] for d in listed] == ["linked_undertaking", "other_aid"]
            one = await client.get(f"{_path(firm)}/{body['id']}", headers=reader.headers)
            assert one.status_code == 200
            assert "etag" in one.headers
        kinds = await client.get(_path(firm), params={"kind": "other_aid"}, headers=user.headers)
        assert [d["kind"] for d in kinds.json()["items"]] == ["other_aid"]
        # Another organisation's declarations are as absent as a missing one's.
        problem(await client.get(_path(firm), headers=stranger.headers), 404, "not_found")
        problem(
            await client.get(f"{_path(firm)}/{body['id']}", headers=stranger.headers),
            404,
            "not_found",
        )
        before = await _declarations(session)
        problem(
            await client.post(_path(firm), json=_aid("1.00", _today()), headers=stranger.headers),
            404,
            "not_found",
        )
        # The region reads them; it does not declare for an undertaking.
        r = await client.post(_path(firm), json=_aid("1.00", _today()), headers=officer.headers)
        assert r.status_code == 403
        assert await _declarations(session) == before

    @pytest.mark.parametrize(
        "body",
        [
            {"kind": "linked_undertaking"},
            {"kind": "linked_undertaking", "linked_tax_code": "02843860013"},  # check digit
            {"kind": "linked_undertaking", "linked_tax_code": "02843860012", "amount": "1.00"},
            {"kind": "other_aid", "amount": "1.00", "granted_on": "2025-01-01"},
            {
                "kind": "other_aid",
                "amount": "0.00",
                "granted_on": "2025-01-01",
                "granting_body": "CCIAA",
                "regulation": "2023/2831",
            },
            {
                "kind": "other_aid",
                "amount": "1.00",
                "granted_on": "2025-01-01",
                "granting_body": "CCIAA",
                "regulation": "1998/2006",
            },
        ],
    )
    async def test_malformed_is_422_and_writes_nothing(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        body: dict[str, str],
    ) -> None:
        firm, user = await _applicant(session, settings, 1)
        problem(
            await client.post(_path(firm), json=body, headers=user.headers), 422, "validation_error"
        )
        assert await _declarations(session) == 0

    async def test_a_link_to_itself_or_twice_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        firm, user = await _applicant(session, settings, 1)
        own = {"kind": "linked_undertaking", "linked_tax_code": firm.tax_code}
        problem(
            await client.post(_path(firm), json=own, headers=user.headers), 422, "invalid_input"
        )
        link = {"kind": "linked_undertaking", "linked_tax_code": tax_code(700)}
        assert (await client.post(_path(firm), json=link, headers=user.headers)).status_code == 201
        problem(await client.post(_path(firm), json=link, headers=user.headers), 409, "conflict")
        assert await _declarations(session) == 1


class TestCounted:
    async def test_aid_from_other_sources_counts_within_the_period(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        officer: Actor,
    ) -> None:
        world = await _world(session, R2023)
        firm, user = await _applicant(session, settings, 1)
        first_day = period(R2023, _today()).first_day
        for declared in (_aid("100000.00", first_day), _aid("50000.00", first_day - timedelta(1))):
            r = await client.post(_path(firm), json=declared, headers=user.headers)
            assert r.status_code == 201, r.text
        first, second = await _apps(session, world, firm, 2, 200_001)
        body = problem(
            await grant(client, officer, first.id, "200000.01"), 409, "de_minimis_ceiling"
        )
        # The day before the period is out: only the 100,000 counts.
        assert (body["granted"], body["declared"], body["counted"]) == (
            "0.00",
            "100000.00",
            "100000.00",
        )
        await allocate(client, officer, first.id, "200000.00")  # exactly the ceiling
        problem(await grant(client, officer, second.id, "0.01"), 409, "de_minimis_ceiling")

    async def test_linked_undertakings_share_one_ceiling_either_way(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        officer: Actor,
    ) -> None:
        world = await _world(session, R2023)
        firm, user = await _applicant(session, settings, 1)
        sister, _ = await _applicant(session, settings, 2)
        [of_sister] = await _apps(session, world, sister, 1, 250_000)
        await allocate(client, officer, of_sister.id, "250000.00")
        [own] = await _apps(session, world, firm, 1, 60_000)
        await allocate(client, officer, own.id, "50000.01")  # not linked yet: its own ceiling
        link = {"kind": "linked_undertaking", "linked_tax_code": sister.tax_code}
        assert (await client.post(_path(firm), json=link, headers=user.headers)).status_code == 201
        # Declared by the firm, the link counts for both: 300,000.01 together now.
        [more] = await _apps(session, world, firm, 1, 1_000)
        body = problem(await grant(client, officer, more.id, "0.01"), 409, "de_minimis_ceiling")
        assert body["counted"] == "300000.01"
        assert sorted(body["undertaking"]) == sorted([str(firm.id), str(sister.id)])
        [of_sister_more] = await _apps(session, world, sister, 1, 1_000)
        problem(await grant(client, officer, of_sister_more.id, "0.01"), 409, "de_minimis_ceiling")
