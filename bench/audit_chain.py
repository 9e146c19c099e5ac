"""How long verifying a chain of N audit events takes (default 100,000), two ways:
``verify_chain`` in-process, and ``wecare audit verify`` end to end (a new Python process:
imports, engine, the walk, exit status), each the median of ``--repeat`` runs.

    .venv/bin/python -m bench.audit_chain --url sqlite+aiosqlite:///var/bench-audit.sqlite3
    .venv/bin/python -m bench.audit_chain --url postgresql+asyncpg://postgres@127.0.0.1/bench

The database must be empty (it is migrated here); events are bulk-inserted with their chain
computed exactly as the service computes it, then verified with the service's own walk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, select, update

from app.core.config import Settings
from app.db import migrations
from app.db.session import create_engine
from app.models.audit import GENESIS_HASH, AuditEvent, AuditHead
from app.services.audit import canonical, chain_hash, event_content, verify_chain

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def allocation_snapshot(seq: int, at: datetime) -> dict[str, object]:
    """An event's ``after`` the size of a real grant's (the walk hashes every byte of it)."""
    return {
        "id": uuid.uuid4(),
        "application_id": uuid.uuid4(),
        "programme_id": uuid.uuid4(),
        "measure_id": uuid.uuid4(),
        "call_id": uuid.uuid4(),
        "district_id": None,
        "amount_cents": seq * 100,
        "status": "active",
        "granted_at": at,
        "granted_by": str(uuid.uuid4()),
        "revoked_at": None,
        "revocation_reason": None,
        "created_at": at,
        "updated_at": at,
        "version": 1,
    }


async def build(url: str, count: int) -> float:
    """Migrate the empty database and insert ``count`` chained events; return the seconds."""
    built = time.perf_counter()
    engine = create_engine(Settings(database_url=url))
    await migrations.upgrade(engine)
    async with engine.connect() as conn:
        existing = await conn.scalar(select(func.count()).select_from(AuditEvent))
    if existing:
        await engine.dispose()
        raise SystemExit(f"the database already holds {existing} audit events: use an empty one")
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
            "after": canonical(allocation_snapshot(seq, start)),
            "reason": None,
            "prev_hash": prev,
        }
        # The service's own content function: the bench cannot drift from what it hashes.
        row["hash"] = prev = chain_hash(prev, event_content(SimpleNamespace(**row)))
        rows.append(row)
    # The head's trigger lets it move one event at a time (as the service moves it), so it
    # follows each chunk of events step by step.
    advance = (
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
    )
    async with engine.begin() as conn:
        for chunk in range(0, count, 5000):
            batch = rows[chunk : chunk + 5000]
            await conn.execute(insert(AuditEvent), batch)
            await conn.execute(
                advance, [{"new_seq": row["seq"], "new_hash": row["hash"]} for row in batch]
            )
    await engine.dispose()
    return time.perf_counter() - built


async def verify_in_process(url: str, count: int) -> float:
    engine = create_engine(Settings(database_url=url))
    try:
        started = time.perf_counter()
        async with engine.connect() as conn:
            result = await verify_chain(conn)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    if not result.ok or result.events != count:
        raise SystemExit(f"verify_chain: {result}")
    return elapsed


def verify_cli(url: str, count: int) -> float:
    """``wecare audit verify`` in a new process, timed from spawn to exit."""
    env = {**os.environ, "WECARE_DATABASE_URL": url, "WECARE_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", "verify"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or f"{count} events" not in done.stdout:
        raise SystemExit(f"wecare audit verify: exit {done.returncode}: {done.stdout}{done.stderr}")
    return elapsed


def main(url: str, count: int, repeat: int) -> None:
    seconds = asyncio.run(build(url, count))
    print(f"{count} events built in {seconds:.1f} s")  # noqa: T201
    walks = [asyncio.run(verify_in_process(url, count)) for _ in range(repeat)]
    clis = [verify_cli(url, count) for _ in range(repeat)]
    for name, runs in (("verify_chain", walks), ("wecare audit verify", clis)):
        listed = ", ".join(f"{run:.2f}" for run in runs)
        print(  # noqa: T201
            f"{name}: median {statistics.median(runs):.2f} s over {repeat} runs ({listed})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    main(args.url, args.events, args.repeat)
