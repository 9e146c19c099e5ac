"""How long `wecare audit verify` takes on a chain of N events (default 100,000).

    .venv/bin/python -m bench.audit_chain --url sqlite+aiosqlite:///var/bench-audit.sqlite3
    .venv/bin/python -m bench.audit_chain --url postgresql+asyncpg://postgres@127.0.0.1/bench

The database must be empty (it is migrated here); events are bulk-inserted with their chain
computed exactly as the service computes it, then verified with the service's own walk.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update

from app.core.config import Settings
from app.db import migrations
from app.db.session import create_engine
from app.models.audit import GENESIS_HASH, AuditEvent, AuditHead
from app.services.audit import canonical, chain_hash, verify_chain


async def main(url: str, count: int) -> None:
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    start = datetime.now(UTC)
    prev, rows = GENESIS_HASH, []
    for seq in range(1, count + 1):
        row = {
            "seq": seq,
            "occurred_at": start + timedelta(milliseconds=seq),
            "actor_type": "user",
            "actor_id": str(uuid.uuid4()),
            "request_id": uuid.uuid4().hex,
            "idempotency_key": None,
            "action": "allocation.grant",
            "entity_type": "allocation",
            "entity_id": str(uuid.uuid4()),
            "before": None,
            "after": canonical({"amount_cents": seq * 100, "status": "active"}),
            "reason": None,
            "prev_hash": prev,
        }
        content = {**row, "occurred_at": row["occurred_at"].isoformat()}  # type: ignore[attr-defined]
        row["hash"] = prev = chain_hash(prev, content)
        rows.append(row)
    async with engine.begin() as conn:
        for chunk in range(0, count, 5000):
            await conn.execute(insert(AuditEvent), rows[chunk : chunk + 5000])
        await conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=count, hash=prev))
    started = time.perf_counter()
    async with engine.connect() as conn:
        result = await verify_chain(conn)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    status = "intact" if result.ok else f"BROKEN at {result.first_broken_seq}"
    print(f"{count} events {status}: verified in {elapsed:.2f} s")  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.events))
