"""The write side: a throwaway ``bench_grants`` database for grant, refusal and token scenarios.

It is a copy (``CREATE DATABASE ... TEMPLATE``) of the small dataset plus a BENCH programme of
our own: 5 measures; 50 "spread" calls with large budgets; one HOT call; F100 and F100K, calls
that already hold 100 and 100,000 active allocations; and FULL, a call whose budget is 0 (every
grant on it is refused). Every call gets a pool of approved applications without an
allocation, addressed by ``md5(<pool> || i)::uuid``, so wrk's Lua script can walk them one per
request and no grant is a duplicate. ``bd<n>`` applications are for pgbench (D), drawn with a
sequence. An officer (created with ``app.services.users.create_user``) and a partner client
(``app.services.clients.register_client``) are added; tokens come from the HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

from app.core.auth import Role
from app.core.config import Settings
from app.db.session import Database, create_engine
from app.repositories import consistency
from app.services.clients import register_client
from app.services.users import create_user
from bench import dataset
from bench.dataset import md5_uuid

NAME = "bench_grants"
DSN = f"postgresql://postgres@127.0.0.1:5432/{NAME}"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{NAME}"
OFFICER_EMAIL = "bench-officer@example.org"
OFFICER_PASSWORD = "bench officer password 2026"
SPREAD_CALLS = 50
AMOUNT_CENTS = 100  # every grant is EUR 1.00
# Approved applications without an allocation, per pool (app grants are ~100-300/s).
POOLS = {"bspread": 20_000, "bhot": 20_000, "bf100-": 10_000, "bf100k-": 10_000}
# Spread calls too: the storm's grants, the same number one at a time, and the in-process
# critical-section runs (bench/storm.py).
POOLS |= {"bstorm": 400, "bsingle": 400, "bcs": 400}
D_POOL = 40_000  # pgbench (D) applications, taken with nextval("bench_d_seq")
PROGRAMME_ID = "md5('bprog')::uuid"


def pool_ids(pool: str) -> list[str]:
    return dataset.pool_ids(pool, POOLS[pool])


def _calls(*tags: str) -> list[str]:
    """The ids of BENCH calls (STRUCTURE_SQL gives call TAG the id md5('bc' || TAG))."""
    return [md5_uuid(f"bc{tag}") for tag in tags]


async def _approved(
    conn: asyncpg.Connection, pool: str, count: int, tags: list[str], organisations: int
) -> None:
    """A pool of approved applications of EUR 10.00 requested, without an allocation."""
    await dataset.add_pool(
        conn,
        pool,
        count,
        call_ids=_calls(*tags),
        organisations=organisations,
        status="approved",
        requested_cents=1000,
        title="Bench grant",
    )


@dataclass(frozen=True)
class Setup:
    client_id: str
    client_secret: str
    full_application: str  # an approved application of the FULL call (always refused)
    organisation_id: str  # read by S6 with the officer's token


STRUCTURE_SQL = [
    "CREATE TEMP TABLE p AS SELECT * FROM programme WHERE code = 'WECARE'",
    f"UPDATE p SET id = {PROGRAMME_ID}, code = 'BENCH', total_budget_cents = 1000000000000000,"
    " measures_budget_cents = 0, allocated_cents = 0, funded_projects = 0",
    "INSERT INTO programme SELECT * FROM p",
    "CREATE TEMP TABLE m AS SELECT * FROM measure WHERE code = 'FSE2'",
    "CREATE TEMP TABLE mm AS SELECT m.*, k FROM m, generate_series(1, 5) AS k",
    f"UPDATE mm SET id = md5('bm' || k)::uuid, programme_id = {PROGRAMME_ID}, code = 'BM' || k,"
    " ordinal = 100 + k, budget_cents = 100000000000000, calls_budget_cents = 0,"
    " allocated_cents = 0, funded_projects = 0, max_funded_projects = NULL,"
    " one_per_district = false",
    "ALTER TABLE mm DROP COLUMN k",
    "INSERT INTO measure SELECT * FROM mm",
    "CREATE TEMP TABLE c AS SELECT * FROM call WHERE code = 'WECARE-FSE2-2018'",
    # Spread calls S1..S50 on measures BM1..BM4; HOT, F100, F100K and FULL on BM5.
    "CREATE TEMP TABLE cc AS SELECT c.*, s.tag, s.measure, s.budget FROM c, ("
    " SELECT 'S' || k AS tag, 1 + k % 4 AS measure, 1000000000000::bigint AS budget"
    f" FROM generate_series(1, {SPREAD_CALLS}) AS k"
    " UNION ALL VALUES ('HOT', 5, 1000000000000::bigint), ('F100', 5, 1000000000000::bigint),"
    " ('F100K', 5, 1000000000000::bigint), ('FULL', 5, 0::bigint)) AS s",
    "UPDATE cc SET id = md5('bc' || tag)::uuid, code = 'BENCH-' || tag, line_id = NULL,"
    " measure_id = md5('bm' || measure)::uuid, budget_cents = budget, allocated_cents = 0,"
    " funded_projects = 0",
    "ALTER TABLE cc DROP COLUMN tag, DROP COLUMN measure, DROP COLUMN budget",
    "INSERT INTO call SELECT * FROM cc",
]

# $1 pool prefix, $2 count: an active allocation for each application of the pool.
ALLOCATIONS_SQL = """
INSERT INTO allocation (id, application_id, programme_id, measure_id, call_id, district_id,
    amount_cents, status, granted_at, granted_by, revoked_at, revoked_by, revocation_reason,
    created_at, updated_at, version)
SELECT md5('balloc' || a.id)::uuid, a.id, m.programme_id, a.measure_id, a.call_id, NULL,
       100, 'active', now() - i * interval '1 second', 'bench', NULL, NULL, NULL,
       now(), now(), 1
FROM generate_series(1, $2::int) AS i
JOIN application a ON a.id = md5($1 || i)::uuid
JOIN measure m ON m.id = a.measure_id
"""

BUDGETS_SQL = [
    "UPDATE measure m SET calls_budget_cents = (SELECT coalesce(sum(budget_cents), 0)"
    " FROM call WHERE measure_id = m.id) WHERE programme_id = md5('bprog')::uuid",
    "UPDATE programme p SET measures_budget_cents = (SELECT sum(budget_cents) FROM measure"
    " WHERE programme_id = p.id) WHERE id = md5('bprog')::uuid",
]


async def _recreate(template: dataset.Size) -> None:
    conn = await asyncpg.connect(dataset.SERVER_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{NAME}" TEMPLATE "{dataset.database_name(template)}"')
    finally:
        await conn.close()


async def prepare(template: dataset.Size) -> Setup:
    """(Re)create bench_grants from ``template``, with the BENCH programme and the callers."""
    await _recreate(template)
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute("SET synchronous_commit = off")
        async with conn.transaction():
            # Generated rows reference rows of this same transaction: skip the FK triggers.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for statement in STRUCTURE_SQL:
                await conn.execute(statement)
            spread = [f"S{k}" for k in range(1, SPREAD_CALLS + 1)]
            orgs = template.organisations
            tags = {"bspread": spread, "bhot": ["HOT"], "bf100-": ["F100"], "bf100k-": ["F100K"]}
            tags |= {"bstorm": spread, "bsingle": spread, "bcs": spread}
            for pool, count in POOLS.items():
                await _approved(conn, pool, count, tags[pool], orgs)
            await _approved(conn, "bpre100-", 100, ["F100"], orgs)
            await _approved(conn, "bpre100k-", 100_000, ["F100K"], orgs)
            await _approved(conn, "bfull", 1, ["FULL"], orgs)
            await _approved(conn, "bcount", 1, ["HOT"], orgs)  # statements
            await _approved(conn, "bd", D_POOL, spread, orgs)
            await conn.execute(ALLOCATIONS_SQL, "bpre100-", 100)
            await conn.execute(ALLOCATIONS_SQL, "bpre100k-", 100_000)
            for statement in (*BUDGETS_SQL, *dataset.COUNTERS_SQL):
                await conn.execute(statement)
            await conn.execute("CREATE SEQUENCE bench_d_seq")
        await conn.execute("VACUUM (ANALYZE) application, allocation, call, measure, programme")
        organisation_id = await conn.fetchval("SELECT id FROM organisation ORDER BY id LIMIT 1")
    finally:
        await conn.close()
    engine = create_engine(Settings(database_url=URL))
    try:
        async with Database(engine).session(write=True) as session:
            await create_user(
                session,
                email=OFFICER_EMAIL,
                display_name="Bench officer",
                password=OFFICER_PASSWORD,
                role=Role.OFFICER,
                organisation_ids=[],
            )
            registered = await register_client(
                session,
                settings=Settings(database_url=URL),
                name="Bench partner",
                scopes=["allocations:read"],
            )
    finally:
        await engine.dispose()
    return Setup(
        client_id=registered.client.client_id,
        client_secret=registered.secret,
        full_application=md5_uuid("bfull1"),
        organisation_id=str(organisation_id),
    )


def d_script(call: str) -> str:
    """The capped transaction as pgbench SQL (call: 'spread' = one of S1..S50, or a tag)."""
    if call == "spread":
        head = f"\\set k random(1, {SPREAD_CALLS})\n"
        call_id, measure_id = "md5('bcS' || :k)::uuid", "md5('bm' || (1 + :k % 4))::uuid"
    else:
        head = ""
        call_id, measure_id = f"md5('bc{call}')::uuid", "md5('bm5')::uuid"
    cents = AMOUNT_CENTS
    return (
        head + "BEGIN;\n" + f"UPDATE programme SET allocated_cents = allocated_cents + {cents}, "
        "funded_projects = funded_projects + 1 "
        f"WHERE id = {PROGRAMME_ID} AND allocated_cents + {cents} <= total_budget_cents;\n"
        f"UPDATE measure SET allocated_cents = allocated_cents + {cents}, "
        "funded_projects = funded_projects + 1 "
        f"WHERE id = {measure_id} AND allocated_cents + {cents} <= budget_cents "
        "AND (max_funded_projects IS NULL OR funded_projects + 1 <= max_funded_projects);\n"
        f"UPDATE call SET allocated_cents = allocated_cents + {cents}, "
        "funded_projects = funded_projects + 1 "
        f"WHERE id = {call_id} AND allocated_cents + {cents} <= budget_cents;\n"
        "INSERT INTO allocation (id, application_id, programme_id, measure_id, call_id, "
        "district_id, amount_cents, status, granted_at, granted_by, revoked_at, revoked_by, "
        "revocation_reason, created_at, updated_at, version) VALUES (gen_random_uuid(), "
        f"md5('bd' || nextval('bench_d_seq'))::uuid, {PROGRAMME_ID}, {measure_id}, {call_id}, "
        f"NULL, {cents}, 'active', now(), 'bench', NULL, NULL, NULL, now(), now(), 1);\n"
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE;\n"
        "INSERT INTO audit_event (seq, occurred_at, actor_type, actor_id, request_id, "
        "idempotency_key, action, entity_type, entity_id, before, after, reason, prev_hash, "
        "hash) SELECT seq + 1, now(), 'user', 'bench', NULL, NULL, 'allocation.grant', "
        "'allocation', 'bench', NULL, "
        '\'{"amount_cents":100,"status":"active","granted_by":"bench",'
        '"id":"00000000-0000-0000-0000-000000000000"}\', NULL, hash, '
        "md5(hash) || md5(hash) FROM audit_head WHERE id = 1;\n"
        "UPDATE audit_head SET seq = seq + 1, hash = md5(hash) || md5(hash) WHERE id = 1;\n"
        "COMMIT;\n"
    )


@dataclass(frozen=True)
class Soundness:
    differences: list[str]
    over_cap: list[str]
    grants: int  # allocations granted in BENCH calls during the run (app and D)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.over_cap


async def soundness() -> Soundness:
    """``wecare check`` (consistency.differences) plus: no counter above its cap."""
    engine = create_engine(Settings(database_url=URL))
    try:
        async with engine.connect() as connection:
            found = [str(d) for d in await consistency.differences(connection)]
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(DSN)
    try:
        over = await conn.fetch(
            "SELECT 'programme ' || code AS name FROM programme "
            "WHERE allocated_cents > total_budget_cents "
            "UNION ALL SELECT 'measure ' || code FROM measure WHERE allocated_cents > budget_cents"
            " OR funded_projects > coalesce(max_funded_projects, funded_projects) "
            "UNION ALL SELECT 'call ' || code FROM call WHERE allocated_cents > budget_cents"
        )
        grants = await conn.fetchval(
            "SELECT count(*) FROM allocation WHERE programme_id = md5('bprog')::uuid "
            "AND granted_by <> 'bench'"
        )
    finally:
        await conn.close()
    return Soundness(found, [str(r["name"]) for r in over], int(grants))


LUA = """
-- args: ids file, expected status, content type, authorization, body ({id} = next line)
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ids = {}
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  expected = tonumber(args[2])
  template = args[5]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = args[3]
  wrk.headers["Authorization"] = args[4]
  issued, unexpected = 0, 0
end
function request()
  issued = issued + 1
  local id = ids[((issued - 1) % #ids) + 1]
  return wrk.format(nil, nil, nil, (string.gsub(template, "{id}", id)))
end
function response(status, headers, body)
  if status ~= expected then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local n, bad = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("issued")
    bad = bad + t:get("unexpected")
  end
  io.write(string.format("bench-issued: %d\\nbench-unexpected: %d\\n", n, bad))
end
"""
