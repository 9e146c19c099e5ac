"""A grant's lists for the frontends (issue 16): its expenditure claims, its payments, a
loan's repayments and a recovery's receipts. Each is paged the house way (oldest first,
``limit`` and an opaque ``cursor``) and seen by whoever may read its records one by one:
the region and the beneficiary's users; to anyone else the parent is 404, as a missing one.
On both databases."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from tests.actors import user_actor
from tests.api.v1.flows import problem
from tests.api.v1.test_mixed_instrument import _backdate, _repay
from tests.api.v1.test_payments import Desk, _desk, line
from tests.api.v1.test_recoveries import _only_recovery, _recover, _reduce
from tests.statements import counting, queries
from tests.world import funded, mixed


async def _pages(desk: Desk, path: str, actor: str = "beneficiary") -> list[list[dict[str, Any]]]:
    """Every page of ``path`` one item at a time, following the cursors to the end."""
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, str | int] = {"limit": 1}
    while True:
        read = await desk.client.get(path, params=params, headers=desk.people[actor].headers)
        assert read.status_code == 200, read.text
        body = read.json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            return pages
        params = {"limit": 1, "cursor": body["next_cursor"]}


async def _seen_by_its_readers_only(desk: Desk, path: str, ids: list[str]) -> None:
    """The region and the beneficiary read the same list; another applicant's user gets
    404, as for a missing parent; a cursor that is not the list's is a 422."""
    for actor in ("beneficiary", "payer"):
        read = await desk.client.get(path, headers=desk.people[actor].headers)
        assert read.status_code == 200, read.text
        assert [item["id"] for item in read.json()["items"]] == ids, actor
        assert read.json()["next_cursor"] is None
    problem(await desk.client.get(path, headers=desk.people["stranger"].headers), 404, "not_found")
    problem(await desk.client.get(path), 401, "unauthenticated")
    bad = await desk.client.get(
        path, params={"cursor": "bm90LWEta2V5"}, headers=desk.people["payer"].headers
    )
    problem(bad, 422, "invalid_input")


def _missing(path: str) -> str:
    """``path`` with its parent's id replaced by one that exists nowhere."""
    parts = path.split("/")
    parts[4] = str(uuid.uuid4())
    return "/".join(parts)


@pytest.fixture
async def accepted(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Desk:
    desk = await _desk(client, session, settings)
    assert (await desk.accept()).status_code == 200
    return desk


class TestClaims:
    async def test_a_grant_s_claims_oldest_first_with_their_lines_paged(
        self, accepted: Desk
    ) -> None:
        first = await accepted.submitted(line("1000.00"), line("500.00", "services"))
        draft = await accepted.claim(line("250.00"))
        assert draft.status_code == 201, draft.text
        path = f"{accepted.allocation}/claims"
        pages = await _pages(accepted, path)
        assert [[item["id"] for item in page] for page in pages] == [
            [first.rsplit("/", 1)[1]],
            [draft.json()["id"]],
        ]
        (submitted,), (drafted,) = pages
        assert (submitted["status"], submitted["amount"], submitted["line_count"]) == (
            "submitted",
            "1500.00",
            2,
        )
        assert [(li["number"], li["amount"]) for li in submitted["lines"]] == [
            (1, "1000.00"),
            (2, "500.00"),
        ]
        assert (drafted["status"], [li["amount"] for li in drafted["lines"]]) == (
            "draft",
            ["250.00"],
        )
        # Each item is the claim as read one by one.
        one = await accepted.client.get(first, headers=accepted.people["beneficiary"].headers)
        assert one.json() == submitted
        ids = [submitted["id"], drafted["id"]]
        await _seen_by_its_readers_only(accepted, path, ids)
        problem(
            await accepted.client.get(_missing(path), headers=accepted.people["payer"].headers),
            404,
            "not_found",
        )

    async def test_a_page_s_lines_are_read_in_one_statement(
        self, accepted: Desk, connection: AsyncConnection
    ) -> None:
        for _ in range(3):
            await accepted.submitted(line("100.00"), line("200.00"), line("300.00"))
        path = f"{accepted.allocation}/claims"
        headers = accepted.people["payer"].headers
        with counting(connection) as statements:
            read = await accepted.client.get(path, headers=headers)
        assert read.status_code == 200, read.text
        assert [len(item["lines"]) for item in read.json()["items"]] == [3, 3, 3]
        line_reads = [q for q in queries(statements) if "FROM claim_line" in q.replace('"', "")]
        assert len(line_reads) == 1, line_reads

    async def test_nothing_filed_is_an_empty_page(self, accepted: Desk) -> None:
        read = await accepted.client.get(
            f"{accepted.allocation}/claims", headers=accepted.people["beneficiary"].headers
        )
        assert read.json() == {"items": [], "next_cursor": None, "total": None}


class TestPayments:
    async def test_a_grant_s_payments_oldest_first_paged(self, accepted: Desk) -> None:
        advance = await accepted.pay("advance", "30000.00")
        assert advance.status_code == 201, advance.text
        claim = await accepted.submitted(line("5000.00"))
        assert (await accepted.check(claim, 1, outcome="accepted")).status_code == 200
        interim = await accepted.pay("interim", "5000.00")
        assert interim.status_code == 201, interim.text
        path = f"{accepted.allocation}/payments"
        pages = await _pages(accepted, path)
        assert pages == [[advance.json()], [interim.json()]]
        assert [p[0]["kind"] for p in pages] == ["advance", "interim"]
        await _seen_by_its_readers_only(
            accepted, path, [advance.json()["id"], interim.json()["id"]]
        )
        problem(
            await accepted.client.get(_missing(path), headers=accepted.people["payer"].headers),
            404,
            "not_found",
        )


class TestRecoveryReceipts:
    async def test_a_recovery_s_receipts_oldest_first_paged(self, accepted: Desk) -> None:
        assert (await accepted.pay("advance", "30000.00")).status_code == 201
        reduced = await _reduce(accepted, "20000.00")
        assert reduced.status_code == 200, reduced.text
        recovery = await _only_recovery(accepted)
        path = f"/api/v1/recoveries/{recovery}/receipts"
        empty = await accepted.client.get(path, headers=accepted.people["beneficiary"].headers)
        assert empty.json()["items"] == []
        made = []
        for amount in ("4000.00", "6000.00"):
            response = await _recover(accepted, recovery, amount)
            assert response.status_code == 201, response.text
            made.append(response)
        pages = await _pages(accepted, path)
        assert [[(r["amount"], r["recovery_id"]) for r in page] for page in pages] == [
            [("4000.00", recovery)],
            [("6000.00", recovery)],
        ]
        received = pages[0][0]
        assert set(received) == {
            "id",
            "recovery_id",
            "amount",
            "received_on",
            "treasury_reference",
            "recorded_by",
            "created_at",
        }
        assert received["treasury_reference"].startswith("REV-")
        await _seen_by_its_readers_only(accepted, path, [p[0]["id"] for p in pages])
        problem(
            await accepted.client.get(_missing(path), headers=accepted.people["payer"].headers),
            404,
            "not_found",
        )


class TestLoanRepayments:
    async def test_a_loan_s_repayments_oldest_first_paged(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        world = await mixed(session, total=1_000_000, code="LREP")
        grant = await funded(session, grant=100_000, world=world)
        people = {
            "beneficiary": await user_actor(
                session, settings, Role.APPLICANT, organisation_ids=[grant.organisation_id]
            ),
            "stranger": await user_actor(session, settings, Role.APPLICANT),
            "payer": await user_actor(session, settings, Role.OFFICER),
        }
        desk = Desk(client, grant, people)
        allocation = str(grant.allocation.id)
        await _backdate(session, allocation, 500)
        made = []
        for instalment, amount in ((1, "100.00"), (5, "4515.76")):
            response = await _repay(client, people["payer"], allocation, instalment, amount)
            assert response.status_code == 201, response.text
            made.append(response.json())
        path = f"{desk.allocation}/loan/repayments"
        pages = await _pages(desk, path)
        assert pages == [[made[0]], [made[1]]]
        assert (made[1]["principal"], made[1]["late"]) == ("4253.26", True)
        await _seen_by_its_readers_only(desk, path, [r["id"] for r in made])
        problem(await client.get(_missing(path), headers=people["payer"].headers), 404, "not_found")

    async def test_a_grant_without_a_loan_has_no_repayments_to_list(self, accepted: Desk) -> None:
        read = await accepted.client.get(
            f"{accepted.allocation}/loan/repayments", headers=accepted.people["payer"].headers
        )
        problem(read, 404, "not_found")
