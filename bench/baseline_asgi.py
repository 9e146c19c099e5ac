"""Baseline L: a bare ASGI app (no framework) with asyncpg and orjson — the Python limit.

It runs the same SQL as the service's list endpoint (``page_allocations`` for an anonymous
caller: active allocations of a call, keyset on ``(granted_at, id)``, ``limit + 1`` rows)
and returns the same JSON bytes. ``GET /api/v1/programmes/{id}`` returns the programme's
fields in the service's order (no ETag header). Run with uvicorn; ``BENCH_DSN`` names the
database::

    BENCH_DSN=postgresql://postgres@127.0.0.1/bench_wecare_full \
        .venv/bin/python -m uvicorn bench.baseline_asgi:app --port 8001
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import asyncpg  # type: ignore[import-untyped]
import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

COLUMNS = (
    "id, application_id, programme_id, measure_id, call_id, district_id, amount_cents, "
    "status, granted_at, granted_by, revoked_at, revoked_by, revocation_reason"
)
FIRST_PAGE_SQL = (
    f"SELECT {COLUMNS} FROM allocation WHERE status = 'active' AND call_id = $1 "
    "ORDER BY granted_at, id LIMIT $2"
)
NEXT_PAGE_SQL = (
    f"SELECT {COLUMNS} FROM allocation WHERE status = 'active' AND call_id = $1 "
    "AND (granted_at, id) > ($3, $4) ORDER BY granted_at, id LIMIT $2"
)
PROGRAMME_SQL = (
    "SELECT id, code, name_it, name_en, description_it, description_en, currency, "
    "responsible_office, legal_basis, approved_on, total_budget_cents, measures_budget_cents, "
    "allocated_cents, funded_projects, created_at, updated_at FROM programme WHERE id = $1"
)
JSON_HEADERS = [(b"content-type", b"application/json")]
CENT = Decimal("0.01")


def _amount(cents: int) -> str:
    return f"{(Decimal(cents) / 100).quantize(CENT):f}"


def _cursor(granted_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([granted_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    padded = cursor + "=" * (-len(cursor) % 4)
    granted_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    return datetime.fromisoformat(granted_at), uuid.UUID(row_id)


# asyncpg returns its own UUID class, which orjson does not serialise: str() it.
def _allocation(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row[0]),
        "application_id": str(row[1]),
        "programme_id": str(row[2]),
        "measure_id": str(row[3]),
        "call_id": str(row[4]),
        "district_id": None if row[5] is None else str(row[5]),
        "amount": _amount(row[6]),
        "status": row[7],
        "granted_at": row[8],
        "granted_by": row[9],
        "revoked_at": row[10],
        "revoked_by": row[11],
        "revocation_reason": row[12],
    }


class App:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if path == "/api/v1/allocations":
            status, body = await self._allocations(parse_qs(scope["query_string"].decode()))
        elif path.startswith("/api/v1/programmes/"):
            status, body = await self._programme(path.rsplit("/", 1)[1])
        elif path == "/healthz":
            status, body = 200, b'{"status":"ok"}'
        else:
            status, body = 404, b'{"title":"Not Found"}'
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    os.environ["BENCH_DSN"], min_size=10, max_size=10
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _allocations(self, query: dict[str, list[str]]) -> tuple[int, bytes]:
        assert self.pool is not None
        call_id = uuid.UUID(query["call_id"][0])
        limit = int(query.get("limit", ["50"])[0])
        cursor = query.get("cursor")
        async with self.pool.acquire() as conn:
            if cursor:
                granted_at, row_id = _parse_cursor(cursor[0])
                rows = await conn.fetch(NEXT_PAGE_SQL, call_id, limit + 1, granted_at, row_id)
            else:
                rows = await conn.fetch(FIRST_PAGE_SQL, call_id, limit + 1)
        shown = rows[:limit]
        next_cursor = _cursor(shown[-1][8], shown[-1][0]) if len(rows) > limit else None
        page = {
            "items": [_allocation(row) for row in shown],
            "next_cursor": next_cursor,
            "total": None,
        }
        return 200, orjson.dumps(page, option=orjson.OPT_UTC_Z)

    async def _programme(self, programme_id: str) -> tuple[int, bytes]:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(PROGRAMME_SQL, uuid.UUID(programme_id))
        if row is None:
            return 404, b'{"title":"Not Found"}'
        body = {
            "id": str(row[0]),
            "code": row[1],
            "name_it": row[2],
            "name_en": row[3],
            "description_it": row[4],
            "description_en": row[5],
            "currency": row[6],
            "responsible_office": row[7],
            "legal_basis": row[8],
            "approved_on": row[9],
            "total_budget": _amount(row[10]),
            "measures_budget": _amount(row[11]),
            "allocated": _amount(row[12]),
            "available": _amount(row[10] - row[12]),
            "funded_projects": row[13],
            "created_at": row[14],
            "updated_at": row[15],
        }
        return 200, orjson.dumps(body, option=orjson.OPT_UTC_Z)


app = App()
