"""A scaled WECARE population on PostgreSQL, bulk-loaded in SQL (generate_series).

    .venv/bin/python -m bench.dataset --size full   # 100,000 organisations, 1,000,000 grants
    .venv/bin/python -m bench.dataset --size small  # 10,000 organisations, 10,000 grants

The database (``bench_wecare_<size>``) is dropped, created, migrated with the app's Alembic
scripts (``app.db.migrations.upgrade``) and seeded with the WECARE reference data exactly as
``wecare seed`` does. Then organisations, approved applications and one ACTIVE allocation per
application are generated server-side, spread round-robin over the calls of FSE2, FSE3, FESR
and FSE4 (FSE1 is left empty: it caps funded projects at 30 and one per district). Amounts are
€0.01-€4.00, so no budget comes near its cap. The programme, measure and call counters are
then set to the sums of the active allocations, so ``wecare check`` passes.

Secondary indexes of the two big tables are dropped for the load and recreated from their own
definitions afterwards (faster than maintaining them row by row); constraint-backed indexes
stay. FK and row triggers are skipped during the load (``session_replication_role = replica``)
because the generated rows reference only rows generated in the same transaction.

A dataset is reused when the database's comment matches this generator's signature (size,
version and the Alembic heads), so a second run of the benchmark skips the load.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

from app.core.config import Settings
from app.db import migrations
from app.db.session import Database, create_engine
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file

SERVER_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
GENERATOR_VERSION = "3"
# Calls that receive the generated allocations (FSE1 is capped at 30 projects).
LOADED_CALLS = ("WECARE-FSE2-2018", "WECARE-FSE3-2018", "WECARE-FESR-2018", "WECARE-FSE4-2017")
BIG_TABLES = ("application", "allocation")


@dataclass(frozen=True)
class Size:
    name: str
    organisations: int
    allocations: int


SIZES = {
    "full": Size("full", 100_000, 1_000_000),
    "medium": Size("medium", 10_000, 100_000),
    "small": Size("small", 10_000, 10_000),
    "tiny": Size("tiny", 1_000, 2_000),
}


def database_name(size: Size) -> str:
    return f"bench_wecare_{size.name}"


def dsn(size: Size) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database_name(size)}"


def sqlalchemy_url(size: Size) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database_name(size)}"


def signature(size: Size) -> str:
    heads = ",".join(sorted(migrations.head_revisions()))
    return (
        f"wecare-bench v{GENERATOR_VERSION} orgs={size.organisations} "
        f"allocations={size.allocations} heads={heads}"
    )


async def _current_signature(name: str) -> str | None:
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        value = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
    finally:
        await conn.close()
    return None if value is None else str(value)


async def _recreate_database(name: str) -> None:
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _migrate_and_seed(size: Size) -> None:
    engine = create_engine(Settings(database_url=sqlalchemy_url(size)))
    try:
        await migrations.upgrade(engine)
        database = Database(engine)
        async with database.session(write=True) as session:
            await load_reference_data(session, read_reference_file(WECARE_FILE))
    finally:
        await engine.dispose()


ORGANISATIONS_SQL = """
INSERT INTO organisation (id, legal_name, tax_code, vat_number, legal_nature, profit_status,
    size_class, province, accompaniment_experience, created_at, updated_at, version)
SELECT md5('org' || i)::uuid,
       'Bench organisation ' || i,
       'B' || lpad(i::text, 10, '0'),
       NULL,
       (ARRAY['municipality','third_sector_organisation','social_enterprise',
              'volunteer_organisation','enterprise','foundation'])[1 + i % 6],
       CASE WHEN i % 6 = 4 THEN 'profit' ELSE 'non_profit' END,
       NULL,
       (ARRAY['AL','AT','BI','CN','NO','TO','VB','VC'])[1 + i % 8],
       i % 3 = 0,
       now(), now(), 1
FROM generate_series(1, $1::int) AS i
"""

# Calls are passed as parallel arrays; grant i goes to call i % n.
APPLICATIONS_SQL = """
INSERT INTO application (id, call_id, measure_id, line_id, applicant_organisation_id,
    partnership_id, title, description, total_cost_cents, requested_cents, thematic_area_id,
    district_id, district_slot_id, stage, preliminary_id, status, submitted_at, decided_at,
    created_at, updated_at, version)
SELECT md5('app' || i)::uuid,
       ($2::uuid[])[1 + i % cardinality($2::uuid[])],
       ($3::uuid[])[1 + i % cardinality($2::uuid[])],
       NULL,
       md5('org' || (1 + i % $4::int))::uuid,
       NULL,
       'Bench project ' || i,
       'Generated for the benchmark.',
       100000,
       1 + (i * 7919) % 400,
       NULL, NULL, NULL, 'single', NULL, 'approved',
       t.at - interval '30 days', t.at - interval '1 day', t.at - interval '60 days', t.at, 1
FROM generate_series(1::bigint, $1::bigint) AS i,
     LATERAL (SELECT timestamptz '2018-01-01 00:00:00+00' + i * interval '1 minute'
                     + ((i * 104729) % 1000000) * interval '1 microsecond' AS at) AS t
"""

ALLOCATIONS_SQL = """
INSERT INTO allocation (id, application_id, programme_id, measure_id, call_id, district_id,
    amount_cents, status, granted_at, granted_by, revoked_at, revoked_by, revocation_reason,
    created_at, updated_at, version)
SELECT md5('alloc' || i)::uuid,
       md5('app' || i)::uuid,
       $4::uuid,
       ($3::uuid[])[1 + i % cardinality($2::uuid[])],
       ($2::uuid[])[1 + i % cardinality($2::uuid[])],
       NULL,
       1 + (i * 7919) % 400,
       'active',
       t.at, 'bench', NULL, NULL, NULL, t.at, t.at, 1
FROM generate_series(1::bigint, $1::bigint) AS i,
     LATERAL (SELECT timestamptz '2018-01-01 00:00:00+00' + i * interval '1 minute'
                     + ((i * 104729) % 1000000) * interval '1 microsecond' AS at) AS t
"""

COUNTERS_SQL = (
    """
    UPDATE call c SET allocated_cents = coalesce(s.amount, 0), funded_projects = coalesce(s.n, 0)
    FROM call c2 LEFT JOIN (
        SELECT call_id, sum(amount_cents) AS amount, count(*) AS n FROM allocation
        WHERE status = 'active' GROUP BY call_id) s ON s.call_id = c2.id
    WHERE c.id = c2.id
    """,
    """
    UPDATE measure m SET allocated_cents = coalesce(s.amount, 0),
        funded_projects = coalesce(s.n, 0)
    FROM measure m2 LEFT JOIN (
        SELECT measure_id, sum(amount_cents) AS amount, count(*) AS n FROM allocation
        WHERE status = 'active' GROUP BY measure_id) s ON s.measure_id = m2.id
    WHERE m.id = m2.id
    """,
    """
    UPDATE programme p SET allocated_cents = coalesce(s.amount, 0),
        funded_projects = coalesce(s.n, 0)
    FROM programme p2 LEFT JOIN (
        SELECT programme_id, sum(amount_cents) AS amount, count(*) AS n FROM allocation
        WHERE status = 'active' GROUP BY programme_id) s ON s.programme_id = p2.id
    WHERE p.id = p2.id
    """,
)

# A pool of applications for a write benchmark to walk, one per request (never the same one
# twice): $1 pool prefix (application i is md5(<prefix> || i)::uuid, see pool_ids), $2 count,
# $3 call ids (application i goes to call i % n), $4 organisations (md5('org' || k), from
# ORGANISATIONS_SQL), $5 status ('draft': not submitted, no dates), $6 requested cents,
# $7 title.
POOL_SQL = """
INSERT INTO application (id, call_id, measure_id, line_id, applicant_organisation_id,
    partnership_id, title, description, total_cost_cents, requested_cents, thematic_area_id,
    district_id, district_slot_id, stage, preliminary_id, status, submitted_at, decided_at,
    created_at, updated_at, version)
SELECT md5($1 || i)::uuid, c.id, c.measure_id, NULL, md5('org' || (1 + i % $4::int))::uuid,
       NULL, $7::text || ' ' || i, 'Generated for the benchmark.', 100000, $6::bigint,
       NULL, NULL, NULL, 'single', NULL, $5::text,
       CASE WHEN $5::text = 'draft' THEN NULL ELSE now() END,
       CASE WHEN $5::text = 'draft' THEN NULL ELSE now() END, now(), now(), 1
FROM generate_series(1, $2::int) AS i
JOIN call c ON c.id = ($3::uuid[])[1 + i % cardinality($3::uuid[])]
"""


def md5_uuid(text: str) -> str:
    """The id ``md5(text)::uuid`` that the generated rows carry, computed here."""
    return str(uuid.UUID(hashlib.md5(text.encode()).hexdigest()))


def pool_ids(prefix: str, count: int) -> list[str]:
    """The ids of a pool made by :func:`add_pool`, in the order it made them."""
    return [md5_uuid(f"{prefix}{i}") for i in range(1, count + 1)]


async def add_pool(
    conn: asyncpg.Connection,
    prefix: str,
    count: int,
    *,
    call_ids: Sequence[str],
    organisations: int,
    status: str,
    requested_cents: int,
    title: str,
) -> None:
    """Insert ``count`` applications of ``status`` spread round-robin over ``call_ids``, each
    from one of the first ``organisations`` generated organisations."""
    await conn.execute(
        POOL_SQL, prefix, count, list(call_ids), organisations, status, requested_cents, title
    )


# Secondary indexes not backing a constraint (pkey / unique constraints stay).
DROPPABLE_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


async def _bulk_load(size: Size) -> dict[str, float]:
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn(size))
    try:
        await conn.execute("SET maintenance_work_mem = '256MB'")
        await conn.execute("SET synchronous_commit = off")
        calls = await conn.fetch(
            "SELECT c.id, c.measure_id, m.programme_id FROM call c "
            "JOIN measure m ON m.id = c.measure_id WHERE c.code = ANY($1::text[]) ORDER BY c.code",
            list(LOADED_CALLS),
        )
        if len(calls) != len(LOADED_CALLS):
            raise RuntimeError(f"expected calls {LOADED_CALLS}, found {len(calls)}")
        call_ids = [row["id"] for row in calls]
        measure_ids = [row["measure_id"] for row in calls]
        programme_id = calls[0]["programme_id"]
        indexes = await conn.fetch(DROPPABLE_INDEXES_SQL, list(BIG_TABLES))
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for index in indexes:
                await conn.execute(f"DROP INDEX {index['name']}")
            started = time.perf_counter()
            await conn.execute(ORGANISATIONS_SQL, size.organisations)
            timings["organisations"] = time.perf_counter() - started
            started = time.perf_counter()
            await conn.execute(
                APPLICATIONS_SQL, size.allocations, call_ids, measure_ids, size.organisations
            )
            timings["applications"] = time.perf_counter() - started
            started = time.perf_counter()
            await conn.execute(
                ALLOCATIONS_SQL, size.allocations, call_ids, measure_ids, programme_id
            )
            timings["allocations"] = time.perf_counter() - started
            started = time.perf_counter()
            for index in indexes:
                await conn.execute(index["definition"])
            timings["indexes"] = time.perf_counter() - started
            started = time.perf_counter()
            for statement in COUNTERS_SQL:
                await conn.execute(statement)
            timings["counters"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) organisation, application, allocation")
        timings["vacuum"] = time.perf_counter() - started
    finally:
        await conn.close()
    return timings


async def ensure(size: Size, *, rebuild: bool = False) -> bool:
    """Build the dataset unless an identical one exists; True when it was (re)built."""
    name = database_name(size)
    wanted = signature(size)
    if not rebuild and await _current_signature(name) == wanted:
        return False
    started = time.perf_counter()
    await _recreate_database(name)
    await _migrate_and_seed(size)
    timings = await _bulk_load(size)
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{wanted}'")
    finally:
        await conn.close()
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    elapsed = time.perf_counter() - started
    print(f"dataset {name} built in {elapsed:.1f} s ({detail})")  # noqa: T201
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--rebuild", action="store_true", help="even when an identical one exists")
    args = parser.parse_args()
    asyncio.run(ensure(SIZES[args.size], rebuild=args.rebuild))
