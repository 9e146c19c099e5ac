"""Revocation after payment (issue 16): total and partial revocations of a paid grant,
recoveries and the rule "the programme's available budget grows only by what was never
paid or has been recovered". Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal, Role
from app.core.config import Settings
from app.core.errors import IllegalTransition
from app.models import Allocation, AuditEvent, Call, Measure, PaymentTerms, Programme
from app.services import recoveries
from tests.api.v1.flows import problem
from tests.api.v1.test_payments import Desk, _clean, _desk
from tests.world import PAYMENT_TERMS, funded, mixed

D = Decimal


@pytest.fixture
async def accepted(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Desk:
    """A grant of 100,000.00 (payment terms: 30% advance, 90 recovery days), accepted."""
    desk = await _desk(client, session, settings)
    assert (await desk.accept()).status_code == 200
    return desk


async def _counters(session: AsyncSession, desk: Desk) -> list[tuple[Any, ...]]:
    """(allocated or amount, funded projects, paid, due, recovered) per row, allocation first."""
    grant = desk.grant
    found: list[tuple[Any, ...]] = []
    row: Any = await session.get(Allocation, grant.allocation.id, populate_existing=True)
    found.append((row.amount, None, row.paid, row.due, row.recovered))
    for model, key in (
        (Programme, grant.world.programme.id),
        (Measure, grant.world.measure.id),
        (Call, grant.world.call.id),
    ):
        row = await session.get(model, key, populate_existing=True)
        found.append((row.allocated, row.funded_projects, row.paid, row.due, row.recovered))
    return found


async def _revoke(desk: Desk) -> httpx.Response:
    headers = await desk.etag(desk.allocation, "payer")
    return await desk.client.post(
        f"{desk.allocation}/revoke", json={"reason": "Progetto abbandonato."}, headers=headers
    )


async def _reduce(desk: Desk, amount: str) -> httpx.Response:
    headers = await desk.etag(desk.allocation, "payer")
    body = {"amount": amount, "reason": "Parte del progetto abbandonata."}
    return await desk.client.post(f"{desk.allocation}/reduce", json=body, headers=headers)


async def _recover(
    desk: Desk, recovery: str, amount: str, actor: str = "payer", **extra: str
) -> httpx.Response:
    body = {
        "amount": amount,
        "received_on": clock.today().isoformat(),
        "treasury_reference": f"REV-{uuid.uuid4().hex[:10]}",
        **extra,
    }
    return await desk.client.post(
        f"/api/v1/recoveries/{recovery}/receipts", json=body, headers=desk.people[actor].headers
    )


async def _funding(desk: Desk) -> dict[str, Any]:
    """The funding position as the region reads it (a revoked grant is not public)."""
    read = await desk.client.get(f"{desk.allocation}/funding", headers=desk.people["payer"].headers)
    assert read.status_code == 200, read.text
    body: dict[str, Any] = read.json()
    return body


async def _only_recovery(desk: Desk) -> str:
    recoveries: list[str] = (await _funding(desk))["recoveries"]
    assert len(recoveries) == 1
    return recoveries[0]


class TestTotalRevocation:
    async def test_the_unpaid_part_returns_at_once_the_paid_part_when_recovered(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        """A grant of 100,000 with 30,000 paid, revoked: 70,000 returns to the caps at once
        (the project slot too); 30,000 stays held, due by the measure's recovery days; each
        amount recovered returns its part, never beyond what is due."""
        assert (await accepted.pay("advance", "30000.00")).status_code == 201
        response = await _revoke(accepted)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "revoked"
        paid, due = D("30000.00"), D("30000.00")
        held = (D("100000.00"), None, paid, due, D("0.00"))
        assert await _counters(session, accepted) == [held] + [(paid, 0, paid, due, 0)] * 3
        await _clean(session)
        recovery = await _only_recovery(accepted)
        path = f"/api/v1/recoveries/{recovery}"
        read = await accepted.client.get(path, headers=accepted.people["beneficiary"].headers)
        assert read.status_code == 200, read.text
        body = read.json()
        assert (body["due"], body["recovered"], body["outstanding"]) == (
            "30000.00",
            "0.00",
            "30000.00",
        )
        created = clock.day_of(datetime.fromisoformat(body["created_at"]))
        assert body["due_on"] == (created + timedelta(days=90)).isoformat()
        # Beyond what is due, by a cent: refused with the figures, nothing written.
        refused = problem(
            await _recover(accepted, recovery, "30000.01"), 409, "recovered_within_due"
        )
        assert (refused["due"], refused["available"]) == ("30000.00", "30000.00")
        made = await _recover(accepted, recovery, "29999.99")
        assert made.status_code == 201, made.text
        assert made.headers["location"] == path
        assert (made.json()["recovered"], made.json()["outstanding"]) == ("29999.99", "0.01")
        left = D("0.01")
        recovered = D("29999.99")
        assert (
            await _counters(session, accepted)
            == [(D("100000.00"), None, paid, due, recovered)]
            + [(left, 0, paid, due, recovered)] * 3
        )
        problem(await _recover(accepted, recovery, "0.02"), 409, "recovered_within_due")
        assert (await _recover(accepted, recovery, "0.01")).status_code == 201
        assert [c[0] for c in (await _counters(session, accepted))[1:]] == [D("0.00")] * 3
        problem(await _recover(accepted, recovery, "0.01"), 409, "recovered_within_due")
        await _clean(session)
        actions = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("recovery.%"))
        )
        assert list(actions) == ["recovery.receive", "recovery.receive"]

    async def test_an_unpaid_grant_revoked_opens_no_recovery(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        assert (await _revoke(accepted)).status_code == 200
        assert (await _funding(accepted))["recoveries"] == []
        assert [c[0] for c in (await _counters(session, accepted))[1:]] == [D("0.00")] * 3
        await _clean(session)

    async def test_who_records_and_reads_a_recovery(self, accepted: Desk) -> None:
        assert (await accepted.pay("advance", "100.00")).status_code == 201
        assert (await _revoke(accepted)).status_code == 200
        recovery = await _only_recovery(accepted)
        problem(
            await _recover(accepted, recovery, "1.00", "beneficiary"), 403, "insufficient_scope"
        )
        stranger = accepted.people["stranger"].headers
        read = await accepted.client.get(f"/api/v1/recoveries/{recovery}", headers=stranger)
        problem(read, 404, "not_found")
        tomorrow = (clock.today() + timedelta(days=1)).isoformat()
        future = await _recover(accepted, recovery, "1.00", received_on=tomorrow)
        problem(future, 422, "date_out_of_range")
        reference = {"treasury_reference": "REV-ONCE"}
        assert (await _recover(accepted, recovery, "1.00", **reference)).status_code == 201
        problem(await _recover(accepted, recovery, "1.00", **reference), 409, "conflict")
        missing = await _recover(accepted, str(uuid.uuid4()), "1.00")
        problem(missing, 404, "not_found")


class TestPartialRevocation:
    async def test_reducing_within_what_is_paid_releases_the_unpaid_part_only(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        """100,000 with 30,000 paid: down to 60,000, 40,000 returns and nothing is due; then
        down to 20,000, 10,000 is due (paid beyond the new amount) and only the 30,000
        never paid returns; the project keeps its slot."""
        assert (await accepted.pay("advance", "30000.00")).status_code == 201
        response = await _reduce(accepted, "60000.00")
        assert response.status_code == 200, response.text
        assert response.json()["amount"] == "60000.00"
        assert (await _funding(accepted))["recoveries"] == []
        paid = D("30000.00")
        assert (await _counters(session, accepted))[1] == (D("60000.00"), 1, paid, 0, 0)
        assert (await _reduce(accepted, "20000.00")).status_code == 200
        due = D("10000.00")
        assert (
            await _counters(session, accepted)
            == [(D("20000.00"), None, paid, due, 0)] + [(paid, 1, paid, due, 0)] * 3
        )
        recovery = await _only_recovery(accepted)
        problem(await accepted.pay("advance", "0.01"), 409, "paid_within_grant")
        assert (await _recover(accepted, recovery, "10000.00")).status_code == 201
        assert (await _counters(session, accepted))[1] == (D("20000.00"), 1, paid, due, due)
        await _clean(session)
        # Then revoked in full: the rest paid (20,000) is due as well, nothing more returns.
        assert (await _revoke(accepted)).status_code == 200
        assert (await _counters(session, accepted))[1] == (D("20000.00"), 0, paid, paid, due)
        assert len((await _funding(accepted))["recoveries"]) == 2
        await _clean(session)

    async def test_the_new_amount_is_below_the_grant_and_above_nothing(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        before = await _counters(session, accepted)
        problem(await _reduce(accepted, "100000.00"), 422, "reduction_within_grant")
        problem(await _reduce(accepted, "0.00"), 422, "validation_error")
        assert (await _reduce(accepted, "99999.99")).status_code == 200
        assert (await _counters(session, accepted))[1][0] == before[1][0] - D("0.01")
        body = {"amount": "1.00", "reason": "senza If-Match"}
        plain = accepted.people["payer"].headers
        response = await accepted.client.post(
            f"{accepted.allocation}/reduce", json=body, headers=plain
        )
        assert response.status_code == 428, response.text
        beneficiary = await accepted.etag(accepted.allocation, "beneficiary")
        response = await accepted.client.post(
            f"{accepted.allocation}/reduce", json=body, headers=beneficiary
        )
        assert response.status_code == 403, response.text
        await _clean(session)


async def test_the_report_shows_recovered_and_outstanding(
    accepted: Desk, session: AsyncSession
) -> None:
    world = accepted.grant.world
    await session.execute(update(Call).where(Call.id == world.call.id).values(status="published"))
    assert (await accepted.pay("advance", "30000.00")).status_code == 201
    assert (await _reduce(accepted, "25000.00")).status_code == 200
    recovery = await _only_recovery(accepted)
    assert (await _recover(accepted, recovery, "1000.00")).status_code == 201
    body = (await accepted.client.get(f"/api/v1/programmes/{world.programme.id}/report")).json()
    measure = body["measures"][0]
    for funding in (body["funding"], measure["funding"], measure["calls"][0]["funding"]):
        assert (funding["granted"], funding["paid"]) == ("25000.00", "30000.00")
        assert (funding["recovered"], funding["outstanding"]) == ("1000.00", "4000.00")


async def test_a_mixed_grant_is_not_reduced(session: AsyncSession) -> None:
    """A mixed grant's loan and grant parts are fixed by its instrument: reducing it is
    refused (revoking it stays the way), nothing changes."""
    world = await mixed(session, total=100_000, code="REDMIX")
    session.add(PaymentTerms(id=uuid.uuid4(), measure_id=world.measure.id, **PAYMENT_TERMS))
    await session.flush()
    grant = await funded(session, grant=1000, world=world)
    officer = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)
    with pytest.raises(IllegalTransition):
        await recoveries.reduce_allocation(
            session, grant.allocation, amount=D("500.00"), reason="in parte", principal=officer
        )
    await session.refresh(grant.allocation)
    assert grant.allocation.amount == D("1000.00")
