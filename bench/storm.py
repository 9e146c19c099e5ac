"""Grants under contention (issue 17): the critical section, and a storm on one programme.

- ``critical_section``: grants run in-process (``httpx.ASGITransport``, as
  ``statements.count``) one at a time and 10 at a time; for each, the time from the
  statement that takes the programme's counter row to the COMMIT that releases it, exactly
  as the app observes it (``wecare_grant_critical_section_seconds``, recorded by
  app.db.session at COMMIT; here every observation is kept, not just its bucket).
- ``storm``: ``wecare serve --workers 4`` on ``bench_grants``; 400 grants sent at once, each
  on its own connection, on calls of the BENCH programme (every grant locks the programme's
  row); meanwhile ``pg_stat_activity`` is sampled every 50 ms for the connections waiting
  on a lock. Against it: 400 other grants of the same calls, one at a time, on one
  worker. Reported: grants/s, p50 and p99 of each and their ratios, the lock waiters
  (largest and mean sample), the answers that were not 201, and the critical section's
  p50 from the storm server's own histogram (its /metrics).

Run by ``bench.run`` (after the rounds, before the soundness check), or alone on an existing
``bench_grants``: ``.venv/bin/python -m bench.storm`` (prepare it with the small dataset:
``bench.run`` does).
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.core import metrics
from app.core.config import Settings
from app.main import create_app
from bench import grants

ROOT = Path(__file__).resolve().parent.parent
STORM = 400
WORKERS = 4
METRICS_TOKEN = "bench-metrics-token-0123456789abcdef"
CRITICAL = "wecare_grant_critical_section_seconds"
GRANT = "/api/v1/allocations"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Critical:
    concurrency: int
    grants: int
    p50_ms: float
    p99_ms: float


async def critical_section(ids: list[str], *, concurrency: int, login: tuple[str, str]) -> Critical:
    """Grant each of ``ids`` in-process, ``concurrency`` at a time; the critical sections."""
    settings = Settings(
        database_url=grants.URL, public_base_url="http://bench", log_level="WARNING"
    )
    app = create_app(settings)
    seen: list[float] = []
    record = metrics.record_grant_critical_section

    def keep(seconds: float) -> None:
        seen.append(seconds)
        record(seconds)

    metrics.record_grant_critical_section = keep  # app.db.session looks it up at COMMIT
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token = await _token(client, login)
            headers = {"Authorization": f"Bearer {token}"}
            pending = list(ids)

            async def worker() -> None:
                while pending:
                    body = {"application_id": pending.pop(), "amount": "1.00"}
                    response = await client.post(GRANT, json=body, headers=headers)
                    if response.status_code != 201:
                        raise RuntimeError(f"grant: {response.status_code} {response.text}")

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        metrics.record_grant_critical_section = record
        await app.state.database.engine.dispose()
    return Critical(
        concurrency, len(seen), percentile(seen, 0.5) * 1000, percentile(seen, 0.99) * 1000
    )


async def _token(client: httpx.AsyncClient, login: tuple[str, str]) -> str:
    response = await client.post(
        "/api/v1/auth/login", json={"email": login[0], "password": login[1]}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@dataclass(frozen=True)
class Burst:
    grants: int  # answered 201
    other: dict[int, int]  # other statuses and how many
    seconds: float
    p50_ms: float
    p99_ms: float
    lock_waiters_max: int = 0
    lock_waiters_mean: float = 0.0
    connections_max: int = 0

    @property
    def per_second(self) -> float:
        return self.grants / self.seconds


async def _send(client: httpx.AsyncClient, headers: dict[str, str], application_id: str) -> Any:
    started = time.perf_counter()
    try:
        response = await client.post(
            GRANT, json={"application_id": application_id, "amount": "1.00"}, headers=headers
        )
        status = response.status_code
    except httpx.HTTPError:
        status = 0  # no answer (counted with the statuses)
    return status, time.perf_counter() - started


def _burst(answers: list[tuple[int, float]], seconds: float, **sampled: Any) -> Burst:
    other: dict[int, int] = {}
    for status, _ in answers:
        if status != 201:
            other[status] = other.get(status, 0) + 1
    latencies = [elapsed for _, elapsed in answers]
    return Burst(
        grants=sum(1 for status, _ in answers if status == 201),
        other=other,
        seconds=seconds,
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        **sampled,
    )


async def _sample_locks(stop: asyncio.Event, into: list[tuple[int, int]]) -> None:
    """(connections waiting on a lock, connections) of bench_grants, every 50 ms."""
    conn = await asyncpg.connect(grants.DSN)
    try:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting,"
                " count(*) AS connections FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                grants.NAME,
            )
            into.append((int(row["waiting"]), int(row["connections"])))
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def storm_burst(base: str, token: str, ids: list[str]) -> Burst:
    """Every grant of ``ids`` at once, one connection each, with the lock waiters sampled."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=len(ids), max_keepalive_connections=len(ids))
    samples: list[tuple[int, int]] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        sampler = asyncio.create_task(_sample_locks(stop, samples))
        started = time.perf_counter()
        answers = await asyncio.gather(*(_send(client, headers, i) for i in ids))
        seconds = time.perf_counter() - started
        stop.set()
        await sampler
    waiting = [w for w, _ in samples] or [0]
    return _burst(
        list(answers),
        seconds,
        lock_waiters_max=max(waiting),
        lock_waiters_mean=statistics.fmean(waiting),
        connections_max=max((c for _, c in samples), default=0),
    )


async def one_at_a_time(base: str, token: str, ids: list[str]) -> Burst:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        started = time.perf_counter()
        answers = [await _send(client, headers, i) for i in ids]
        seconds = time.perf_counter() - started
    return _burst(answers, seconds)


def _login(base: str) -> str:
    with httpx.Client(base_url=base, timeout=60) as client:
        response = client.post(
            "/api/v1/auth/login",
            json={"email": grants.OFFICER_EMAIL, "password": grants.OFFICER_PASSWORD},
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


def critical_p50_from_metrics(base: str) -> tuple[float | None, int]:
    """The storm server's critical-section p50 (ms, interpolated in its histogram's
    buckets) and how many grants it observed."""
    request = urllib.request.Request(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        if family.name != CRITICAL:
            continue
        for sample in family.samples:
            if sample.name == f"{CRITICAL}_bucket":
                buckets.append((float(sample.labels["le"]), float(sample.value)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return None, 0
    half, lower, below = total / 2, 0.0, 0.0
    for bound, count in buckets:
        if count >= half:
            if bound == float("inf"):
                return lower * 1000, int(total)
            share = (half - below) / (count - below) if count > below else 1.0
            return (lower + (bound - lower) * share) * 1000, int(total)
        lower, below = bound, count
    return None, int(total)


@dataclass(frozen=True)
class Storm:
    storm: Burst
    single: Burst
    critical_p50_ms: float | None  # the storm server's, from its histogram
    critical_observed: int

    @property
    def throughput_ratio(self) -> float:
        return self.storm.per_second / self.single.per_second


def storm(logs: Path) -> Storm:
    """The storm on ``WORKERS`` workers, then the same number of grants one at a time on
    one worker. The servers are not pinned to a CPU: the storm is about the workers'
    concurrency, not one CPU's cost per request (servers' logs in ``logs``)."""
    env = {
        "WECARE_DATABASE_URL": grants.URL,
        "WECARE_LOG_LEVEL": "WARNING",
        "WECARE_METRICS": "bearer",
        "WECARE_METRICS_TOKEN": METRICS_TOKEN,
    }
    args = ["-m", "app.cli", "serve", "--workers"]
    server = _start("storm", [*args, str(WORKERS)], env, logs)
    try:
        burst = asyncio.run(
            storm_burst(server.base, _login(server.base), grants.pool_ids("bstorm"))
        )
        critical, observed = critical_p50_from_metrics(server.base)
    finally:
        _stop(server.process)
    server = _start("one-worker", [*args, "1"], env, logs)
    try:
        single = asyncio.run(
            one_at_a_time(server.base, _login(server.base), grants.pool_ids("bsingle"))
        )
    finally:
        _stop(server.process)
    return Storm(burst, single, critical, observed)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def lines(result: Storm, criticals: list[Critical]) -> list[str]:
    """The report's section (Markdown)."""
    s, one = result.storm, result.single

    def row(name: str, b: Burst, waiters: str) -> str:
        other = ", ".join(f"{k}: {v}" for k, v in sorted(b.other.items())) or "0"
        return (
            f"| {name} | {b.grants} | {b.per_second:,.1f} | {b.p50_ms:,.1f} | {b.p99_ms:,.1f}"
            f" | {waiters} | {other} |"
        )

    out = [
        f"## ST — storm: {STORM} grants at once on one programme, {WORKERS} workers, against "
        "the same number one at a time on one worker",
        "",
        "| run | granted | grants/s | p50 (ms) | p99 (ms) | connections waiting on a lock "
        "(max / mean of 50 ms samples) | not 201 |",
        "|---|---:|---:|---:|---:|---|---:|",
        row(
            f"storm, {WORKERS} workers",
            s,
            f"{s.lock_waiters_max} / {s.lock_waiters_mean:.1f} of {s.connections_max}",
        ),
        row("one at a time, 1 worker", one, "—"),
        "",
        f"- grants/s storm ÷ one at a time: {result.throughput_ratio:.2f}x; "
        f"p50 ratio {s.p50_ms / one.p50_ms:.2f}x; p99 ratio {s.p99_ms / one.p99_ms:.2f}x.",
        "- Critical section (first counter lock to COMMIT), storm server's histogram: p50 "
        + (
            f"{result.critical_p50_ms:.2f} ms over {result.critical_observed} grants."
            if result.critical_p50_ms is not None
            else "not observed."
        ),
    ]
    for c in criticals:
        out.append(
            f"- Critical section in-process, {c.concurrency} at a time ({c.grants} grants): "
            f"p50 {c.p50_ms:.2f} ms, p99 {c.p99_ms:.2f} ms."
        )
    return out


def main() -> None:
    """Alone, on an existing bench_grants (its bstorm, bsingle and bcs pools unused)."""
    login = (grants.OFFICER_EMAIL, grants.OFFICER_PASSWORD)
    ids = grants.pool_ids("bcs")
    criticals = [
        asyncio.run(critical_section(ids[:200], concurrency=1, login=login)),
        asyncio.run(critical_section(ids[200:], concurrency=10, login=login)),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        result = storm(Path(tmp))
    print("\n".join(lines(result, criticals)))  # noqa: T201


@dataclass(frozen=True)
class _Server:
    base: str
    process: subprocess.Popen[bytes]


def _start(name: str, args: list[str], env: dict[str, str], logs: Path) -> _Server:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "WECARE_PUBLIC_BASE_URL": base, **env},
        stdout=(logs / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    started = time.monotonic()
    deadline = started + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {(logs / f'{name}.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    # /healthz answers once the first worker is up; the others started
                    # with it and take about as long (an earlier run stormed two workers
                    # of four: 30 connections, 184 answers 503 after the pool's timeout).
                    if "--workers" in args and args[args.index("--workers") + 1] != "1":
                        time.sleep(min(120.0, 5.0 + time.monotonic() - started))
                    return _Server(base, process)
        except OSError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"{name} did not start within 180 s")


if __name__ == "__main__":
    main()
