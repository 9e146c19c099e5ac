"""`wecare serve` limits, against a real server: an oversized request line or header
section is refused before the app, and a request head that trickles in (slowloris) or
never comes is cut off after the header timeout instead of holding its socket."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import ENGLISH
from tests.live import live_server

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("limits")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WECARE_SERVER_HEADER_TIMEOUT_SECONDS", str(HEADER_TIMEOUT))
        env.setenv("WECARE_SERVER_MAX_REQUEST_LINE_BYTES", "4096")
        env.setenv("WECARE_SERVER_MAX_HEADER_BYTES", "8192")
        env.setenv("WECARE_SERVER_MAX_HEADERS", "50")
        with live_server(f"sqlite+aiosqlite:///{tmp}/unused.sqlite3", tmp) as base:
            yield base


def _address(base_url: str) -> tuple[str, int]:
    url = httpx.URL(base_url)
    assert url.port is not None
    return url.host, url.port


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received, time.monotonic() - started


def test_a_normal_request_passes(base_url: str) -> None:
    response = httpx.get(f"{base_url}/healthz", headers={"X-Padding": "a" * 1000})
    assert response.status_code == 200


def test_an_oversized_request_line_is_414(base_url: str) -> None:
    response = httpx.get(f"{base_url}/healthz?q={'a' * 5000}")
    assert response.status_code == 414
    assert response.headers["connection"] == "close"


def test_an_oversized_header_section_is_431(base_url: str) -> None:
    response = httpx.get(f"{base_url}/healthz", headers={"X-Big": "a" * 9000})
    assert response.status_code == 431


def test_too_many_header_fields_is_431(base_url: str) -> None:
    headers = [(f"X-H{i}", "1") for i in range(60)]
    response = httpx.get(f"{base_url}/healthz", headers=headers)
    assert response.status_code == 431
    assert "header fields" in response.text


def test_a_trickling_request_head_is_cut_off(base_url: str) -> None:
    """One header line every 0.2 s, never finishing: closed after the header timeout."""
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        closed_after = None
        sock.settimeout(0.2)
        for i in range(50):  # up to 10 s of trickling
            try:
                sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # reset: the server is gone
                closed_after = time.monotonic() - started
                break
            assert data.startswith(b"HTTP/1.1 408 ")  # then the server closes
            closed_after = time.monotonic() - started
            break
    assert closed_after is not None, "the trickling connection was held for 10 s"
    assert closed_after < HEADER_TIMEOUT + 1.5


def test_a_silent_connection_is_closed(base_url: str) -> None:
    """Connected, nothing sent: the socket is not held beyond the header timeout."""
    with socket.create_connection(_address(base_url)) as sock:
        received, waited = _read_until_closed(sock, 10)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert waited < HEADER_TIMEOUT + 1.5


def test_a_kept_alive_connection_serves_the_next_request(base_url: str) -> None:
    """The head timer restarts per request: a second request on the connection passes."""
    with httpx.Client(headers=ENGLISH, base_url=base_url) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(HEADER_TIMEOUT + 0.3)  # within keep-alive (5 s), beyond the head timer
        assert client.get("/healthz").status_code == 200


def test_serve_passes_the_limits_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from app import cli
    from app.core.config import get_settings

    passed: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_, **kwargs: passed.update(kwargs))
    monkeypatch.setenv("WECARE_SERVER_LIMIT_CONCURRENCY", "64")
    monkeypatch.setenv("WECARE_SERVER_KEEP_ALIVE_SECONDS", "3")
    monkeypatch.setenv("WECARE_SERVER_BACKLOG", "128")
    monkeypatch.setenv("WECARE_SERVER_WORKER_HEALTHCHECK_SECONDS", "45")
    get_settings.cache_clear()
    try:
        assert cli.main(["serve"]) == 0
    finally:
        get_settings.cache_clear()
    assert passed["limit_concurrency"] == 64
    assert passed["timeout_keep_alive"] == 3
    assert passed["backlog"] == 128
    assert passed["timeout_worker_healthcheck"] == 45
    assert passed["http"] == "app.api.server:LimitedHttpToolsProtocol"


def test_over_the_concurrency_limit_is_a_problem_with_retry_after(tmp_path: Path) -> None:
    """Beyond WECARE_SERVER_LIMIT_CONCURRENCY a worker answers at once, and says when to
    come back: a 503 problem with Retry-After, not uvicorn's bare text."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WECARE_SERVER_LIMIT_CONCURRENCY", "2")
        with live_server(f"sqlite+aiosqlite:///{tmp_path}/unused.sqlite3", tmp_path) as base:
            assert httpx.get(f"{base}/healthz").status_code == 200  # 1 connection: under
            with socket.create_connection(_address(base)):  # held open: now 2 with the next
                response = httpx.get(f"{base}/healthz")
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "1"
            assert response.json()["rule"] == "over_capacity"
