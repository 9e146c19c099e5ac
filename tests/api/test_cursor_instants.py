"""A cursor's instant is read in UTC: one whose offset overflows datetime once in UTC is a
forged cursor (422), not a 500 when the statement binds it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.services.paging import encode_cursor, parse_datetime
from tests.actors import user_actor

OVERFLOWING = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
# Lists whose cursor holds an instant; the administrator may read every one of them.
LISTS = (
    "/api/v1/allocations",
    "/api/v1/transparency/grants",
    "/api/v1/applications",
    "/api/v1/partnerships",
)


def test_an_instant_is_read_in_utc() -> None:
    parsed = parse_datetime("2025-01-01T01:00:00+01:00")
    assert parsed == datetime(2025, 1, 1, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("value", [*OVERFLOWING, "2025-01-01T00:00:00"])
def test_an_overflowing_or_naive_instant_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        parse_datetime(value)


async def test_every_list_refuses_an_overflowing_cursor_with_a_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = await user_actor(session, settings, Role.ADMINISTRATOR)
    wrong = []
    for path in LISTS:
        for value in OVERFLOWING:
            cursor = encode_cursor(value, uuid.uuid4())
            response = await client.get(path, params={"cursor": cursor}, headers=admin.headers)
            if (response.status_code, response.headers["content-type"]) != (
                422,
                "application/problem+json",
            ) or "cursor" not in response.json()["detail"]:
                wrong.append(f"{path} {value}: {response.status_code} {response.text[:120]}")
    assert wrong == []
