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

from app.api.pagination import encode_cursor
from bench import dataset

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


def start_server(name: str, module_args: list[str], env: dict[str, str], logs: Path) -> Server:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = logs / f"{name}.log"
    command = ["taskset", "-c", SERVER_CPU, sys.executable, *module_args, "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "WECARE_PUBLIC_BASE_URL": base},
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


def wrk(url: str, seconds: float) -> tuple[int, float, float, float, int]:
    """(requests, req/s, p50 ms, p99 ms, errors) from one wrk run on the load CPU."""
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}"]
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


def http_case(server: Server, path: str) -> Callable[[float], Measurement]:
    url = server.base + path

    def run(seconds: float) -> Measurement:
        wrk(url, min(1.0, seconds))  # warm-up, not counted
        before = tree_cpu_seconds(server.process.pid)
        requests, rps, p50, p99, errors = wrk(url, seconds)
        cpu = tree_cpu_seconds(server.process.pid) - before
        return Measurement(cpu * 1e6 / max(requests, 1), rps, p50, p99, errors)

    return run


def pgbench_case(db: dataset.Size, sql: str, workdir: Path) -> Callable[[float], Measurement]:
    script = workdir / f"pgbench-{abs(hash(sql))}.sql"
    script.write_text(sql + ";\n")

    def run(seconds: float) -> Measurement:
        command = ["taskset", "-c", LOAD_CPU, "pgbench", "-h", "127.0.0.1", "-U", "postgres"]
        command += ["-n", "-M", "prepared", "-c", str(CONNECTIONS), "-j", "1"]
        command += ["-T", str(max(1, round(seconds))), "-f", str(script)]
        command += [dataset.database_name(db)]
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

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    titles = {
        "S1": f"S1 — first page of 50, filtered by call ({big.allocations:,} allocations)",
        "S2": f"S2 — deepest page of 50, same call ({big.allocations:,} allocations)",
        "S3": f"S3 — first page of 50 on the small dataset ({small.allocations:,} allocations)",
        "S4": "S4 — one programme by id (GET /api/v1/programmes/{id})",
    }
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `.venv/bin/python -m bench.run{' --quick' if big.name != 'full' else ''}`"
        f" on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.0f} s. "
        f"{rounds} rounds x {seconds:g} s per case (after a 1 s warm-up), order shuffled per "
        f"round, medians shown. wrk: 1 thread, {CONNECTIONS} connections, on CPU {LOAD_CPU}; "
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

    checks: list[tuple[str, float | None, str, bool | None]] = []
    for scenario in ("S1", "S2"):
        r = ratio(cpu(scenario, "app"), cpu(scenario, "L"))
        checks.append((f"{scenario} list CPU/request app ÷ L", r, "≤ 2.0", _le(r, 2.0)))
        r = ratio(cpu(scenario, "P"), cpu(scenario, "app"))
        checks.append((f"{scenario} P ÷ app (app cheaper by)", r, "≥ 3.0", _ge(r, 3.0)))
    r = ratio(cpu("S1", "app"), cpu("S3", "app"))
    checks.append(
        (
            f"growth {small.allocations:,} → {big.allocations:,} rows (S1 ÷ S3)",
            r,
            "≤ 1.2",
            _le(r, 1.2),
        )
    )
    r = ratio(cpu("S2", "app"), cpu("S1", "app"))
    checks.append(("deepest ÷ first page (S2 ÷ S1)", r, "≤ 1.2", _le(r, 1.2)))
    r = ratio(cpu("S4", "app"), cpu("S4", "L"))
    checks.append(("S4 by id app ÷ L (informative)", r, "—", None))
    lines += ["## Targets (issue 8)", "", "| target | measured | goal | result |"]
    lines += ["|---|---:|---|---|"]
    for name, value, goal, ok in checks:
        shown = "—" if value is None else f"{value:.2f}x"
        lines.append(f"| {name} | {shown} | {goal} | {verdict(ok) if goal != '—' else 'info'} |")
    for name in (
        "list with a total ≤ 1.3 x list without",
        "SQL statements per request constant in page size (1, or 2 with a total)",
        "grant allocation throughput ≥ 0.5 x D spread over many budgets",
        "grant allocation throughput ≥ 0.6 x D on one hot budget, zero overspend",
        "cap check cost flat: 100 vs 100,000 allocations in the call (≤ 1.2)",
        "over-cap refusal, token endpoint, organisation by id (auth), SQLite",
    ):
        lines.append(f"| {name} | — | — | not measured |")
    lines.append("")
    return "\n".join(lines)


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

    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
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

            first = f"/api/v1/allocations?call_id={t_big.call_id}&limit={PAGE}"
            deep = first + f"&cursor={t_big.deep_cursor}"
            peer_first = f"/api/v1/allocations?call_id={t_big.call_id}&size={PAGE}&page=1"
            peer_deep = (
                f"/api/v1/allocations?call_id={t_big.call_id}&size={PAGE}&page={t_big.deep_page}"
            )
            small_first = f"/api/v1/allocations?call_id={t_small.call_id}&limit={PAGE}"
            programme = f"/api/v1/programmes/{t_big.programme_id}"

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
            ]
            for number in range(1, rounds + 1):
                order = cases[:]
                random.shuffle(order)
                for case in order:
                    case.results.append(case.run(seconds))
                print(f"round {number}/{rounds} done")  # noqa: T201
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
    )
    RESULTS.write_text(text, encoding="utf-8")
    print(text)  # noqa: T201


if __name__ == "__main__":
    main()
