"""Password hashing (argon2id) off the event loop, a bounded number at a time.

One argon2 verification costs a CPU core for a good fraction of a second. Run on the event
loop, a handful of them stall every other request of the worker; run in unbounded threads,
a flood of logins still takes every core. So each worker process runs at most
``password_hash_concurrency`` of them at once, in threads, and a caller that cannot get a
slot within ``password_hash_wait_seconds`` is refused with 503 and Retry-After rather than
queued without end.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from app.core import security
from app.core.config import Settings
from app.core.errors import PasswordHashingBusy
from app.core.i18n import msg

# One gate per event loop (a semaphore belongs to the loop it was first awaited on) and
# configured size: in production one of each per worker process.
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _gate(size: int) -> asyncio.Semaphore:
    per_loop = _gates.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(size, asyncio.Semaphore(size))


T = TypeVar("T")


def _limits(settings: Settings | None) -> tuple[int, float]:
    """The configured limits, or their defaults outside a request (the CLI)."""
    if settings is None:
        fields = Settings.model_fields
        return (
            int(fields["password_hash_concurrency"].default),
            float(fields["password_hash_wait_seconds"].default),
        )
    return settings.password_hash_concurrency, settings.password_hash_wait_seconds


async def _in_thread(settings: Settings | None, work: Callable[[], T]) -> T:
    size, wait = _limits(settings)
    gate = _gate(size)
    try:
        async with asyncio.timeout(wait):
            await gate.acquire()
    except TimeoutError:
        retry_after = max(1, math.ceil(wait))
        raise PasswordHashingBusy(
            msg(
                "Too many password checks are running; retry in {retry_after} seconds.",
                retry_after=retry_after,
            ),
            retry_after=retry_after,
        ) from None
    try:
        # Not abandoned on cancellation: the slot is released when the hash really ends.
        return await anyio.to_thread.run_sync(work)
    finally:
        gate.release()


async def hash_password(settings: Settings | None, password: str) -> str:
    return await _in_thread(settings, lambda: security.hash_secret(password))


async def verify_password(settings: Settings, password: str, password_hash: str | None) -> bool:
    """The argon2 check (against a dummy hash when there is none, which fails)."""
    return await _in_thread(settings, lambda: security.verify_secret(password, password_hash))
