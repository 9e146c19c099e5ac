"""Unauthenticated token requests cannot take a worker's CPU from everyone else (issue 12,
item 2): a public read's latency under a storm of bogus token requests, against the same
read idle, measured in one run on a real server.

The server is a subprocess: argon2 there has its real (library default) cost, not the
suite's cheap_argon2. It has one worker, so anything run on its event loop shows in every
request's latency. The storm comes from another process (started once, switched on and off
between phases), so that its own CPU never sits in the reader's event loop. Only a ratio of
medians is asserted, never an absolute time: the machine may be shared.

Measured on the shared 2-core development machine (ratio of medians): before the fix
(argon2 on the event loop for unknown client ids) 40-53 on SQLite and 227 on PostgreSQL
(a read took 0.3 s and more, 6 ms idle); with HMAC alone, no refusal delay, 12 (the
worker answered 125 cheap refusals a second); with the fix 0.9-1.0 on both backends, 90th
percentile 8.7 ms under the storm against 7.7 ms idle.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db import migrations
from app.db.session import Database, create_engine
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests import ENGLISH
from tests.conftest import BACKENDS, create_database
from tests.live import live_server

TOKEN = "/api/v1/oauth/token"
READ = "/api/v1/calls"
STORM = 16  # concurrent bogus token requests, as in the finding
PHASE_SECONDS = 2.5  # of back-to-back reads: longer than a refusal's delay, so that the
# storm phases hold several rounds of refusals, not one burst at their start
PHASES = 3  # idle and storm phases alternate, so that drift of the machine's load cancels
MAX_RATIO = 3.0
# Clients drop a pooled connection idle this long, well inside the server's keep-alive
# (WECARE_SERVER_KEEP_ALIVE_SECONDS, 5 s): a connection reused as the server closes it is
# "disconnected without a response" (seen once, after a 15 s wait between phases).
KEEPALIVE_EXPIRY = 1.0


def _storm(base: str, go: EventType, stop: EventType, inflight: Any, results: Any) -> None:
    """While ``go`` is set, keep STORM token requests with made-up client ids in flight;
    ``inflight`` counts those sent and not yet answered."""

    async def attack(client: httpx.AsyncClient, worker: int, statuses: Counter[int]) -> None:
        n = 0
        while not stop.is_set():
            if not go.is_set():
                await asyncio.sleep(0.01)
                continue
            n += 1
            with inflight.get_lock():
                inflight.value += 1
            try:
                response = await client.post(
                    TOKEN,
                    data={"grant_type": "client_credentials"},
                    auth=(f"wcc_made_up_{worker}_{n}", "not a secret"),
                )
            finally:
                with inflight.get_lock():
                    inflight.value -= 1
            statuses[response.status_code] += 1

    async def run() -> Counter[int]:
        statuses: Counter[int] = Counter()
        limits = httpx.Limits(max_connections=STORM, keepalive_expiry=KEEPALIVE_EXPIRY)
        async with httpx.AsyncClient(
            headers=ENGLISH, base_url=base, timeout=120, limits=limits
        ) as client:
            await asyncio.gather(*(attack(client, worker, statuses) for worker in range(STORM)))
        return statuses

    results.put(dict(asyncio.run(run())))


@pytest.fixture(params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A seeded database behind one worker. The per-address throttle of failed
    client authentications is lifted there: every bogus request must reach the secret
    check, which is what is measured (the throttle is tested on its own)."""
    url, drop = await create_database(str(request.param), tmp_path)
    database = Database(create_engine(Settings(database_url=url)))
    try:
        await migrations.upgrade(database.engine)
        async with database.session(write=True) as session:
            await load_reference_data(session, read_reference_file(WECARE_FILE))
        environment = {"WECARE_CLIENT_AUTH_MAX_FAILURES_PER_ADDRESS": "100000"}
        with live_server(url, tmp_path, workers=1, environment=environment) as base:
            yield base
    finally:
        await database.dispose()
        await drop()  # type: ignore[misc]


async def _timed_reads(
    client: httpx.AsyncClient, *, seconds: float = 0, samples: int = 0
) -> list[float]:
    """Reads one after another, for ``seconds`` or ``samples`` reads; their durations."""
    durations: list[float] = []
    until = time.monotonic() + seconds
    while len(durations) < samples or time.monotonic() < until:
        started = time.perf_counter()
        response = await client.get(READ)
        durations.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return durations


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, "the storm did not follow"
        await asyncio.sleep(0.01)


async def test_a_public_read_keeps_its_latency_under_a_bogus_token_storm(server: str) -> None:
    context = multiprocessing.get_context("spawn")
    go, stop, inflight, results = (
        context.Event(),
        context.Event(),
        context.Value("i", 0),
        context.Queue(),
    )
    storm = context.Process(target=_storm, args=(server, go, stop, inflight, results))
    storm.start()
    idle: list[float] = []
    loaded: list[float] = []
    try:
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)
        async with httpx.AsyncClient(
            headers=ENGLISH, base_url=server, timeout=120, limits=limits
        ) as reader:
            await _timed_reads(reader, samples=10)  # warm up: connection, caches
            for _ in range(PHASES):
                idle += await _timed_reads(reader, seconds=PHASE_SECONDS)
                go.set()
                await _until(lambda: inflight.value == STORM)  # every attacker is in flight
                loaded += await _timed_reads(reader, seconds=PHASE_SECONDS)
                go.clear()
                await _until(lambda: inflight.value == 0)
    finally:
        go.clear()
        stop.set()
        statuses: Counter[int] = Counter(await asyncio.to_thread(results.get, True, 120))
        await asyncio.to_thread(storm.join, 30)
    ratio = statistics.median(loaded) / statistics.median(idle)
    print(  # noqa: T201 (the figure is the point of the test; -s shows it)
        f"median read idle {statistics.median(idle) * 1000:.1f} ms, under {STORM} bogus token "
        f"requests {statistics.median(loaded) * 1000:.1f} ms: ratio {ratio:.2f} "
        f"({len(idle)} and {len(loaded)} reads; 90th percentile "
        f"{statistics.quantiles(idle, n=10)[-1] * 1000:.1f} and "
        f"{statistics.quantiles(loaded, n=10)[-1] * 1000:.1f} ms); "
        f"storm answers {dict(statuses)}"
    )
    # Every storm request was a refused client authentication (the secret was checked), in
    # rounds throughout the storm phases.
    assert set(statuses) == {401}
    assert sum(statuses.values()) >= STORM * PHASES * 2
    assert ratio <= MAX_RATIO, f"a public read is {ratio:.1f} times slower under the storm"
