"""`wecare serve` as operators run it: exactly one log line per request, and metrics that
add up over several worker processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live import free_port, live_server
from tests.observability import METRICS_HEADERS, METRICS_TOKEN, parse_samples, value

PROXY_CLIENT = "203.0.113.9"  # documentation range (RFC 5737)


def log_of(base_url: str, log_dir: Path) -> Path:
    return log_dir / f"server-{urlsplit(base_url).port}.log"


def test_serve_turns_uvicorns_access_log_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from app import cli
    from app.core.config import get_settings

    passed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_, **kwargs: passed.update(kwargs))
    get_settings.cache_clear()
    try:
        assert cli.main(["serve"]) == 0
    finally:
        get_settings.cache_clear()
    assert passed["access_log"] is False
    assert passed["log_config"] is None  # uvicorn's lines go through the service's renderer


def test_a_real_server_writes_exactly_one_json_line_per_request(tmp_path: Path) -> None:
    ids = [f"live-request-{n:04d}" for n in range(6)]
    environment = {
        "WECARE_LOG_LEVEL": "INFO",
        "WECARE_LOG_FORMAT": "json",
        "WECARE_TRUSTED_PROXIES": "127.0.0.1",
    }
    url = f"sqlite+aiosqlite:///{tmp_path}/unused.sqlite3"
    with live_server(url, tmp_path, environment=environment) as base:
        for request_id in ids:
            response = httpx.get(
                f"{base}/healthz",
                headers={"X-Request-ID": request_id, "X-Forwarded-For": PROXY_CLIENT},
            )
            assert response.headers["x-request-id"] == request_id
        missing = httpx.get(f"{base}/api/v1/nothing-here", headers={"X-Request-ID": "live-404-000"})
        assert missing.status_code == 404
        log = log_of(base, tmp_path)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's included
    assert all(entry["time"].endswith("Z") and "request_id" in entry for entry in parsed)
    assert not [entry for entry in parsed if entry["logger"] == "uvicorn.access"]
    assert not [line for line in lines if "HTTP/1.1" in line]  # uvicorn's access format
    for request_id in ids:
        (entry,) = [e for e in parsed if e.get("request_id") == request_id]
        assert entry["logger"] == "app.access"
        assert entry["route"] == "/healthz"
        assert entry["status"] == 200
        assert entry["client"] == PROXY_CLIENT  # the trusted proxy's X-Forwarded-For
    (entry,) = [e for e in parsed if e.get("request_id") == "live-404-000"]
    assert entry["route"] is None
    assert entry["status"] == 404


def test_two_workers_count_into_one_exposition(tmp_path: Path) -> None:
    requests = 30
    multiproc = tmp_path / "prometheus"
    environment = {
        "WECARE_METRICS": "bearer",
        "WECARE_METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    url = f"sqlite+aiosqlite:///{tmp_path}/unused.sqlite3"
    with live_server(url, tmp_path, workers=2, environment=environment) as base:
        for _ in range(requests):
            # A connection each, so that both workers take some.
            assert httpx.get(f"{base}/openapi.json").status_code == 200
        scrapes = []
        for _ in range(4):  # whichever worker answers, the sum is the same
            response = httpx.get(f"{base}/metrics", headers=METRICS_HEADERS)
            assert response.status_code == 200, response.text
            scrapes.append(parse_samples(response.text))
        refused = httpx.get(f"{base}/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
    for samples in scrapes:
        labels = {"method": "GET", "route": "/openapi.json", "status": "200"}
        assert value(samples, "wecare_http_requests_total", **labels) == requests
    # Each worker process keeps its own files, summed at every scrape (more than two when
    # uvicorn replaced a worker that missed its health check on a loaded machine).
    pids = {path.stem.rsplit("_", 1)[-1] for path in multiproc.glob("gauge_livesum_*.db")}
    assert len(pids) >= 2


def test_the_metrics_port_is_its_own_listener(tmp_path: Path) -> None:
    """WECARE_METRICS=port: /metrics without a token on its own port, absent from the API's
    port; with two workers, the supervisor's listener sums what both counted."""
    port = free_port()
    environment = {
        "WECARE_METRICS": "port",
        "WECARE_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    url = f"sqlite+aiosqlite:///{tmp_path}/unused.sqlite3"
    with live_server(url, tmp_path, workers=2, environment=environment) as base:
        for _ in range(12):
            assert httpx.get(f"{base}/openapi.json").status_code == 200
        on_api_port = httpx.get(f"{base}/metrics", headers=METRICS_HEADERS)
        assert on_api_port.status_code == 404
        assert on_api_port.headers["content-type"] == "application/problem+json"
        response = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200, response.text
    samples = parse_samples(response.text)
    labels = {"method": "GET", "route": "/openapi.json", "status": "200"}
    assert value(samples, "wecare_http_requests_total", **labels) == 12
    # The API port's /metrics matched no route there.
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "wecare_http_requests_total", **unmatched) == 1
