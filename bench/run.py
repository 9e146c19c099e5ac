"""The benchmark: the real server against in-run baselines, written to bench/RESULTS.md.

    .venv/bin/python -m bench.run            # 1,000,000 allocations vs 10,000 (about 5 min)
    .venv/bin/python -m bench.run --quick    # 100,000 vs 10,000, shorter runs

Datasets are built by ``bench.dataset`` (reused when unchanged). The servers run on CPU 0
(``taskset -c 0``), wrk and pgbench on CPU 1. The primary metric is the server's CPU time per
request: utime+stime of the server's process tree from /proc, after minus before, divided by
the requests wrk completed. Every (scenario, implementation) pair is measured once per round,
in a shuffled order; medians over the rounds are reported.

Implementations: ``app`` (``python -m app.cli serve``), ``L`` (bench/baseline_asgi.py: bare
ASGI + asyncpg + orjson, same SQL, same bytes), ``P`` (bench/peer_fastapi.py: FastAPI + ORM
entities + OFFSET + COUNT), ``D`` (pgbench running the same SQL; tps only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from app.services.paging import encode_cursor
from bench import dataset, grants, statements, storm

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
CALL_CODE = "WECARE-FSE2-2018"
PAGE = 50
CONNECTIONS = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = "0", "1"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path


@dataclass
class Measurement:
    cpu_us: float | None  # server CPU per request (None for pgbench)
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int


@dataclass
class Case:
    scenario: str
    impl: str
    run: Callable[[float], Measurement]
    results: list[Measurement] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    name: str, module_args: list[str], env: dict[str, str], logs: Path, cwd: Path = ROOT
) -> Server:
    """The server pinned to the server CPU, once it answers /healthz (``env`` may name
    another public base URL; by default its own address)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = logs / f"{name}.log"
    command = ["taskset", "-c", SERVER_CPU, sys.executable, *module_args, "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, "WECARE_PUBLIC_BASE_URL": base, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start within 60 s")
        time.sleep(0.2)
    return Server(name, process, base, log)


def app_server(db: dataset.Size, logs: Path) -> Server:
    env = {"WECARE_DATABASE_URL": dataset.sqlalchemy_url(db), "WECARE_LOG_LEVEL": "WARNING"}
    args = ["-m", "app.cli", "serve", "--workers", "1"]
    return start_server(f"app-{db.name}", args, env, logs)


def uvicorn_server(name: str, target: str, env: dict[str, str], logs: Path) -> Server:
    args = ["-m", "uvicorn", target, "--workers", "1", "--log-level", "warning", "--no-access-log"]
    return start_server(name, args, env, logs)


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of ``root`` and its live descendants, plus its reaped children."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        stats[int(entry.name)] = raw[raw.rindex(")") + 2 :].split()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    ticks, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid in stats:
            fields = stats[pid]
            # Fields after the command: state=0, ppid=1, ... utime=11, stime=12, cutime=13..
            ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            stack.extend(children.get(pid, []))
    return ticks / CLK_TCK


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(value)
    number, unit = float(match.group(1)), match.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    url: str, seconds: float, headers: tuple[str, ...] = ()
) -> tuple[int, float, float, float, int]:
    """(requests, req/s, p50 ms, p99 ms, errors) from one wrk run on the load CPU."""
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}"]
    command += [arg for header in headers for arg in ("-H", header)]
    command += [f"-d{max(1, round(seconds))}s", "--latency", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    if (non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) is not None:
        errors += int(non_2xx.group(1))
    if (socket_errors := re.search(r"Socket errors: (.*)", out)) is not None:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return requests, rps, p50, p99, errors


def wrk_post(
    url: str, seconds: float, script: Path, args: list[str], connections: int = CONNECTIONS
) -> tuple[int, float, float, float, int, int]:
    """(requests, req/s, p50, p99, errors, issued) of a wrk run with the POST Lua script; an
    error is a response whose status is not the expected one, or a socket error."""
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", "--timeout", "10s"]
    command += [f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url, "--", *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    issued = int(re.search(r"bench-issued: (\d+)", out).group(1))  # type: ignore[union-attr]
    errors = int(re.search(r"bench-unexpected: (\d+)", out).group(1))  # type: ignore[union-attr]
    if (socket_errors := re.search(r"Socket errors: (.*)", out)) is not None:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return requests, rps, p50, p99, errors, issued


@dataclass
class PostLoad:
    """POSTs whose body takes the next line of ``lines`` (walked once, never repeated when
    ``walk``), expecting ``status``."""

    server: Server
    path: str
    lines: list[str]
    status: int
    content_type: str
    authorization: str
    body: str
    workdir: Path
    walk: bool = True
    connections: int = CONNECTIONS
    offset: int = 0

    def run_once(self, seconds: float) -> tuple[int, float, float, float, int, int]:
        script = self.workdir / "post.lua"
        if not script.exists():
            script.write_text(grants.LUA)
        remaining = self.lines[self.offset :] if self.walk else self.lines
        if not remaining:
            raise RuntimeError(f"{self.path}: the pool of {len(self.lines)} ids is used up")
        ids = self.workdir / f"ids-{id(self)}.txt"
        ids.write_text("\n".join(remaining) + "\n")
        args = [str(ids), str(self.status), self.content_type, self.authorization, self.body]
        result = wrk_post(self.server.base + self.path, seconds, script, args, self.connections)
        if self.walk:
            self.offset += result[5]
            if self.offset > len(self.lines):  # wrapped around: duplicates were sent
                raise RuntimeError(f"{self.path}: the pool of {len(self.lines)} ids ran out")
        return result

    def __call__(self, seconds: float) -> Measurement:
        self.run_once(min(1.0, seconds))  # warm-up, not counted
        before = tree_cpu_seconds(self.server.process.pid)
        requests, rps, p50, p99, errors, _ = self.run_once(seconds)
        cpu = tree_cpu_seconds(self.server.process.pid) - before
        return Measurement(cpu * 1e6 / max(requests, 1), rps, p50, p99, errors)


def login(server: Server) -> str:
    body = json.dumps({"email": grants.OFFICER_EMAIL, "password": grants.OFFICER_PASSWORD})
    request = urllib.request.Request(
        server.base + "/api/v1/auth/login",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token: str = json.loads(response.read())["access_token"]
    return token


def http_case(
    server: Server, path: str, headers: tuple[str, ...] = ()
) -> Callable[[float], Measurement]:
    url = server.base + path

    def run(seconds: float) -> Measurement:
        wrk(url, min(1.0, seconds), headers)  # warm-up, not counted
        before = tree_cpu_seconds(server.process.pid)
        requests, rps, p50, p99, errors = wrk(url, seconds, headers)
        cpu = tree_cpu_seconds(server.process.pid) - before
        return Measurement(cpu * 1e6 / max(requests, 1), rps, p50, p99, errors)

    return run


def pgbench_case(
    db: dataset.Size | str, sql: str, workdir: Path, *, script_text: bool = False
) -> Callable[[float], Measurement]:
    """pgbench on ``db`` (a dataset or a database name): one statement, or a whole script."""
    script = workdir / f"pgbench-{abs(hash(sql))}.sql"
    script.write_text(sql if script_text else sql + ";\n")
    name = db if isinstance(db, str) else dataset.database_name(db)

    def run(seconds: float) -> Measurement:
        command = ["taskset", "-c", LOAD_CPU, "pgbench", "-h", "127.0.0.1", "-U", "postgres"]
        command += ["-n", "-M", "prepared", "-c", str(CONNECTIONS), "-j", "1"]
        command += ["-T", str(max(1, round(seconds))), "-f", str(script)]
        command += [name]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
        latency = re.search(r"latency average = ([\d.]+) ms", out)
        p50 = float(latency.group(1)) if latency else None  # average, not a percentile
        failed = re.search(r"number of failed transactions: (\d+)", out)
        return Measurement(None, tps, p50, None, int(failed.group(1)) if failed else 0)

    return run


@dataclass(frozen=True)
class Targets:
    call_id: str
    programme_id: str
    deep_cursor: str
    deep_page: int
    count: int
    deep_after: tuple[datetime, str]


async def targets(db: dataset.Size) -> Targets:
    conn = await asyncpg.connect(dataset.dsn(db))
    try:
        call_id = await conn.fetchval("SELECT id FROM call WHERE code = $1", CALL_CODE)
        programme_id = await conn.fetchval("SELECT id FROM programme WHERE code = 'WECARE'")
        count = await conn.fetchval(
            "SELECT count(*) FROM allocation WHERE status = 'active' AND call_id = $1", call_id
        )
        # The row just before the last page: its cursor asks for the final PAGE rows.
        row = await conn.fetchrow(
            "SELECT granted_at, id FROM allocation WHERE status = 'active' AND call_id = $1 "
            "ORDER BY granted_at, id OFFSET $2 LIMIT 1",
            call_id,
            count - PAGE - 1,
        )
    finally:
        await conn.close()
    return Targets(
        call_id=str(call_id),
        programme_id=str(programme_id),
        deep_cursor=encode_cursor(row["granted_at"], row["id"]),
        deep_page=(count + PAGE - 1) // PAGE,
        count=int(count),
        deep_after=(row["granted_at"], str(row["id"])),
    )


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
    return body


SELECT_PAGE = (
    "SELECT id, application_id, programme_id, measure_id, call_id, district_id, amount_cents, "
    "status, granted_at, granted_by, revoked_at, revoked_by, revocation_reason FROM allocation "
    "WHERE status = 'active' AND call_id = '{call}'"
)


def pgbench_sql(t: Targets) -> dict[str, str]:
    first = SELECT_PAGE.format(call=t.call_id) + f" ORDER BY granted_at, id LIMIT {PAGE + 1}"
    at, row_id = t.deep_after
    deep = (
        SELECT_PAGE.format(call=t.call_id)
        + f" AND (granted_at, id) > ('{at.isoformat()}', '{row_id}')"
        + f" ORDER BY granted_at, id LIMIT {PAGE + 1}"
    )
    programme = f"SELECT * FROM programme WHERE id = '{t.programme_id}'"
    return {"S1": first, "S2": deep, "S4": programme}


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def versions() -> str:
    packages = ["fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn", "orjson"]
    found = []
    for name in packages:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return ", ".join([f"Python {platform.python_version()}", *found, pg, *(wrk_v[:1])])


def machine() -> str:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("PASS" if ok else "FAIL")


def report(
    cases: list[Case],
    *,
    big: dataset.Size,
    small: dataset.Size,
    rounds: int,
    seconds: float,
    same_bytes: dict[str, bool],
    elapsed: float,
    extra: Extra,
) -> str:
    by: dict[tuple[str, str], dict[str, float | None]] = {}
    for case in cases:
        by[(case.scenario, case.impl)] = {
            "cpu": median([m.cpu_us for m in case.results]),
            "rps": median([m.rps for m in case.results]),
            "p50": median([m.p50_ms for m in case.results]),
            "p99": median([m.p99_ms for m in case.results]),
            "errors": float(sum(m.errors for m in case.results)),
        }

    def cpu(scenario: str, impl: str) -> float | None:
        return by.get((scenario, impl), {}).get("cpu")

    per_round = {(case.scenario, case.impl): case.results for case in cases}

    def paired(a: tuple[str, str], b: tuple[str, str]) -> float | None:
        """CPU/request a ÷ b: the median of the per-round ratios. Both sides run in every
        round, so a round in which the shared machine is slower for all cancels out."""
        ratios = [
            x.cpu_us / y.cpu_us
            for x, y in zip(per_round.get(a, []), per_round.get(b, []), strict=False)
            if x.cpu_us and y.cpu_us
        ]
        return median(list(ratios)) if ratios else None

    def rps(scenario: str, impl: str) -> float | None:
        return by.get((scenario, impl), {}).get("rps")

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    titles = {
        "S1": f"S1 — first page of 50, filtered by call ({big.allocations:,} allocations)",
        "S2": f"S2 — deepest page of 50, same call ({big.allocations:,} allocations)",
        "S3": f"S3 — first page of 50 on the small dataset ({small.allocations:,} allocations)",
        "S4": "S4 — one programme by id (GET /api/v1/programmes/{id})",
        "S6": "S6 — one organisation by id, officer bearer token (GET /api/v1/organisations/{id}: "
        "token verified, revocation and account checked, object-level access)",
        "S7": "S7 — one application by id, officer bearer token (GET /api/v1/applications/{id}: "
        "the principal in one statement, the application in one)",
        "S5": f"S5 — S1 with a total: first page of 50 by call, `include_total=true` "
        f"({big.allocations:,} allocations)",
        "G1": f"G1 — grant allocation, spread over {grants.SPREAD_CALLS} calls / 4 measures "
        "(POST /api/v1/allocations, officer bearer token)",
        "G2": "G2 — grant allocation, one hot call (all grants on BENCH-HOT)",
        "G3": "G3 — over-cap refusal: grants on an exhausted call (expect 409 each)",
        "G4": "G4 — token endpoint, 2 connections (POST /api/v1/oauth/token, client_credentials, "
        "client_secret_basic; argon2id verification by design)",
        "G5": "G5 — grant on a call holding 100 allocations",
        "G6": "G6 — grant on a call holding 100,000 allocations",
        "Q1": f"Q1 — SQLite: first page of 50, by call ({small.allocations:,} allocations)",
        "Q2": f"Q2 — SQLite: deepest page of 50, same call ({small.allocations:,} allocations)",
    }
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `.venv/bin/python -m bench.run{' --quick' if big.name != 'full' else ''}`"
        f" on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s. "
        f"{rounds} rounds x {seconds:g} s per case (after a 1 s warm-up), order shuffled per "
        "round (each family of scenarios back to back), medians shown; a ratio is the "
        f"median of the per-round ratios. wrk: 1 thread, {CONNECTIONS} connections, on CPU "
        f"{LOAD_CPU}; "
        f"every server pinned to CPU {SERVER_CPU}; PostgreSQL not pinned (it is the system "
        "service).",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {versions()}",
        "- CPU/request = (utime+stime of the server process tree, after - before) / requests "
        "completed by wrk. D (pgbench) reports transactions/s; its latency column is pgbench's "
        "average, not p50.",
        "- L returns byte-identical bodies to the app: "
        + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same_bytes.items())
        + " (S4: L has the same fields but no ETag header).",
        "- Writes (G*) run on `bench_grants`, a fresh copy of the small dataset plus a BENCH "
        "programme (bench/grants.py); every grant is EUR 1.00 on a different approved "
        "application (wrk's Lua script walks a list of ids). For G1-G6 `errors` counts "
        "responses other than the expected status (201; 409 for G3; 200 for G4). D runs the "
        "capped transaction's writes in pgbench: BEGIN; the conditional UPDATEs of programme, "
        "measure and call; INSERT allocation; SELECT audit_head ... FOR UPDATE; INSERT "
        "audit_event; UPDATE audit_head; COMMIT (the app also reads the application, its "
        "active allocation and the measure first).",
        f"- Write cases run {extra.write_seconds:g} s per round; Q1/Q2 (SQLite) run on a copy "
        f"of the small dataset made in {extra.sqlite_copy_s:.1f} s.",
        "",
    ]
    for scenario, title in titles.items():
        rows = [(impl, by[(s, impl)]) for (s, impl) in by if s == scenario]
        if not rows:
            continue
        lines += [f"## {title}", ""]
        lines += ["| impl | CPU/request (µs) | req/s | p50 (ms) | p99 (ms) | errors |"]
        lines += ["|---|---:|---:|---:|---:|---:|"]
        order = {"app": 0, "L": 1, "P": 2, "D": 3}
        for impl, v in sorted(rows, key=lambda r: order.get(r[0], 9)):
            lines.append(
                f"| {impl} | {fmt(v['cpu'])} | {fmt(v['rps'])} | {fmt(v['p50'], 2)} | "
                f"{fmt(v['p99'], 2)} | {fmt(v['errors'])} |"
            )
        lines.append("")

    checks: list[tuple[str, str, str, str]] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        shown = "—" if value is None else f"{value:.2f}x"
        checks.append((name, shown, goal, verdict(ok) if goal != "—" else "info"))

    for scenario in ("S1", "S2"):
        r = paired((scenario, "app"), (scenario, "L"))
        add(f"{scenario} list CPU/request app ÷ L", r, "≤ 2.0", _le(r, 2.0))
        r = paired((scenario, "P"), (scenario, "app"))
        add(f"{scenario} P ÷ app (app cheaper by)", r, "≥ 3.0", _ge(r, 3.0))
    r = paired(("S1", "app"), ("S3", "app"))
    add(
        f"growth {small.allocations:,} → {big.allocations:,} rows (S1 ÷ S3)",
        r,
        "≤ 1.2",
        _le(r, 1.2),
    )
    r = paired(("S2", "app"), ("S1", "app"))
    add("deepest ÷ first page (S2 ÷ S1)", r, "≤ 1.2", _le(r, 1.2))
    r = paired(("S5", "app"), ("S1", "app"))
    add("list with a total ≤ 1.3 x list without (CPU/request S5 ÷ S1)", r, "≤ 1.3", _le(r, 1.3))
    r = ratio(rps("S1", "app"), rps("S5", "app"))
    add(
        "list with a total: req/s S1 ÷ S5 (informative; the COUNT runs in PostgreSQL, "
        "outside the server's CPU)",
        r,
        "—",
        None,
    )
    counts, totals = extra.list_statements, extra.total_statements
    constant = (
        bool(counts)
        and bool(totals)
        and set(counts.values()) == {1}
        and set(totals.values()) == {2}
    )

    def per_limit(found: dict[int, int]) -> str:
        return ", ".join(f"limit {k}: {v}" for k, v in found.items()) or "—"

    checks.append(
        (
            "SQL statements per list request constant in page size (1, or 2 with a total)",
            f"without: {per_limit(counts)}; with a total: {per_limit(totals)}",
            "1 each; 2 each with a total",
            verdict(constant if counts and totals else None),
        )
    )
    r = ratio(rps("G1", "app"), rps("G1", "D"))
    add("grant throughput spread: app req/s ÷ D tps", r, "≥ 0.5", _ge(r, 0.5))
    r = ratio(rps("G2", "app"), rps("G2", "D"))
    add("grant throughput one hot budget: app req/s ÷ D tps", r, "≥ 0.6", _ge(r, 0.6))
    sound = extra.soundness
    checks.append(
        (
            "zero overspend at the end (`wecare check` differences, counters ≤ caps)",
            "—"
            if sound is None
            else f"{sound.grants:,} app grants; {len(sound.differences)} differences, "
            f"{len(sound.over_cap)} over cap",
            "0 and 0",
            verdict(None if sound is None else sound.ok),
        )
    )
    r = paired(("G6", "app"), ("G5", "app"))
    add(
        "cap check flat: grant CPU/request, 100,000 ÷ 100 allocations in the call",
        r,
        "≤ 1.2",
        _le(r, 1.2),
    )
    r = paired(("G3", "app"), ("G1", "app"))
    add("over-cap refusal CPU/request ÷ spread grant (informative)", r, "—", None)
    r = paired(("Q2", "app"), ("Q1", "app"))
    add("SQLite deepest ÷ first page (Q2 ÷ Q1)", r, "≤ 1.2", _le(r, 1.2))
    r = paired(("Q1", "app"), ("S3", "app"))
    add("SQLite ÷ PostgreSQL, first page on the small dataset (informative)", r, "—", None)
    r = paired(("S4", "app"), ("S4", "L"))
    add("S4 by id CPU/request app ÷ L (issue 17)", r, "≤ 2.0", _le(r, 2.0))
    r = paired(("S4", "P"), ("S4", "app"))
    add("S4 by id P ÷ app (app cheaper by; issue 17)", r, "≥ 3.0", _ge(r, 3.0))
    r = paired(("S6", "app"), ("S4", "app"))
    add("S6 organisation by id with a token ÷ S4 public by id (issue 17)", r, "≤ 2.0", _le(r, 2.0))
    r = paired(("S7", "app"), ("S4", "app"))
    add("S7 application by id with a token ÷ S4 public by id (informative)", r, "—", None)
    # Issue 17.
    grant_row = extra.statement_rows.get("POST allocations, grant (officer)")
    checks.append(
        (
            "SQL statements per grant (POST allocations, officer token)",
            "—" if grant_row is None else str(grant_row[1]),
            "≤ 6",
            verdict(None if grant_row is None else grant_row[1] <= 6),
        )
    )
    one = next((c for c in extra.criticals if c.concurrency == 1), None)
    checks.append(
        (
            "grant critical section p50, first counter lock → COMMIT (in-process, one at a time)",
            "—" if one is None else f"{one.p50_ms:.2f} ms",
            "≤ 2 ms",
            verdict(None if one is None else one.p50_ms <= 2.0),
        )
    )
    if extra.storm_result is not None:
        add(
            f"storm grants/s, {storm.WORKERS} workers ÷ one at a time on one worker",
            extra.storm_result.throughput_ratio,
            "≥ 2.5",
            _ge(extra.storm_result.throughput_ratio, 2.5),
        )
    lines += ["## Targets (issues 8 and 17)", "", "| target | measured | goal | result |"]
    lines += ["|---|---:|---|---|"]
    for name, shown, goal, result in checks:
        lines.append(f"| {name} | {shown} | {goal} | {result} |")
    lines += ["", "## SQL statements per request (in-process, before_cursor_execute)", ""]
    lines += ["| request | status | statements | kinds |", "|---|---:|---:|---|"]
    for name, (status, n, words) in extra.statement_rows.items():
        lines.append(f"| {name} | {status} | {n} | {' '.join(words)} |")
    lines.append("")
    if extra.storm_result is not None:
        lines += [*storm.lines(extra.storm_result, extra.criticals), ""]
    return "\n".join(lines)


@dataclass
class Extra:
    write_seconds: float = 0.0
    sqlite_copy_s: float = 0.0
    list_statements: dict[int, int] = field(default_factory=dict)
    total_statements: dict[int, int] = field(default_factory=dict)
    statement_rows: dict[str, tuple[int, int, list[str]]] = field(default_factory=dict)
    soundness: grants.Soundness | None = None
    criticals: list[storm.Critical] = field(default_factory=list)
    storm_result: storm.Storm | None = None


def capped(run: Callable[[float], Measurement], limit: float) -> Callable[[float], Measurement]:
    return lambda seconds: run(min(seconds, limit))


async def count_statements(extra: Extra, t_small: Targets, setup: grants.Setup) -> None:
    url = dataset.sqlalchemy_url(dataset.SIZES["small"])
    limits = (1, 10, 50, 100)
    path = f"/api/v1/allocations?call_id={t_small.call_id}&limit="
    found = await statements.count(
        url, [("GET", f"{path}{n}", None) for n in limits], login=("", "")
    )
    extra.list_statements = {n: row[1] for n, row in zip(limits, found, strict=True)}
    for n, row in zip(limits, found, strict=True):
        extra.statement_rows[f"GET allocations by call, limit {n} (anonymous)"] = row
    found = await statements.count(
        url, [("GET", f"{path}{n}&include_total=true", None) for n in limits], login=("", "")
    )
    extra.total_statements = {n: row[1] for n, row in zip(limits, found, strict=True)}
    for n, row in zip(limits, found, strict=True):
        name = f"GET allocations by call with a total, limit {n} (anonymous)"
        extra.statement_rows[name] = row
    body = {"application_id": dataset.md5_uuid("bcount1"), "amount": "1.00"}
    refused = {"application_id": setup.full_application, "amount": "1.00"}
    grant, refusal = await statements.count(
        grants.URL,
        [("POST", "/api/v1/allocations", body), ("POST", "/api/v1/allocations", refused)],
        login=(grants.OFFICER_EMAIL, grants.OFFICER_PASSWORD),
    )
    extra.statement_rows["POST allocations, grant (officer)"] = grant
    extra.statement_rows["POST allocations, over-cap refusal (officer)"] = refusal
    await count_reads_by_id(extra, t_small, setup)


async def count_reads_by_id(extra: Extra, t_small: Targets, setup: grants.Setup) -> None:
    """Reads by id (issue 17): 1 statement public, 2 with a token (the principal in one)."""
    url = dataset.sqlalchemy_url(dataset.SIZES["small"])
    (programme,) = await statements.count(
        url, [("GET", f"/api/v1/programmes/{t_small.programme_id}", None)], login=("", "")
    )
    extra.statement_rows["GET programme by id (anonymous)"] = programme
    organisation, application = await statements.count(
        grants.URL,
        [
            ("GET", f"/api/v1/organisations/{setup.organisation_id}", None),
            ("GET", f"/api/v1/applications/{s7_application()}", None),
        ],
        login=(grants.OFFICER_EMAIL, grants.OFFICER_PASSWORD),
    )
    extra.statement_rows["GET organisation by id (officer)"] = organisation
    extra.statement_rows["GET application by id (officer)"] = application


def s7_application() -> str:
    """S7's application: the last of a grant pool (read, never needed to be ungranted)."""
    return grants.pool_ids("bspread")[-1]


def _le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _ge(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k-row dataset, shorter runs")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the datasets")
    args = parser.parse_args()
    for tool in ("wrk", "pgbench", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required (apt-get install wrk postgresql-client)")
    started = time.perf_counter()
    big = dataset.SIZES["medium" if args.quick else "full"]
    small = dataset.SIZES["small"]
    rounds = args.rounds or (2 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 4.0)
    for size in (big, small):
        asyncio.run(dataset.ensure(size, rebuild=args.rebuild))
    t_big, t_small = asyncio.run(targets(big)), asyncio.run(targets(small))
    setup = asyncio.run(grants.prepare(small))
    extra = Extra(write_seconds=min(seconds, 3.0))
    asyncio.run(count_statements(extra, t_small, setup))

    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        sqlite_file = work / "small.sqlite3"
        extra.sqlite_copy_s = asyncio.run(
            statements.sqlite_copy(dataset.sqlalchemy_url(small), sqlite_file)
        )
        try:
            app_big = app_server(big, work)
            servers.append(app_big)
            app_small = app_server(small, work)
            servers.append(app_small)
            lim = uvicorn_server(
                "L", "bench.baseline_asgi:app", {"BENCH_DSN": dataset.dsn(big)}, work
            )
            servers.append(lim)
            peer = uvicorn_server(
                "P",
                "bench.peer_fastapi:app",
                {"BENCH_SQLALCHEMY_URL": dataset.sqlalchemy_url(big)},
                work,
            )
            servers.append(peer)
            app_grants = start_server(
                "app-grants",
                ["-m", "app.cli", "serve", "--workers", "1"],
                {"WECARE_DATABASE_URL": grants.URL, "WECARE_LOG_LEVEL": "WARNING"},
                work,
            )
            servers.append(app_grants)
            app_sqlite = start_server(
                "app-sqlite",
                ["-m", "app.cli", "serve", "--workers", "1"],
                {
                    "WECARE_DATABASE_URL": f"sqlite+aiosqlite:///{sqlite_file}",
                    "WECARE_LOG_LEVEL": "WARNING",
                },
                work,
            )
            servers.append(app_sqlite)
            token = login(app_grants)
            json_type, bearer = "application/json", f"Bearer {token}"
            grant_body = '{"application_id":"{id}","amount":"1.00"}'

            def grant_load(pool: str) -> PostLoad:
                ids = grants.pool_ids(pool)
                return PostLoad(
                    app_grants,
                    "/api/v1/allocations",
                    ids,
                    201,
                    json_type,
                    bearer,
                    grant_body,
                    work,
                )

            basic = base64.b64encode(f"{setup.client_id}:{setup.client_secret}".encode())
            refusal = PostLoad(
                app_grants,
                "/api/v1/allocations",
                [setup.full_application],
                409,
                json_type,
                bearer,
                grant_body,
                work,
                walk=False,
            )
            token_load = PostLoad(
                app_grants,
                "/api/v1/oauth/token",
                ["-"],
                200,
                "application/x-www-form-urlencoded",
                f"Basic {basic.decode()}",
                "grant_type=client_credentials",
                work,
                walk=False,
                connections=2,  # argon2id: ~0.2 s of CPU each; 10 would queue past wrk
            )
            ws = extra.write_seconds

            first = f"/api/v1/allocations?call_id={t_big.call_id}&limit={PAGE}"
            deep = first + f"&cursor={t_big.deep_cursor}"
            with_total = first + "&include_total=true"
            peer_first = f"/api/v1/allocations?call_id={t_big.call_id}&size={PAGE}&page=1"
            peer_deep = (
                f"/api/v1/allocations?call_id={t_big.call_id}&size={PAGE}&page={t_big.deep_page}"
            )
            small_first = f"/api/v1/allocations?call_id={t_small.call_id}&limit={PAGE}"
            programme = f"/api/v1/programmes/{t_big.programme_id}"

            total = json.loads(fetch(app_big.base + with_total)).get("total")
            if total != t_big.count:
                raise RuntimeError(f"S5: total {total!r}, expected {t_big.count}")
            same_bytes = {
                "S1": fetch(app_big.base + first) == fetch(lim.base + first),
                "S2": fetch(app_big.base + deep) == fetch(lim.base + deep),
            }
            sql = pgbench_sql(t_big)
            cases = [
                Case("S1", "app", http_case(app_big, first)),
                Case("S1", "L", http_case(lim, first)),
                Case("S1", "P", http_case(peer, peer_first)),
                Case("S1", "D", pgbench_case(big, sql["S1"], work)),
                Case("S2", "app", http_case(app_big, deep)),
                Case("S2", "L", http_case(lim, deep)),
                Case("S2", "P", http_case(peer, peer_deep)),
                Case("S2", "D", pgbench_case(big, sql["S2"], work)),
                Case("S3", "app", http_case(app_small, small_first)),
                Case("S4", "app", http_case(app_big, programme)),
                Case("S4", "L", http_case(lim, programme)),
                Case("S4", "P", http_case(peer, programme)),
                Case("S4", "D", pgbench_case(big, sql["S4"], work)),
                Case("S5", "app", http_case(app_big, with_total)),
                Case(
                    "S6",
                    "app",
                    http_case(
                        app_grants,
                        f"/api/v1/organisations/{setup.organisation_id}",
                        (f"Authorization: {bearer}",),
                    ),
                ),
                Case(
                    "S7",
                    "app",
                    http_case(
                        app_grants,
                        f"/api/v1/applications/{s7_application()}",
                        (f"Authorization: {bearer}",),
                    ),
                ),
                Case("G1", "app", capped(grant_load("bspread"), ws)),
                Case(
                    "G1",
                    "D",
                    capped(
                        pgbench_case(
                            grants.NAME, grants.d_script("spread"), work, script_text=True
                        ),
                        ws,
                    ),
                ),
                Case("G2", "app", capped(grant_load("bhot"), ws)),
                Case(
                    "G2",
                    "D",
                    capped(
                        pgbench_case(grants.NAME, grants.d_script("HOT"), work, script_text=True),
                        ws,
                    ),
                ),
                Case("G3", "app", capped(refusal, ws)),
                Case("G4", "app", capped(token_load, ws)),
                Case("G5", "app", capped(grant_load("bf100-"), ws)),
                Case("G6", "app", capped(grant_load("bf100k-"), ws)),
                Case("Q1", "app", capped(http_case(app_sqlite, small_first), ws)),
                Case(
                    "Q2",
                    "app",
                    capped(
                        http_case(app_sqlite, small_first + f"&cursor={t_small.deep_cursor}"), ws
                    ),
                ),
            ]
            for number in range(1, rounds + 1):
                # Families (S reads, G writes, Q SQLite) in a shuffled order, each family's
                # cases shuffled and back to back: the two sides of every ratio run within
                # the same minute of the same round.
                groups: dict[str, list[Case]] = {}
                for case in cases:
                    groups.setdefault(case.scenario[0], []).append(case)
                blocks = list(groups.values())
                random.shuffle(blocks)
                order = []
                for block in blocks:
                    random.shuffle(block)
                    order.extend(block)
                for case in order:
                    case.results.append(case.run(seconds))
                print(f"round {number}/{rounds} done")  # noqa: T201
            # Issue 17: the critical section in-process, then the storm (its own servers).
            login_as = (grants.OFFICER_EMAIL, grants.OFFICER_PASSWORD)
            cs_ids = grants.pool_ids("bcs")
            extra.criticals = [
                asyncio.run(storm.critical_section(cs_ids[:200], concurrency=1, login=login_as)),
                asyncio.run(storm.critical_section(cs_ids[200:], concurrency=10, login=login_as)),
            ]
            for server in servers:  # the storm's servers have both CPUs to themselves
                server.process.terminate()
            extra.storm_result = storm.storm(work)
            extra.soundness = asyncio.run(grants.soundness())
        finally:
            for server in servers:
                server.process.terminate()
            for server in servers:
                try:
                    server.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.process.kill()
    text = report(
        cases,
        big=big,
        small=small,
        rounds=rounds,
        seconds=seconds,
        same_bytes=same_bytes,
        elapsed=time.perf_counter() - started,
        extra=extra,
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
