"""A real server in a subprocess (uvicorn, one or more workers) on a fresh database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 1,
    environment: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Start ``wecare serve`` and yield its base URL once /healthz answers; ``environment``
    adds settings (WECARE_...) of the server's own."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "WECARE_DATABASE_URL": database_url,
        "WECARE_PUBLIC_BASE_URL": base,
        "WECARE_LOG_LEVEL": "WARNING",
        **(environment or {}),
    }
    command = ["serve", "--port", str(port), "--workers", str(workers)]
    with serving(command, env, base, log_dir / f"server-{port}.log"):
        yield base


@contextmanager
def serving(
    arguments: Sequence[str], environment: Mapping[str, str], base: str, log_path: Path
) -> Iterator[None]:
    """Run ``wecare ARGUMENTS`` (the checkout's app.cli, as the installed script does) with
    ``environment`` added to this process's, until /healthz answers at ``base``."""
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environment},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 30 s")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
