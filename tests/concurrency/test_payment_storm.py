"""Payment storms (issue 16) against ``wecare serve --workers 4`` on PostgreSQL.

1. 400 payments on one accepted grant of 100,000.00 at once: 250 advances of 150.00 (the
   share caps advances at 30,000.00: exactly 200 fit) and 150 interim payments of 100.00
   (10,000.00 verified before the storm: exactly 100 fit). Every refusal names its cap.
2. One submitted claim of 100 lines of 100.00 checked line by line while 100 interim
   payments of 100.00 go in on the same grant, and each officer also tries the other's job:
   paid never passes verified at any commit (the CHECK would refuse it), the verified total
   is exact, and no officer both checked a line and made an interim payment of the grant.

In both, no 5xx (a 503 is retried after its Retry-After, as clients are told), and
``wecare check``'s differences are empty. Figures at INFO.
"""

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

from app.core import clock
from app.core.auth import Role
from app.core.domain import PaymentKind
from app.models import Allocation, ClaimLine, Payment
from app.repositories.consistency import differences
from tests import ENGLISH
from tests.live import StormServer, storm_server
from tests.world import funded

log = logging.getLogger(__name__)

WORKERS = 4


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StormServer]:
    tmp_path = tmp_path_factory.mktemp("payment-storm")
    async with storm_server(
        "postgresql",
        tmp_path,
        role=Role.ADMINISTRATOR,
        workers=WORKERS,
        others={"checker": Role.OFFICER, "payer": Role.OFFICER},
    ) as server:
        yield server


@dataclass(frozen=True)
class Sent:
    label: str
    status: int
    rule: str | None
    retried: int


async def _send(
    client: httpx.AsyncClient,
    barrier: asyncio.Event,
    label: str,
    path: str,
    body: dict[str, object],
    token: str,
) -> Sent:
    await barrier.wait()
    headers = {"Authorization": f"Bearer {token}", "If-Match": "*"}
    retried = 0
    while True:
        try:
            response = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError:
            return Sent(label, 0, None, retried)
        if response.status_code == 503 and retried < 5:
            retried += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        rule = None
        if response.headers.get("content-type") == "application/problem+json":
            rule = response.json().get("rule")
        return Sent(label, response.status_code, rule, retried)


def _payment(kind: str, amount: str) -> dict[str, object]:
    return {
        "kind": kind,
        "amount": amount,
        "paid_on": clock.today().isoformat(),
        "treasury_reference": f"MAND-{uuid.uuid4().hex}",
    }


async def _storm(
    live: StormServer, requests: list[tuple[str, str, dict[str, object], str]]
) -> list[Sent]:
    barrier = asyncio.Event()
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        headers=ENGLISH, base_url=live.base, limits=limits, timeout=120
    ) as client:
        warm = [client.get("/api/v1/programmes") for _ in range(60)]
        await asyncio.gather(*warm)
        tasks = [
            asyncio.create_task(
                _send(
                    client,
                    barrier,
                    label,
                    path,
                    body,
                    live.tokens[who],
                )
            )
            for label, path, body, who in requests
        ]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        barrier.set()
        sent = await asyncio.gather(*tasks)
    log.info("storm of %d requests: %.1f s", len(requests), time.monotonic() - started)
    return sent


async def _clean(live: StormServer) -> None:
    async with live.database.engine.connect() as connection:
        assert [str(d) for d in await differences(connection)] == []


async def _verified_claim(
    client: httpx.AsyncClient, live: StormServer, allocation: str, lines: int, amount: str
) -> str:
    """A submitted claim of ``lines`` lines of ``amount``, filed by the admin for the
    beneficiary; its path."""
    admin = {"Authorization": f"Bearer {live.token}"}
    body = {
        "period_start": clock.today().isoformat(),
        "period_end": clock.today().isoformat(),
        "lines": [
            {
                "cost_category": "staff",
                "amount": amount,
                "document_reference": f"DOC-{n}",
                "spent_on": clock.today().isoformat(),
            }
            for n in range(lines)
        ],
    }
    made = await client.post(f"/api/v1/allocations/{allocation}/claims", json=body, headers=admin)
    assert made.status_code == 201, made.text
    path = f"/api/v1/claims/{made.json()['id']}"
    submit = await client.post(f"{path}/submit", headers={**admin, "If-Match": "*"})
    assert submit.status_code == 200, submit.text
    return path


async def test_400_payments_on_one_grant(live: StormServer) -> None:
    async with live.database.session(write=True) as session:
        grant = await funded(session, code=f"PS-{uuid.uuid4().hex[:6]}", accept=True)
    allocation = str(grant.allocation.id)
    async with httpx.AsyncClient(headers=ENGLISH, base_url=live.base, timeout=60) as client:
        claim = await _verified_claim(client, live, allocation, 1, "10000.00")
        checker = {"Authorization": f"Bearer {live.tokens['checker']}", "If-Match": "*"}
        checked = await client.post(
            f"{claim}/lines/1/check", json={"outcome": "accepted"}, headers=checker
        )
        assert checked.status_code == 200, checked.text
    path = f"/api/v1/allocations/{allocation}/payments"
    requests = [("advance", path, _payment("advance", "150.00"), "payer") for _ in range(250)]
    requests += [("interim", path, _payment("interim", "100.00"), "payer") for _ in range(150)]
    requests = [requests[(i * 7) % 400] for i in range(400)]  # interleaved, deterministically
    sent = await _storm(live, requests)

    outcomes = Counter((s.label, s.status, s.rule) for s in sent)
    log.info("outcomes %s; 503 retries %d", dict(outcomes), sum(s.retried for s in sent))
    assert all(0 < s.status < 500 for s in sent), outcomes
    assert outcomes[("advance", 201, None)] == 200
    assert outcomes[("advance", 409, "advance_share_cap")] == 50
    assert outcomes[("interim", 201, None)] == 100
    assert outcomes[("interim", 409, "paid_within_verified")] == 50
    async with live.database.session(write=False) as session:
        row = await session.get(Allocation, grant.allocation.id)
        assert row is not None
        assert (row.advanced, row.paid, row.verified) == (
            Decimal("30000.00"),
            Decimal("40000.00"),
            Decimal("10000.00"),
        )
    await _clean(live)


async def test_checks_and_payments_on_one_claim(live: StormServer) -> None:
    async with live.database.session(write=True) as session:
        grant = await funded(session, code=f"PC-{uuid.uuid4().hex[:6]}", accept=True, n=2)
    allocation = str(grant.allocation.id)
    async with httpx.AsyncClient(headers=ENGLISH, base_url=live.base, timeout=60) as client:
        claim = await _verified_claim(client, live, allocation, 100, "100.00")
    pay = f"/api/v1/allocations/{allocation}/payments"
    requests: list[tuple[str, str, dict[str, object], str]] = []
    for n in range(1, 101):
        # Lines 1-90 go to the checker; lines 91-100 to the payer, who also pays.
        who = "checker" if n <= 90 else "payer"
        requests.append((f"check-{who}", f"{claim}/lines/{n}/check", {"outcome": "accepted"}, who))
    requests += [("pay-payer", pay, _payment("interim", "100.00"), "payer") for _ in range(100)]
    requests += [("pay-checker", pay, _payment("interim", "100.00"), "checker") for _ in range(20)]
    requests = [requests[(i * 7) % len(requests)] for i in range(len(requests))]
    sent = await _storm(live, requests)

    outcomes = Counter((s.label, s.status, s.rule) for s in sent)
    log.info("outcomes %s; 503 retries %d", dict(outcomes), sum(s.retried for s in sent))
    assert all(0 < s.status < 500 for s in sent), outcomes
    allowed = {None, "paid_within_verified", "segregation_of_duties"}
    assert {s.rule for s in sent} <= allowed, outcomes
    async with live.database.session(write=False) as session:
        row = await session.get(Allocation, grant.allocation.id)
        assert row is not None
        lines = (
            await session.scalars(select(ClaimLine).where(ClaimLine.allocation_id == row.id))
        ).all()
        payments = (
            await session.scalars(select(Payment).where(Payment.allocation_id == row.id))
        ).all()
        checked = [line for line in lines if line.checked_by is not None]
        verified = sum((line.verified or Decimal(0) for line in checked), Decimal("0.00"))
        assert row.verified == verified == Decimal(100) * len(checked)
        assert row.paid == sum((p.amount for p in payments), Decimal("0.00"))
        assert row.paid <= row.verified  # no advance: paid never passes verified
        interim_payers = {p.authorised_by for p in payments if p.kind is PaymentKind.INTERIM}
        checkers = {line.checked_by for line in checked}
        assert interim_payers.isdisjoint(checkers), (interim_payers, checkers)
        log.info(
            "checked %d lines (verified %s), %d payments (paid %s)",
            len(checked),
            row.verified,
            len(payments),
            row.paid,
        )
    await _clean(live)
