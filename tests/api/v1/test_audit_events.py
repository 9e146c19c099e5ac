"""GET /api/v1/audit-events: its filters select what they say, its cursor walks the whole
trail once, and a time bound is an instant (a date-time with its offset) or a 422."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.services.paging import encode_cursor
from tests.actors import Actor, tax_code, user_actor
from tests.api.v1.flows import Api, organisation

EVENTS = "/api/v1/audit-events"


async def listed(client: httpx.AsyncClient, admin: Actor, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(EVENTS, params={"limit": 100, **params}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None, "more than one page: raise the limit"
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def seqs(items: list[dict[str, Any]]) -> list[int]:
    return [int(item["seq"]) for item in items]


class Trail:
    """Two organisations by two users, one updated, a pause between the two creations."""

    def __init__(self, admin: Actor, applicant: Actor, first: str, second: str) -> None:
        self.admin, self.applicant = admin, applicant
        self.first, self.second = first, second


@pytest.fixture
async def trail(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Trail:
    admin = await user_actor(session, settings, Role.ADMINISTRATOR)
    applicant = await user_actor(session, settings, Role.APPLICANT)
    api = Api(client)
    first = await organisation(api, applicant, "Coop Prima", tax_code(31))
    await api.patch(f"/api/v1/organisations/{first['id']}", applicant, {"legal_name": "Coop Uno"})
    await asyncio.sleep(0.01)  # the second creation at a later instant than every event before
    second = await organisation(api, admin, "Fondazione Seconda", tax_code(32))
    return Trail(admin, applicant, first["id"], second["id"])


class TestFilters:
    async def test_actor(self, client: httpx.AsyncClient, trail: Trail) -> None:
        mine = await listed(client, trail.admin, actor_id=str(trail.applicant.id))
        assert [(e["action"], e["entity_id"]) for e in mine] == [
            ("organisation.create", trail.first),
            ("organisation.update", trail.first),
        ]
        assert {e["actor_id"] for e in mine} == {str(trail.applicant.id)}
        theirs = await listed(client, trail.admin, actor_id=str(trail.admin.id))
        assert [(e["action"], e["entity_id"]) for e in theirs] == [
            ("organisation.create", trail.second)
        ]

    async def test_action(self, client: httpx.AsyncClient, trail: Trail) -> None:
        updates = await listed(client, trail.admin, action="organisation.update")
        assert [(e["action"], e["entity_id"]) for e in updates] == [
            ("organisation.update", trail.first)
        ]
        everything = await listed(client, trail.admin)
        assert len(everything) > len(updates)

    async def test_entity(self, client: httpx.AsyncClient, trail: Trail) -> None:
        one = await listed(client, trail.admin, entity_type="organisation", entity_id=trail.first)
        assert [e["action"] for e in one] == ["organisation.create", "organisation.update"]
        assert {(e["entity_type"], e["entity_id"]) for e in one} == {("organisation", trail.first)}
        users = await listed(client, trail.admin, entity_type="user")
        assert users
        assert {e["entity_type"] for e in users} == {"user"}
        assert await listed(client, trail.admin, entity_type="organisation", entity_id="nope") == []

    async def test_since_is_inclusive_and_until_exclusive(
        self, client: httpx.AsyncClient, trail: Trail
    ) -> None:
        everything = await listed(client, trail.admin)
        second = next(e for e in everything if e["entity_id"] == trail.second)
        instant = second["occurred_at"]
        earlier = [e for e in everything if e["seq"] < second["seq"]]
        assert earlier
        assert all(at(e) < at(second) for e in earlier)
        assert seqs(await listed(client, trail.admin, since=instant)) == [second["seq"]]
        assert seqs(await listed(client, trail.admin, until=instant)) == seqs(earlier)
        assert await listed(client, trail.admin, since=instant, until=instant) == []

    async def test_an_offset_names_the_same_instant(
        self, client: httpx.AsyncClient, trail: Trail
    ) -> None:
        everything = await listed(client, trail.admin)
        second = next(e for e in everything if e["entity_id"] == trail.second)
        utc = at(second)
        in_rome = utc.astimezone(timezone(timedelta(hours=2))).isoformat()
        assert "+02:00" in in_rome
        assert seqs(await listed(client, trail.admin, since=in_rome)) == [second["seq"]]

    async def test_the_cursor_walks_every_event_once_in_order(
        self, client: httpx.AsyncClient, trail: Trail
    ) -> None:
        everything = seqs(await listed(client, trail.admin))
        assert len(everything) >= 5
        walked: list[int] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(EVENTS, params=params, headers=trail.admin.headers)).json()
            assert len(page["items"]) <= 2
            walked += seqs(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == everything == sorted(everything)

    async def test_the_cursor_keeps_the_filters(
        self, client: httpx.AsyncClient, trail: Trail
    ) -> None:
        first = (
            await client.get(
                EVENTS,
                params={"limit": 1, "actor_id": str(trail.applicant.id)},
                headers=trail.admin.headers,
            )
        ).json()
        assert [e["action"] for e in first["items"]] == ["organisation.create"]
        rest = await listed(
            client, trail.admin, actor_id=str(trail.applicant.id), cursor=first["next_cursor"]
        )
        assert [e["action"] for e in rest] == ["organisation.update"]


NOT_INSTANTS = (
    "2025-01-01T00:00:00",  # no offset: which zone?
    "2025-01-01T00:00:00.123456",
    "2025-01-01",  # a day is not an instant either
    "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-14:00",  # after year 9999 once in UTC
    "1735689600",  # a Unix timestamp
    "yesterday",
)
INSTANTS = (
    "2025-01-01T00:00:00Z",
    "2025-01-01T00:00:00+00:00",
    "2025-01-01T01:00:00+01:00",
    "2024-12-31T19:00:00.5-05:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
)


class TestInstants:
    @pytest.mark.parametrize("bound", ["since", "until"])
    async def test_a_value_that_is_not_an_instant_is_a_422_problem(
        self, client: httpx.AsyncClient, admin: Actor, bound: str
    ) -> None:
        for value in NOT_INSTANTS:
            response = await client.get(EVENTS, params={bound: value}, headers=admin.headers)
            assert response.status_code == 422, (value, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["loc"] for e in response.json()["errors"]] == [["query", bound]]

    @pytest.mark.parametrize("bound", ["since", "until"])
    async def test_an_instant_with_its_offset_is_accepted(
        self, client: httpx.AsyncClient, admin: Actor, bound: str
    ) -> None:
        for value in INSTANTS:
            response = await client.get(EVENTS, params={bound: value}, headers=admin.headers)
            assert response.status_code == 200, (value, response.text)

    async def test_every_event_is_since_2025_and_none_until_then(
        self, client: httpx.AsyncClient, trail: Trail
    ) -> None:
        everything = await listed(client, trail.admin)
        assert await listed(client, trail.admin, since="2025-01-01T00:00:00Z") == everything
        assert await listed(client, trail.admin, until="2025-01-01T00:00:00+01:00") == []


class TestCursor:
    async def test_a_forged_cursor_is_a_422_problem(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        # Beyond BIGINT the driver would fail (SQLite: OverflowError, a 500).
        for key in (str(2**63), str(10**30), "-1", "1.5", "seq"):
            response = await client.get(
                EVENTS, params={"cursor": encode_cursor(key)}, headers=admin.headers
            )
            assert response.status_code == 422, (key, response.text)
            assert response.headers["content-type"] == "application/problem+json"

    async def test_the_largest_sequence_number_is_an_empty_page(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        response = await client.get(
            EVENTS, params={"cursor": encode_cursor(2**63 - 1)}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
