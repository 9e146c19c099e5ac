"""A real HTTP receiver for webhook tests: a threading HTTP server on 127.0.0.1 that
records what it is sent and answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 in a thread; ``answer`` picks each request's
    status (and may sleep)."""

    answer: Callable[[int], int] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    url: str = ""
    expect: int = 0  # `done` is set when this many requests have arrived
    done: threading.Event = field(default_factory=threading.Event)
    payload: bytes | None = None  # the answer's body (default: "answer <n>")
    location: str | None = None  # a Location header to answer with


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        n = len(self.receiver.received)
        self.receiver.received.append(
            Received({k.lower(): v for k, v in self.headers.items()}, body, time.perf_counter())
        )
        if self.receiver.expect and n + 1 >= self.receiver.expect:
            self.receiver.done.set()
        status = self.receiver.answer(n)
        payload = self.receiver.payload or f"answer {n}".encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(payload)))
        if self.receiver.location:
            self.send_header("location", self.receiver.location)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class serve:
    def __init__(self, answer: Callable[[int], int] = lambda n: 200) -> None:
        self.receiver = Receiver(answer=answer)
        handler = type("Handler", (_Handler,), {"receiver": self.receiver})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.receiver.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
