"""A repayment storm against a real server with four worker processes on PostgreSQL:
200 repayments of 500.00 on one mixed allocation's loan, 10 on each of its 20
instalments, released at the same instant. Each instalment takes as many as fit
(interest-only ones of 262.50 none, annuities of 4,515.76 nine) and refuses the rest with
``repayment_exceeds_instalment`` and its figures, whatever the order: the principal repaid
never exceeds what is lent, the fund's counters equal their rows (``wecare check``), and
no answer is a 5xx. A 503 (the service shedding load, nothing done) is retried after its
Retry-After, as clients are told to. Figures are logged at INFO
(``-o log_cli=true --log-cli-level=INFO``)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from app.core.auth import Principal, Role
from app.core.clock import today
from app.models import Loan, LoanInstalment, LoanRepayment, Measure, Programme
from app.repositories.consistency import differences
from app.schemas.application import AllocationCreate
from app.services.allocations import grant_allocation
from app.services.audit import verify_chain
from tests import ENGLISH, world
from tests.live import StormServer, storm_server

log = logging.getLogger(__name__)

WORKERS = 4
PER_INSTALMENT = 10
AMOUNT = Decimal("500.00")


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StormServer]:
    tmp_path = tmp_path_factory.mktemp("repayment-storm")
    async with storm_server("postgresql", tmp_path, role=Role.OFFICER, workers=WORKERS) as server:
        yield server


@dataclass(frozen=True)
class Sent:
    instalment: int
    status: int  # 0: no HTTP response (transport error)
    content_type: str
    body: dict[str, object]
    retried: int


async def _send(
    client: httpx.AsyncClient, barrier: asyncio.Event, path: str, instalment: int
) -> Sent:
    await barrier.wait()
    body = {"instalment": instalment, "amount": str(AMOUNT), "paid_on": str(today())}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    retried = 0
    while True:
        try:
            response = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return Sent(instalment, 0, "", {"detail": repr(exc)}, retried)
        if response.status_code == 503 and retried < 5:
            retried += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        return Sent(
            instalment,
            response.status_code,
            response.headers.get("content-type", ""),
            response.json(),
            retried,
        )


async def test_concurrent_repayments_never_exceed_what_is_lent(live: StormServer) -> None:
    async with live.database.session(write=True) as session:
        scheme = await world.mixed(session, total=1_000_000, code="STORM")
        application = await world.approved(session, scheme, requested=100_000)
        officer = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)
        allocation = await grant_allocation(
            session,
            data=AllocationCreate(application_id=application.id, amount=Decimal("100000.00")),
            principal=officer,
        )
        loan = await session.scalar(select(Loan).where(Loan.allocation_id == allocation.id))
        assert loan is not None
        instalments = (
            await session.scalars(
                select(LoanInstalment)
                .where(LoanInstalment.loan_id == loan.id)
                .order_by(LoanInstalment.number)
            )
        ).all()
        due = {row.number: (row.amount, row.interest) for row in instalments}
    assert len(due) == 20

    path = f"/api/v1/allocations/{allocation.id}/loan/repayments"
    numbers = [n for _ in range(PER_INSTALMENT) for n in sorted(due)]  # interleaved
    barrier = asyncio.Event()
    limits = httpx.Limits(max_connections=len(numbers), max_keepalive_connections=0)
    headers = {**ENGLISH, "Authorization": f"Bearer {live.token}"}
    async with httpx.AsyncClient(
        base_url=live.base, limits=limits, timeout=120, headers=headers
    ) as client:
        warm = [client.get(f"/api/v1/allocations/{allocation.id}/loan") for _ in range(40)]
        assert {r.status_code for r in await asyncio.gather(*warm)} == {200}
        tasks = [asyncio.create_task(_send(client, barrier, path, n)) for n in numbers]
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        barrier.set()
        outcomes = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started

    statuses = Counter(o.status for o in outcomes)
    log.info(
        "repayment storm: %d requests in %.2f s: %s, %d retried 503s",
        len(outcomes),
        seconds,
        dict(statuses),
        sum(o.retried for o in outcomes),
    )
    assert set(statuses) <= {201, 409}, [o for o in outcomes if o.status not in (201, 409)][:5]
    refused = [o for o in outcomes if o.status == 409]
    assert all(o.content_type == "application/problem+json" for o in refused)
    assert {o.body["rule"] for o in refused} == {"repayment_exceeds_instalment"}
    # Whatever the order, an instalment takes floor(due / 500.00) payments of 500.00.
    accepted = Counter(o.instalment for o in outcomes if o.status == 201)
    expected = {n: int(amount // AMOUNT) for n, (amount, _) in due.items()}
    assert dict(accepted) == {n: k for n, k in expected.items() if k}
    principal = sum(
        (max(expected[n] * AMOUNT - interest, Decimal(0)) for n, (_, interest) in due.items()),
        Decimal("0.00"),
    )

    async with live.database.session(write=False) as session:
        loan = await session.get(Loan, loan.id)
        measure = await session.get(Measure, scheme.measure.id)
        programme = await session.get(Programme, scheme.programme.id)
        assert loan is not None
        assert measure is not None
        assert programme is not None
        recorded = (
            await session.scalars(select(LoanRepayment).where(LoanRepayment.loan_id == loan.id))
        ).all()
        paid = {
            row.number: row.paid
            for row in await session.scalars(
                select(LoanInstalment).where(LoanInstalment.loan_id == loan.id)
            )
        }
    log.info(
        "repayment storm: %d recorded, principal repaid %s of %s lent",
        len(recorded),
        loan.repaid,
        loan.principal,
    )
    assert len(recorded) == sum(expected.values())
    assert all(paid[n] == expected[n] * AMOUNT <= due[n][0] for n in due)
    assert loan.repaid == principal <= loan.principal
    assert (measure.lent, measure.repaid) == (loan.principal, principal)
    assert (programme.lent, programme.repaid) == (loan.principal, principal)
    assert measure.allocated == Decimal("100000.00") - principal
    async with live.database.engine.connect() as connection:
        assert await differences(connection) == []
        assert (await verify_chain(connection)).ok
