"""Recovery storm (issue 16) against ``wecare serve --workers 4`` on PostgreSQL.

A grant of 100,000.00 with 30,000.00 paid, revoked: a recovery of 30,000.00 is due. 400
amounts of 100.00 recovered on it at once: exactly 300 fit, 100 are refused with
``recovered_within_due``; what is recovered never exceeds what is due, every amount
recovered returns to the call, measure and programme (nothing stays allocated), no 5xx,
and ``wecare check``'s differences are empty. Figures at INFO.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from app.core import clock
from app.core.auth import Role
from app.models import Allocation, Call, Recovery
from app.repositories import payments as payments_repo
from app.repositories.consistency import differences
from tests import ENGLISH
from tests.live import StormServer, storm_server
from tests.world import funded

log = logging.getLogger(__name__)

WORKERS = 4


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StormServer]:
    """A fresh migrated PostgreSQL database, an administrator, ``wecare serve --workers 4``."""
    tmp_path = tmp_path_factory.mktemp("recovery-storm")
    async with storm_server(
        "postgresql", tmp_path, role=Role.ADMINISTRATOR, workers=WORKERS
    ) as server:
        yield server


async def _send(
    client: httpx.AsyncClient, barrier: asyncio.Event, path: str, token: str
) -> tuple[int, str | None]:
    await barrier.wait()
    body = {
        "amount": "100.00",
        "received_on": clock.today().isoformat(),
        "treasury_reference": f"REV-{uuid.uuid4().hex}",
    }
    headers = {"Authorization": f"Bearer {token}"}
    for _attempt in range(6):
        try:
            response = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError:
            return 0, None
        if response.status_code != 503:
            break
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    rule = None
    if response.headers.get("content-type") == "application/problem+json":
        rule = response.json().get("rule")
    return response.status_code, rule


async def test_400_recoveries_on_one_recovery(live: StormServer) -> None:
    async with live.database.session(write=True) as session:
        grant = await funded(session, code=f"RS-{uuid.uuid4().hex[:6]}", accept=True)
    allocation = f"/api/v1/allocations/{grant.allocation.id}"
    admin = {"Authorization": f"Bearer {live.token}"}
    async with httpx.AsyncClient(headers=ENGLISH, base_url=live.base, timeout=60) as client:
        body = {
            "kind": "advance",
            "amount": "30000.00",
            "paid_on": clock.today().isoformat(),
            "treasury_reference": f"MAND-{uuid.uuid4().hex}",
        }
        paid = await client.post(f"{allocation}/payments", json=body, headers=admin)
        assert paid.status_code == 201, paid.text
        revoked = await client.post(
            f"{allocation}/revoke",
            json={"reason": "Revoca dopo pagamento."},
            headers={**admin, "If-Match": "*"},
        )
        assert revoked.status_code == 200, revoked.text
    async with live.database.session(write=False) as session:
        (recovery,) = await payments_repo.recoveries_of(session, grant.allocation.id)
    path = f"/api/v1/recoveries/{recovery.id}/receipts"

    barrier = asyncio.Event()
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        headers=ENGLISH, base_url=live.base, limits=limits, timeout=120
    ) as client:
        await asyncio.gather(*(client.get("/api/v1/programmes") for _ in range(60)))
        tasks = [asyncio.create_task(_send(client, barrier, path, live.token)) for _ in range(400)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        barrier.set()
        sent = await asyncio.gather(*tasks)
    outcomes = Counter(sent)
    log.info("400 recoveries: %.1f s; outcomes %s", time.monotonic() - started, dict(outcomes))
    assert all(0 < status < 500 for status, _rule in sent), outcomes
    assert outcomes[(201, None)] == 300
    assert outcomes[(409, "recovered_within_due")] == 100
    async with live.database.session(write=False) as session:
        row = await session.get(Recovery, recovery.id)
        held = await session.get(Allocation, grant.allocation.id)
        call = await session.get(Call, grant.world.call.id)
        assert row is not None
        assert held is not None
        assert call is not None
        assert row.recovered == row.due == held.recovered == Decimal("30000.00")
        assert (call.allocated, call.recovered, call.funded_projects) == (
            Decimal("0.00"),
            Decimal("30000.00"),
            0,
        )
    async with live.database.engine.connect() as connection:
        assert [str(d) for d in await differences(connection)] == []
