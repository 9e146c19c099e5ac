"""uvicorn's httptools protocol with the limits uvicorn does not offer.

uvicorn 0.54 bounds concurrency and idle keep-alive, but with httptools (its choice when the
package is installed, as here) it puts no bound on the request line, the header section or
the header count (``h11_max_incomplete_event_size`` applies to h11 only), and no time limit
on a request head that trickles in: a client that connects and sends a byte now and then
held its socket for as long as it liked (300 of them, 40 s, in the security review). This
protocol adds those four; each check costs a length comparison per parser callback.

uvicorn imports it by name (``app.api.server:LimitedHttpToolsProtocol``) in every worker,
which reads the limits from the same environment.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.core.config import get_settings

PROTOCOL_PATH = "app.api.server:LimitedHttpToolsProtocol"

# Over WECARE_SERVER_LIMIT_CONCURRENCY, a problem with Retry-After (a 503 is only ever "come
# back later" here), not uvicorn's bare text/plain 503.
OVER_CAPACITY_BODY = json.dumps(
    {
        "type": "/problems/over_capacity",
        "title": "The server is at its concurrency limit",
        "status": 503,
        "detail": "Too many connections and requests in progress on this worker; retry shortly.",
        "rule": "over_capacity",
    }
).encode()


async def over_capacity(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(OVER_CAPACITY_BODY)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": OVER_CAPACITY_BODY, "more_body": False})


# uvicorn's protocol looks this name up in its module on every request over the limit; this
# module is imported only by uvicorn's workers (through PROTOCOL_PATH) and by `wecare serve`.
setattr(httptools_impl, "service_unavailable", over_capacity)  # noqa: B010 (not exported)


class RequestHeadRefused(Exception):
    """Raised in a parser callback: httptools stops, uvicorn calls send_400_response."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """Refuse an oversized request line (414) or header section (431), and close a
    connection whose request head is not complete within the header timeout (408)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.max_request_line = settings.server_max_request_line_bytes
        self.max_header_bytes = settings.server_max_header_bytes
        self.max_headers = settings.server_max_headers
        self.header_timeout = settings.server_header_timeout_seconds
        self._head_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._refusal: tuple[int, str] | None = None

    # The head timer runs from the connection (or the first byte of the next request on a
    # kept-alive one) until its headers are complete.
    def _start_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.logger.warning("Request head not received within %ss.", self.header_timeout)
            self._send_refusal(408, "The request head was not received in time.")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._refusal = None
        if self._head_timer is None:
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_request_line:
            self._refuse(414, f"The request target exceeds {self.max_request_line} bytes.")

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if len(self.headers) > self.max_headers:
            self._refuse(431, f"The request has more than {self.max_headers} header fields.")
        if self._header_bytes > self.max_header_bytes:
            self._refuse(431, f"The request's header fields exceed {self.max_header_bytes} bytes.")

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def _refuse(self, status: int, message: str) -> None:
        self._refusal = (status, message)
        raise RequestHeadRefused(message)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error: ours when a limit stopped the parser."""
        status, message = self._refusal or (400, msg)
        self._send_refusal(status, message)

    def _send_refusal(self, status: int, message: str) -> None:
        self._cancel_head_timer()
        body = message.encode("ascii")
        content = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode("ascii")]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
