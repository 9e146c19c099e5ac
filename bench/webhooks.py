"""Webhook delivery under a grant load (issue 18's figures), on PostgreSQL.

    .venv/bin/python -m bench.webhooks [--grants 1000] [--workers 2] [--writers 4]

A fresh migrated database (the tests' template copy), one administrator's subscription to
``allocation.granted`` pointing at a real HTTP receiver on loopback, ``--writers`` tasks
committing ``--grants`` real grants (the grant service, one transaction each) while
``--workers`` webhook workers run. It prints (and writes to bench/WEBHOOKS.md) the events
delivered, duplicates, gaps in the subscription's numbers, and the time from each grant's
commit to its event's arrival, p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import luhn

from app.core.auth import Principal, Role
from app.core.domain import ApplicationStatus
from app.schemas.application import AllocationCreate
from app.schemas.webhook import WebhookSubscriptionCreate
from app.services import webhook_worker, webhooks
from app.services.allocations import grant_allocation
from tests.actors import make_organisation, user_actor
from tests.conftest import own_database
from tests.webhook_receiver import serve
from tests.world import Budget, application, budget

RESULTS = Path(__file__).with_name("WEBHOOKS.md")


async def approved(session: AsyncSession, world: Budget, n: int) -> uuid.UUID:
    """An approved application of an organisation of its own (tests.world.approved's tax
    codes run out past a few hundred)."""
    base = f"{3_000_000 + n:07d}001"
    applicant = await make_organisation(
        session, name=f"Bench {n}", tax_code=base + luhn.calc_check_digit(base)
    )
    made = application(
        world,
        requested=1000,
        status=ApplicationStatus.APPROVED,
        title=f"Project {n}",
        applicant_organisation_id=applicant.id,
    )
    session.add(made)
    await session.flush()
    return made.id


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(grants: int, workers: int, writers: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        async with own_database("postgresql", Path(tmp), webhook_poll_seconds=0.02) as (
            database,
            settings,
        ):
            async with database.session(write=True) as session:
                world = await budget(session, total=grants * 1000, code="WHB")
                ids = [await approved(session, world, n) for n in range(grants)]
                admin = await user_actor(session, settings, Role.ADMINISTRATOR)
            committed: dict[str, float] = {}
            officer = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)
            with serve() as receiver:
                receiver.expect = grants
                async with database.session(write=True) as session:
                    await webhooks.create_subscription(
                        session,
                        Principal(kind="user", id=admin.id, role=Role.ADMINISTRATOR),
                        settings=settings,
                        data=WebhookSubscriptionCreate(
                            url=receiver.url,
                            event_types=["allocation.granted"],
                        ),
                    )
                stop = asyncio.Event()
                running = [
                    asyncio.create_task(webhook_worker.run(database, settings, stop))
                    for _ in range(workers)
                ]
                queue = list(ids)

                async def writer() -> None:
                    while queue:
                        application_id = queue.pop()
                        async with database.session(write=True) as session:
                            made = await grant_allocation(
                                session,
                                data=AllocationCreate(
                                    application_id=application_id, amount=Decimal(1000)
                                ),
                                principal=officer,
                            )
                            allocation_id = str(made.id)
                        committed[allocation_id] = time.perf_counter()

                started = time.perf_counter()
                await asyncio.gather(*(writer() for _ in range(writers)))
                load_seconds = time.perf_counter() - started
                await asyncio.to_thread(receiver.done.wait, 300)
                stop.set()
                await asyncio.gather(*running)
    events = [(json.loads(r.body), r.at) for r in receiver.received]
    numbers = [event["data"]["sequence"] for event, _ in events]
    chain = [event["data"]["audit_seq"] for event, _ in events]
    duplicates = len(numbers) - len(set(numbers))
    gaps = len(set(range(1, max(numbers, default=0) + 1)) - set(numbers))
    in_order = numbers == sorted(numbers) and chain == sorted(chain)
    first_arrival: dict[str, float] = {}
    for event, at in events:
        first_arrival.setdefault(event["data"]["entity_id"], at)
    latencies = [
        (first_arrival[key] - committed[key]) * 1000 for key in committed if key in first_arrival
    ]
    lines = [
        "# Webhook delivery under a grant load (bench/webhooks.py)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL, {grants} grants by "
        f"{writers} writers in {load_seconds:.1f} s, {workers} workers, a loopback receiver.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| grants committed | {len(committed)} |",
        f"| events delivered (distinct numbers) | {len(set(numbers))} |",
        f"| requests received | {len(numbers)} |",
        f"| duplicates | {duplicates} |",
        f"| gaps in the subscription's numbers | {gaps} |",
        f"| in order (numbers and chain) | {'yes' if in_order else 'NO'} |",
        f"| commit to delivery p50 | {percentile(latencies, 0.5):.0f} ms |",
        f"| commit to delivery p99 | {percentile(latencies, 0.99):.0f} ms |",
        f"| commit to delivery mean | {statistics.fmean(latencies):.0f} ms |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grants", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=4)
    arguments = parser.parse_args()
    report = asyncio.run(main(arguments.grants, arguments.workers, arguments.writers))
    RESULTS.write_text(report)
    print(report)  # noqa: T201
