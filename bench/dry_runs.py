"""Dry runs against the real actions, paired in one run (README "Dry runs"): a submission's
and a grant's.

    .venv/bin/python -m bench.dry_runs                      # 5 rounds x 3 s per side
    .venv/bin/python -m bench.dry_runs --rounds 7 --seconds 4

A throwaway ``bench_dry_runs`` database of its own (migrated from this tree, the WECARE
reference data, 200 organisations): the FSE2 call is opened for submissions (a window open
now, no participation limits) and its measure takes single organisations with no further
eligibility restriction, so every rule is evaluated and passes. Two pools of drafts: the real
submissions walk theirs once (each draft is submitted once, 200 expected), the dry runs walk
theirs over and over (they change nothing; 200 with ``would_succeed`` expected). Both run on
one server (``app.cli serve``, one worker, CPU 0; wrk on CPU 1, as in bench.run) as an
administrator, with ``If-Match: *``. Every round measures both, in a shuffled order; the
server CPU time per request comes from /proc (``bench.run.tree_cpu_seconds``), and the ratio
is the median of the per-round dry ÷ real ratios. Target: at most 0.5.

The grants are measured the same way on two pools of approved applications of the same call
(EUR 1.00 each, far within the call's EUR 3.6 million; the measure's project cap lifted so
every real grant fits): ``POST /api/v1/allocations`` once per application (201) against the
same body with ``?dry_run=true`` over and over (200, ``would_succeed``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from app.core.auth import Role
from app.core.config import Settings
from app.db import migrations
from app.db.session import Database, create_engine
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from app.services.users import create_user
from bench import dataset
from bench.dataset import md5_uuid
from bench.run import Server, start_server, tree_cpu_seconds, wrk, wrk_post

NAME = "bench_dry_runs"
DSN = f"postgresql://postgres@127.0.0.1:5432/{NAME}"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{NAME}"
ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "bench admin password 2026"
ORGANISATIONS = 200
REAL_POOL = 30_000  # submissions are ~100-300/s on one core: more than 5 rounds x 4 s use
DRY_POOL = 2_000
GRANT_POOL = 30_000  # approved applications for real grants (EUR 1.00 each)
CALL = "WECARE-FSE2-2018"  # opened by OPEN_SQL; every pool goes to it

OPEN_SQL = [
    "UPDATE measure SET applicant_forms = '[\"organisation\"]', eligible_legal_natures = '[]',"
    " eligible_size_classes = '[]', eligible_profit_statuses = '[]',"
    " requires_accompaniment_experience = false, lead_must_be_district_lead = false,"
    " required_member_natures = '[]', min_required_members = 0,"
    " required_members_in_piemonte = false, two_stage_submission = false,"
    " one_per_district = false WHERE code = 'FSE2'",
    "UPDATE measure SET max_funded_projects = NULL WHERE code = 'FSE2'",
    "UPDATE call SET status = 'published' WHERE code = 'WECARE-FSE2-2018'",
    "DELETE FROM call_participation_limit WHERE call_id ="
    " (SELECT id FROM call WHERE code = 'WECARE-FSE2-2018')",
    "INSERT INTO call_phase (id, call_id, ordinal, kind, opens_at, closes_at)"
    " SELECT md5('drphase')::uuid, id, 99, 'submission', now() - interval '1 day',"
    " now() + interval '30 days' FROM call WHERE code = 'WECARE-FSE2-2018'",
]

LUA = """
-- args: ids file, expected status, authorization, path ({id} = next line), and a JSON body
-- ({id} = the same line) or "" for none
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ids = {}
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  expected = tonumber(args[2])
  template = args[4]
  body = args[5]
  wrk.method = "POST"
  if body ~= "" then wrk.headers["Content-Type"] = "application/json" end
  wrk.headers["Authorization"] = args[3]
  wrk.headers["If-Match"] = "*"
  issued, unexpected = 0, 0
end
function request()
  issued = issued + 1
  local id = ids[((issued - 1) % #ids) + 1]
  local payload = nil
  if body ~= "" then payload = (string.gsub(body, "{id}", id)) end
  return wrk.format(nil, (string.gsub(template, "{id}", id)), nil, payload)
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


async def prepare() -> None:
    """(Re)create bench_dry_runs: schema, reference data, organisations, the open call, the
    two pools of drafts and the administrator."""
    conn = await asyncpg.connect(dataset.SERVER_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{NAME}"')
    finally:
        await conn.close()
    engine = create_engine(Settings(database_url=URL))
    try:
        await migrations.upgrade(engine)
        async with Database(engine).session(write=True) as session:
            await load_reference_data(session, read_reference_file(WECARE_FILE))
        async with Database(engine).session(write=True) as session:
            await create_user(
                session,
                email=ADMIN_EMAIL,
                display_name="Bench administrator",
                password=ADMIN_PASSWORD,
                role=Role.ADMINISTRATOR,
                organisation_ids=[],
            )
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(DSN)
    try:
        async with conn.transaction():
            await conn.execute(dataset.ORGANISATIONS_SQL, ORGANISATIONS)
            for statement in OPEN_SQL:
                await conn.execute(statement)
            call_id = str(await conn.fetchval("SELECT id FROM call WHERE code = $1", CALL))
            pools = [
                ("drreal", REAL_POOL, "draft"),
                ("drdry", DRY_POOL, "draft"),
                ("drgreal", GRANT_POOL, "approved"),
                ("drgdry", DRY_POOL, "approved"),
            ]
            for pool, count, status in pools:
                await dataset.add_pool(
                    conn,
                    pool,
                    count,
                    call_ids=[call_id],
                    organisations=ORGANISATIONS,
                    status=status,
                    requested_cents=100000,
                    title="Bench draft",
                )
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


def login(server: Server) -> str:
    import json
    import urllib.request

    body = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    request = urllib.request.Request(
        server.base + "/api/v1/auth/login",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token: str = json.loads(response.read())["access_token"]
    return token


@dataclass
class Submits:
    """POSTs to ``path`` with ``body`` (``{id}`` = the next id of ``ids`` in both), expecting
    ``status``."""

    server: Server
    path: str
    ids: list[str]
    authorization: str
    workdir: Path
    walk: bool
    status: int = 200
    body: str = ""
    offset: int = 0

    def run_once(self, seconds: float) -> tuple[int, int]:
        script = self.workdir / "submit.lua"
        if not script.exists():
            script.write_text(LUA)
        remaining = self.ids[self.offset :] if self.walk else self.ids
        if not remaining:
            raise RuntimeError(f"{self.path}: the pool of {len(self.ids)} drafts is used up")
        listing = self.workdir / f"ids-{id(self)}.txt"
        listing.write_text("\n".join(remaining) + "\n")
        args = [str(listing), str(self.status), self.authorization, self.path, self.body]
        requests, _rps, _p50, _p99, errors, issued = wrk_post(
            self.server.base + "/", seconds, script, args
        )
        if self.walk:
            self.offset += issued
            if self.offset > len(self.ids):
                raise RuntimeError(f"{self.path}: the pool of {len(self.ids)} drafts ran out")
        return requests, errors

    def cpu_us(self, seconds: float) -> float:
        self.run_once(1.0)  # warm-up, not counted
        before = tree_cpu_seconds(self.server.process.pid)
        requests, errors = self.run_once(seconds)
        cpu = tree_cpu_seconds(self.server.process.pid) - before
        if errors:
            raise RuntimeError(f"{self.path}: {errors} unexpected responses")
        return cpu * 1e6 / max(requests, 1)


def read_cpu_us(server: Server, path: str, authorization: str, seconds: float) -> float:
    """The floor: a GET of one draft by id (the same token, load, visibility and ETag)."""
    headers = (f"Authorization: {authorization}",)
    wrk(server.base + path, 1, headers)  # warm-up, not counted
    before = tree_cpu_seconds(server.process.pid)
    requests, _rps, _p50, _p99, errors = wrk(server.base + path, seconds, headers)
    if errors:
        raise RuntimeError(f"{path}: {errors} errors")
    return (tree_cpu_seconds(server.process.pid) - before) * 1e6 / max(requests, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(prepare())
    sides = ["real", "dry", "read", "grant", "grant_dry"]
    results: dict[str, list[float]] = {side: [] for side in sides}
    grant_body = '{"application_id": "{id}", "amount": "1.00"}'
    with tempfile.TemporaryDirectory(prefix="bench-dry-runs-") as tmp:
        work = Path(tmp)
        env = {"WECARE_DATABASE_URL": URL, "WECARE_LOG_LEVEL": "WARNING"}
        server = start_server("dry-runs", ["-m", "app.cli", "serve", "--workers", "1"], env, work)
        try:
            bearer = f"Bearer {login(server)}"
            loads = {
                "real": Submits(
                    server,
                    "/api/v1/applications/{id}/submit",
                    [md5_uuid(f"drreal{i}") for i in range(1, REAL_POOL + 1)],
                    bearer,
                    work,
                    walk=True,
                ),
                "dry": Submits(
                    server,
                    "/api/v1/applications/{id}/submit?dry_run=true",
                    [md5_uuid(f"drdry{i}") for i in range(1, DRY_POOL + 1)],
                    bearer,
                    work,
                    walk=False,
                ),
                "grant": Submits(
                    server,
                    "/api/v1/allocations",
                    [md5_uuid(f"drgreal{i}") for i in range(1, GRANT_POOL + 1)],
                    bearer,
                    work,
                    walk=True,
                    status=201,
                    body=grant_body,
                ),
                "grant_dry": Submits(
                    server,
                    "/api/v1/allocations?dry_run=true",
                    [md5_uuid(f"drgdry{i}") for i in range(1, DRY_POOL + 1)],
                    bearer,
                    work,
                    walk=False,
                    body=grant_body,
                ),
            }
            for number in range(1, args.rounds + 1):
                random.shuffle(sides)
                for side in sides:
                    if side == "read":
                        path = f"/api/v1/applications/{md5_uuid('drdry1')}"
                        results[side].append(read_cpu_us(server, path, bearer, args.seconds))
                    else:
                        results[side].append(loads[side].cpu_us(args.seconds))
                print(f"round {number}/{args.rounds} done", file=sys.stderr)  # noqa: T201
        finally:
            server.process.terminate()
            server.process.wait(10)
    print("\n".join(report(args.rounds, args.seconds, results)))  # noqa: T201


def report(rounds: int, seconds: float, results: dict[str, list[float]]) -> list[str]:
    def ratio(top: str, bottom: str) -> float:
        pairs = zip(results[top], results[bottom], strict=True)
        return statistics.median(t / b for t, b in pairs)

    def median(side: str) -> str:
        return f"{statistics.median(results[side]):.0f}"

    def rounds_of(*names: str) -> str:
        return ", ".join(
            "(" + ", ".join(f"{v:.0f}" for v in values) + ")"
            for values in zip(*(results[n] for n in names), strict=True)
        )

    return [
        f"{rounds} rounds x {seconds:g} s per side, one server; server CPU us/request "
        "(median of rounds); ratio = median of per-round dry / real",
        "",
        "| action | CPU us/request |",
        "|---|---|",
        f"| submission, real (200, submitted) | {median('real')} |",
        f"| submission, dry run (200, would_succeed) | {median('dry')} |",
        f"| read by id (GET, 200: the floor of any call on it) | {median('read')} |",
        f"| grant, real (201, granted) | {median('grant')} |",
        f"| grant, dry run (200, would_succeed) | {median('grant_dry')} |",
        f"| submission dry / real | {ratio('dry', 'real'):.3f} (target <= 0.5) |",
        f"| grant dry / real | {ratio('grant_dry', 'grant'):.3f} (target <= 0.5) |",
        f"| read / real submission | {ratio('read', 'real'):.3f} |",
        "",
        "per round (real, dry, read): " + rounds_of("real", "dry", "read"),
        "per round (grant, grant dry): " + rounds_of("grant", "grant_dry"),
    ]


if __name__ == "__main__":
    main()
