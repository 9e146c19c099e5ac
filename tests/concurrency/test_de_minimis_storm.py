"""A de minimis storm against a real server with four worker processes, on PostgreSQL: 400
grants to one single undertaking released at the same instant: two organisations, the first
having declared the second linked, each applying in its own programme (so that the
programmes' counters do not queue them: only the undertaking's locks do,
app.services.de_minimis), each grant of 1,000-5,000 euros under Regulation (EU) 2023/2831's
EUR 300,000 ceiling, the budgets far above it.

The granted total never passes the ceiling; no grant is refused that would have fitted in
the end (the aid only grows in the storm, so a refusal's amount is above what is left at
the end); every answer is 201 or 409 ``de_minimis_ceiling``; and `wecare check` finds every
counter equal to its rows. Figures are logged at INFO (``-o log_cli=true
--log-cli-level=INFO``).
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
from sqlalchemy import func, select

from app.core.auth import Role
from app.core.domain import DeclarationKind, DeMinimisRegulation, StateAidRegime
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.state_aid import StateAidDeclaration
from app.repositories.consistency import differences
from tests import ENGLISH, world
from tests.actors import make_organisation, tax_code
from tests.live import StormServer, storm_server

log = logging.getLogger(__name__)

WORKERS = 4
GRANTS = 400
CEILING = Decimal("300000.00")
# Grants from 1,000 to 5,000 euros in a fixed pattern: about a quarter of the storm fits.
AMOUNTS = [1_000 * (1 + (i * 7) % 5) for i in range(GRANTS)]


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StormServer]:
    tmp_path = tmp_path_factory.mktemp("de-minimis-postgresql")
    async with storm_server(
        "postgresql", tmp_path, role=Role.ADMINISTRATOR, workers=WORKERS
    ) as server:
        yield server


@dataclass(frozen=True)
class Sent:
    amount: int
    status: int  # 0: no HTTP response (transport error)
    body: dict[str, object]
    retried: int


async def _send(
    client: httpx.AsyncClient, barrier: asyncio.Event, application_id: uuid.UUID, amount: int
) -> Sent:
    """One grant, as a well-behaved client sends it: a 503 (nothing done) is retried after
    its Retry-After, at most five times; every other answer is final."""
    await barrier.wait()
    body = {"application_id": str(application_id), "amount": f"{amount}.00"}
    retried = 0
    while True:
        try:
            response = await client.post("/api/v1/allocations", json=body)
        except httpx.HTTPError as exc:
            return Sent(amount, 0, {"detail": repr(exc)}, retried)
        if response.status_code == 503 and retried < 5:
            retried += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        return Sent(amount, response.status_code, response.json(), retried)


async def test_de_minimis_storm(live: StormServer) -> None:
    """400 grants of 1,000-5,000 euros to one single undertaking (two linked organisations)
    at once, in two programmes."""
    async with live.database.session(write=True) as session:
        firm = await make_organisation(session, name="Impresa madre", tax_code=tax_code(77))
        sister = await make_organisation(session, name="Impresa figlia", tax_code=tax_code(78))
        session.add(
            StateAidDeclaration(
                id=uuid.uuid4(),
                organisation_id=firm.id,
                kind=DeclarationKind.LINKED_UNDERTAKING,
                linked_tax_code=sister.tax_code,
                declared_by="user:storm",
            )
        )
        applications = []
        for half, organisation in enumerate((firm, sister)):
            scheme = await world.budget(
                session, total=2_000_000, code=f"DM{half}-{uuid.uuid4().hex[:6].upper()}"
            )
            scheme.measure.state_aid_regime = StateAidRegime.DE_MINIMIS
            scheme.call.de_minimis_regulation = DeMinimisRegulation.R2023_2831
            made = [
                world.application(
                    scheme,
                    requested=AMOUNTS[i],
                    title=f"Progetto {i}",
                    applicant_organisation_id=organisation.id,
                )
                for i in range(half, GRANTS, 2)
            ]
            session.add_all(made)
            applications += made
        await session.flush()
        # Interleaved: the two organisations' grants alternate in the storm.
        requests = sorted(
            ((a.id, int(a.requested)) for a in applications),
            key=lambda r: [a.id for a in applications].index(r[0]) % (GRANTS // 2),
        )

    barrier = asyncio.Event()
    limits = httpx.Limits(max_connections=GRANTS, max_keepalive_connections=0)
    headers = {**ENGLISH, "Authorization": f"Bearer {live.token}"}
    async with httpx.AsyncClient(
        base_url=live.base, limits=limits, timeout=120, headers=headers
    ) as client:
        warm = [client.get("/api/v1/programmes") for _ in range(120)]
        assert {r.status_code for r in await asyncio.gather(*warm)} == {200}
        tasks = [asyncio.create_task(_send(client, barrier, a, m)) for a, m in requests]
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        barrier.set()
        outcomes = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started

    statuses = Counter((o.status, o.body.get("rule")) for o in outcomes)
    log.info(
        "de minimis storm: %d grants in %.2f s: %s, %d retried 503s",
        len(outcomes),
        seconds,
        dict(statuses),
        sum(o.retried for o in outcomes),
    )
    assert set(statuses) <= {(201, None), (409, "de_minimis_ceiling")}, statuses
    granted = sum((Decimal(o.amount) for o in outcomes if o.status == 201), Decimal(0))
    async with live.database.session(write=False) as session:
        stored = await session.scalar(
            select(func.coalesce(func.sum(Allocation.amount), Decimal(0))).where(ACTIVE_ALLOCATION)
        )
        count = await session.scalar(select(func.count()).select_from(Allocation))
    assert stored == granted
    assert count == statuses[(201, None)]
    assert granted <= CEILING
    left = CEILING - granted
    refused = [o for o in outcomes if o.status == 409]
    assert refused, "the storm asks for more than the ceiling: some grants must be refused"
    # Exact: no refusal of a grant that fits what is left, and each refusal's figures add up.
    assert all(Decimal(o.amount) > left for o in refused)
    for o in refused:
        assert Decimal(str(o.body["counted"])) + Decimal(o.amount) > CEILING
        assert Decimal(str(o.body["counted"])) <= granted
    async with live.database.engine.connect() as connection:
        assert await differences(connection) == []
