"""Sending one e-mail over SMTP (aiosmtplib): STARTTLS, implicit TLS or none, with AUTH
when a username is set, all from settings (README "E-mail notifications")."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from app.core.config import Settings


@dataclass(frozen=True)
class SendOutcome:
    sent: bool
    latency_ms: int
    error: str | None = None


def message_of(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    message_id: str,
    language: str,
    kind: str,
    created_at: datetime,
) -> EmailMessage:
    """The e-mail as sent, the same bytes on every retry: its Message-ID and Date come from
    the delivery row, so a receiving server that saw it already can tell it is the same."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(
        created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    )
    message["X-Wecare-Notice"] = kind  # for the recipient's filters
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(body, charset="utf-8")
    message["Content-Language"] = language  # after set_content, which drops Content-*
    return message


async def send(message: EmailMessage, settings: Settings) -> SendOutcome:
    """Hand the message to the configured SMTP server; never raises for a failed send."""
    assert settings.smtp_host is not None
    started = time.perf_counter()
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        latency = round((time.perf_counter() - started) * 1000)
        return SendOutcome(False, latency, f"{type(error).__name__}: {error}"[:200])
    return SendOutcome(True, round((time.perf_counter() - started) * 1000))
