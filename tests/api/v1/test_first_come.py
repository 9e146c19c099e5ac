"""First-come calls over HTTP: the waiting list's length through the call API, the
reservation and the waiting position in the application read, the figures in the call read
and the public programme report, the call closing itself. The rules at their boundaries are
in tests/services/test_first_come.py, the races in tests/concurrency/test_first_come_storm.py."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import ApplicationStatus
from app.models import Call
from tests.actors import Actor
from tests.api.v1.flows import Api, problem
from tests.world import Budget, approved, budget, first_come

_APPLICANTS = itertools.count(300)


def _call(world: Budget, code: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "measure_id": str(world.measure.id),
        "code": code,
        "title": {"it": "Bando", "en": "Call"},
        "budget": "1000.00",
        "phases": [
            {
                "kind": "submission",
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=30)).isoformat(),
            }
        ],
        **fields,
    }


async def test_the_waiting_list_length_is_set_on_first_come_calls_only(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> None:
    world = await budget(session, total=1_000_000, call_budget=500_000)
    api = Api(client)
    made = await api.call(
        "POST",
        "/api/v1/calls",
        admin,
        json=_call(world, "FC-API", selection_method="first_come", waiting_list_length=2),
        expect=201,
    )
    assert (made["waiting_list_length"], made["waiting_count"], made["reserved"]) == (2, 0, "0.00")
    assert made["closed_for_submissions"] is False
    # No limit: null.
    path = f"/api/v1/calls/{made['id']}"
    changed = await api.patch(path, admin, {"waiting_list_length": None})
    assert changed["waiting_list_length"] is None
    # A ranking call has no waiting list: at creation (the body says so) and after.
    refused = await client.post(
        "/api/v1/calls",
        json=_call(world, "FC-EVAL", waiting_list_length=2),
        headers=admin.headers,
    )
    problem(refused, 422, "validation_error")
    assert await session.scalar(select(func.count()).where(Call.code == "FC-EVAL")) == 0
    ranking = f"/api/v1/calls/{world.call.id}"
    body = await api.patch(ranking, admin, {"waiting_list_length": 2}, expect=409)
    assert (body["rule"], body["selection_method"]) == ("not_a_first_come_call", "ranking")


async def test_a_full_list_closes_the_call_until_a_withdrawal_makes_room(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> None:
    world = await first_come(session, budget_euros=100, waiting_list_length=1)
    api = Api(client)
    drafts = [
        await approved(
            session, world, requested=r, n=next(_APPLICANTS), status=ApplicationStatus.DRAFT
        )
        for r in (80, 30, 20)
    ]
    paths = [f"/api/v1/applications/{d.id}" for d in drafts]
    first = await api.act(paths[0], "submit", admin)
    second = await api.act(paths[1], "submit", admin)
    assert (first["status"], first["reserved"], first["waiting_position"]) == (
        "submitted",
        "80.00",
        None,
    )
    assert (second["status"], second["reserved"], second["waiting_position"]) == (
        "submitted",
        "0.00",
        1,
    )
    call_path = f"/api/v1/calls/{world.call.id}"
    call = await api.read(call_path, admin)
    assert (call["reserved"], call["available"], call["waiting_count"]) == ("80.00", "20.00", 1)
    assert call["closed_for_submissions"] is True
    assert call["closed_reason"] == "waiting_list_full"
    closed_at = datetime.fromisoformat(call["closed_at"])
    assert datetime.now(UTC) - timedelta(minutes=5) < closed_at <= datetime.now(UTC)

    # 20 is left and 20 is asked, but the line is full: refused, nothing written.
    await api.read(paths[2], admin)
    response = await client.post(
        f"{paths[2]}/submit", headers={**admin.headers, "If-Match": api.etags[paths[2]]}
    )
    closed = problem(response, 409, "first_come_call_closed")
    assert (closed["available"], closed["waiting_count"], closed["waiting_list_length"]) == (
        "20.00",
        1,
        1,
    )
    assert (await api.read(paths[2], admin))["status"] == "draft"
    # The public report shows it closed.
    report = await api.read(f"/api/v1/programmes/{world.programme.id}/report")
    figures = report["measures"][0]["calls"][0]
    assert (figures["reserved"], figures["available"], figures["waiting_count"]) == (
        "80.00",
        "20.00",
        1,
    )
    assert figures["closed_for_submissions"] is True
    assert (figures["selection_method"], figures["waiting_list_length"]) == ("first_come", 1)
    assert (figures["closed_reason"], figures["closed_at"]) == (
        "waiting_list_full",
        call["closed_at"],
    )
    # The list cannot be shorter than it is.
    short = await api.patch(call_path, admin, {"waiting_list_length": 0}, expect=409)
    assert (short["waiting_count"], short["requested"]) == (1, 0)

    # The withdrawal releases 80: the first in line (30) is promoted, the call opens.
    await api.act(paths[0], "withdraw", admin)
    promoted = await api.read(paths[1], admin)
    assert (promoted["reserved"], promoted["waiting_position"]) == ("30.00", None)
    call = await api.read(call_path, admin)
    assert (call["reserved"], call["available"], call["waiting_count"]) == ("30.00", "70.00", 0)
    assert call["closed_for_submissions"] is False
    assert (call["closed_reason"], call["closed_at"]) == (None, None)
    report = await api.read(f"/api/v1/programmes/{world.programme.id}/report")
    figures = report["measures"][0]["calls"][0]
    assert (figures["closed_for_submissions"], figures["closed_at"]) == (False, None)
    third = await api.act(paths[2], "submit", admin)
    assert (third["reserved"], third["waiting_position"]) == ("20.00", None)
