"""A run down a published ranking racing single grants of the same call, over HTTP on
PostgreSQL with four worker processes (``wecare serve --workers 4``): the run and one single
grant per ranked application are sent at the same instant. No cap is broken (exactly what
the call holds is granted), no application is granted twice, every single grant that is
refused is refused by one_active_allocation or call_budget_cap, the run's report and the
single grants together account for every grant, and ``wecare check`` finds no difference.
Figures are logged at INFO (``-o log_cli=true --log-cli-level=INFO``).
The same race scripted in one process is tests/concurrency/test_ranking_allocate_race.py."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from app.core.auth import Role
from app.models import Allocation, Call
from app.models.allocation import ACTIVE_ALLOCATION
from app.repositories.consistency import differences
from tests import ENGLISH
from tests.live import StormServer, storm_server
from tests.world import approved, budget, ranked

log = logging.getLogger(__name__)

WORKERS = 4
APPLICATIONS = 20
REQUESTED = 200  # euros each
CALL_BUDGET = 2_000  # room for ten of the twenty


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StormServer]:
    tmp_path = tmp_path_factory.mktemp("ranking-storm")
    async with storm_server(
        "postgresql", tmp_path, role=Role.ADMINISTRATOR, workers=WORKERS
    ) as server:
        yield server


async def test_the_run_and_single_grants_at_once_over_http(live: StormServer) -> None:
    async with live.database.session(write=True) as arrange:
        world = await budget(arrange, total=1_000_000, call_budget=CALL_BUDGET, code="HS")
        made = [
            await approved(arrange, world, requested=REQUESTED, n=n)
            for n in range(1, APPLICATIONS + 1)
        ]
        await ranked(arrange, world, made)
    call_id = world.call.id
    headers = {**ENGLISH, "Authorization": f"Bearer {live.token}"}
    start = asyncio.Event()

    async with httpx.AsyncClient(base_url=live.base, timeout=60, headers=headers) as client:

        async def single(application_id: uuid.UUID) -> httpx.Response:
            await start.wait()
            return await client.post(
                "/api/v1/allocations",
                json={"application_id": str(application_id), "amount": f"{REQUESTED}.00"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )

        async def run() -> httpx.Response:
            await start.wait()
            return await client.post(
                f"/api/v1/calls/{call_id}/rankings/1/allocate",
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )

        tasks = [asyncio.create_task(run())]
        tasks += [asyncio.create_task(single(a.id)) for a in made]
        await asyncio.sleep(0.2)
        start.set()
        responses = await asyncio.gather(*tasks)

    whole, singles = responses[0], responses[1:]
    assert whole.status_code in (200, 201), whole.text
    report = whole.json()
    granted_singly = [r for r in singles if r.status_code == 201]
    refusals = Counter(r.json()["rule"] for r in singles if r.status_code != 201)
    assert all(r.status_code in (201, 409) for r in singles), [r.text for r in singles]
    assert set(refusals) <= {"one_active_allocation", "call_budget_cap"}, refusals
    fits = CALL_BUDGET // REQUESTED
    log.info(
        "run granted %d (already granted %d, skipped %d); singles granted %d, refused %s",
        len(report["granted"]),
        len(report["already_granted"]),
        len(report["skipped"]),
        len(granted_singly),
        dict(refusals),
    )
    assert len(granted_singly) + len(report["granted"]) == fits

    async with live.database.engine.connect() as connection:
        assert await differences(connection) == []
        per_application = (
            await connection.execute(
                select(Allocation.application_id, func.count())
                .where(ACTIVE_ALLOCATION)
                .group_by(Allocation.application_id)
            )
        ).all()
        assert len(per_application) == fits
        assert all(count == 1 for _, count in per_application)
        allocated = await connection.scalar(select(Call.allocated).where(Call.id == call_id))
    assert allocated == Decimal(CALL_BUDGET)
