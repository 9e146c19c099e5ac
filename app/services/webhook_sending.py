"""Sending one webhook: the URL's checks, the address it may reach, the signed request.

SSRF: the host is resolved once, every address it resolves to must be public (loopback only
outside production), and the request goes to that address (the Host header and TLS SNI name
the host): a DNS answer that changes between the check and the connection (rebinding)
changes nothing. No redirect is followed, no proxy from the environment is used, the whole
exchange has a deadline and the answer is read up to a cap.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import certifi
import httpx
from standardwebhooks import Webhook

from app.core.config import Settings
from app.core.errors import WebhookUrlRefused
from app.core.i18n import msg

MAX_RESPONSE_BYTES = 64 * 1024  # read at most this much of an answer
KEPT_RESPONSE_CHARS = 1024  # the delivery log keeps this much of it
USER_AGENT = "WECARE-Webhooks/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _tls() -> ssl.SSLContext:
    """One verifying TLS context (certifi's roots, httpx's own) for every delivery: building
    one per client cost most of a loopback delivery's time."""
    return ssl.create_default_context(cafile=certifi.where())


def check_url(url: str, settings: Settings) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL the service may call, before any resolution (an
    address given as such is checked here, so a subscription to one is refused at once)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookUrlRefused(msg("Not a URL: {error}.", error=error)) from error
    production = settings.environment == "production"
    allowed = ("https",) if production else ("https", "http")
    if parts.scheme not in allowed:
        raise WebhookUrlRefused(
            msg("The URL's scheme must be {allowed}.", allowed=" or ".join(allowed)),
            allowed_schemes=list(allowed),
        )
    if not parts.hostname:
        raise WebhookUrlRefused(msg("The URL names no host."))
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused(msg("The URL must not carry credentials."))
    if parts.fragment:
        raise WebhookUrlRefused(msg("The URL must not carry a fragment."))
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None  # a name: checked after resolution, at each delivery
    if literal is not None and not address_allowed(literal, settings):
        raise WebhookUrlRefused(
            msg(
                "The URL names an address the service does not call (loopback, private, "
                "link-local or metadata)."
            ),
            addresses=[str(literal)],
        )
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def address_allowed(address: IPAddress, settings: Settings) -> bool:
    """Public addresses; loopback too outside production (development and tests)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return settings.environment != "production"
    # is_global is False for private, link-local (169.254.169.254, the cloud metadata
    # address), shared (100.64/10), reserved, unspecified and documentation ranges.
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int, settings: Settings) -> IPAddress:
    """The address to connect to: the first the host resolves to, all of them checked."""
    try:
        literal = ipaddress.ip_address(host)
        addresses: list[IPAddress] = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as error:
            raise WebhookUrlRefused(msg("The host {host} does not resolve.", host=host)) from error
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise WebhookUrlRefused(msg("The host {host} does not resolve.", host=host))
    refused = [str(a) for a in addresses if not address_allowed(a, settings)]
    if refused:
        raise WebhookUrlRefused(
            msg(
                "The host {host} resolves to an address the service does not call "
                "(loopback, private, link-local or metadata).",
                host=host,
            ),
            addresses=refused,
        )
    return addresses[0]


def signature(secrets: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The webhook-signature header: one v1 signature per secret (two during a rotation's
    overlap), computed by the Standard Webhooks library."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def send(
    url: str,
    *,
    body: str,
    msg_id: str,
    timestamp: datetime,
    secrets: list[str],
    settings: Settings,
) -> Outcome:
    """POST the event to the resolved address; never raises for the receiver's faults."""
    started = time.perf_counter()

    def outcome(status: int | None, error: str | None, answer: bytes | None = None) -> Outcome:
        kept = answer.decode("utf-8", "replace")[:KEPT_RESPONSE_CHARS] if answer else None
        latency = round((time.perf_counter() - started) * 1000)
        return Outcome(status, latency, error[:200] if error else None, kept)

    try:
        scheme, host, port = check_url(url, settings)
        address = await resolve(host, port, settings)
    except WebhookUrlRefused as error:
        return outcome(None, f"refused: {error.detail}")
    parts = urlsplit(url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    target = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    default_port = port == (443 if scheme == "https" else 80)
    headers = {
        "host": host if default_port else f"{host}:{port}",
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(secrets, msg_id, timestamp, body),
    }
    timeout = settings.webhook_timeout_seconds
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(timeout),
                verify=_tls(),
            ) as client,
            client.stream(
                "POST",
                target,
                content=body.encode(),
                headers=headers,
                extensions={"sni_hostname": host},
            ) as response,
        ):
            answer = bytearray()
            async for chunk in response.aiter_bytes():
                answer += chunk
                if len(answer) >= MAX_RESPONSE_BYTES:
                    break
            return outcome(response.status_code, None, bytes(answer[:MAX_RESPONSE_BYTES]))
    except TimeoutError:
        return outcome(None, f"timeout after {timeout:g} s")
    except httpx.HTTPError as error:
        return outcome(None, f"{type(error).__name__}: {error}")
