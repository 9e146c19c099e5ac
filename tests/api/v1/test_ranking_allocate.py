"""Granting down a published ranking: in rank order, through the single grant's path (every
cap holds), an entry a cap refuses skipped with its rule and figures and the next one tried;
below the thresholds never granted; a second run grants nothing new."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus
from app.models import Allocation, AuditEvent, Call, Measure, Programme
from tests.actors import Actor, client_actor, user_actor
from tests.api.v1.flows import Api, allocate, fesr_call, problem, text, window
from tests.world import Budget, approved, budget, district, ranked


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> dict[str, Actor]:
    return {
        "officer": await user_actor(session, settings, Role.OFFICER),
        "admin": await user_actor(session, settings, Role.ADMINISTRATOR),
        "applicant": await user_actor(session, settings, Role.APPLICANT),
        "reviewer": await user_actor(session, settings, Role.REVIEWER),
        "client": await client_actor(
            session, settings, scopes=["allocations:read", "pledges:read"]
        ),
    }


def run_path(world: Budget, version: int = 1) -> str:
    return f"/api/v1/calls/{world.call.id}/rankings/{version}/allocate"


async def run(
    client: httpx.AsyncClient, world: Budget, actor: Actor, version: int = 1, **headers: str
) -> dict[str, Any]:
    response = await client.post(run_path(world, version), headers={**actor.headers, **headers})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/v1/allocations?call_id={world.call.id}"
    body: dict[str, Any] = response.json()
    return body


def granted(report: dict[str, Any]) -> dict[str, str]:
    return {g["application_id"]: g["amount"] for g in report["granted"]}


def skipped(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["application_id"]: s["refusal"] for s in report["skipped"]}


async def counters(session: AsyncSession, world: Budget) -> tuple[Decimal, Decimal, Decimal]:
    programme = await session.get(Programme, world.programme.id, populate_existing=True)
    measure = await session.get(Measure, world.measure.id, populate_existing=True)
    call = await session.get(Call, world.call.id, populate_existing=True)
    assert programme is not None
    assert measure is not None
    assert call is not None
    return programme.allocated, measure.allocated, call.allocated


@pytest.mark.parametrize(("third", "fits"), [(400, True), (Decimal("400.01"), False)])
async def test_rank_order_skips_what_does_not_fit_and_tries_the_next(
    client: httpx.AsyncClient,
    session: AsyncSession,
    people: dict[str, Actor],
    third: Decimal,
    fits: bool,
) -> None:
    """Call of 1000: 600 is granted, 500 does not fit the 400 left (skipped with the call's
    figures), the next one fits at exactly 400 (equal fits) and not at 400.01. The one below
    the thresholds is never granted, though it would fit."""
    world = await budget(session, total=1_000_000, call_budget=1_000, code="RA")
    first = await approved(session, world, requested=600, n=1)
    second = await approved(session, world, requested=500, n=2)
    last = await approved(session, world, requested=1, n=3)
    last.requested = last.total_cost = Decimal(third)
    below = await approved(session, world, requested=10, n=4)
    await session.flush()
    await ranked(session, world, [first, second, last], below_threshold=[below])

    report = await run(client, world, people["officer"])

    expected = {str(first.id): "600.00"} | ({str(last.id): "400.00"} if fits else {})
    assert granted(report) == expected
    refused = skipped(report)[str(second.id)]
    assert refused["rule"] == "call_budget_cap"
    assert refused["figures"] == {
        "cap": "1000.00",
        "allocated": "600.00",
        "requested": "500.00",
        "available": "400.00",
    }
    if not fits:
        assert skipped(report)[str(last.id)]["rule"] == "call_budget_cap"
    assert [s["ordinal"] for s in report["skipped"]] == ([2] if fits else [2, 3])
    assert report["not_eligible"] == [
        {"ordinal": 4, "application_id": str(below.id), "failed": ["min_total"]}
    ]
    assert report["already_granted"] == []
    # A refused grant leaves nothing: the programme's and the measure's counters, moved
    # before the call refused, hold only what was granted.
    total = Decimal("1000.00") if fits else Decimal("600.00")
    assert await counters(session, world) == (total, total, total)
    grants = await session.scalar(
        select(func.count()).where(AuditEvent.action == "allocation.grant")
    )
    assert grants == len(expected)
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "ranking.allocate"))
    assert event is not None
    assert event.after is not None
    assert json.loads(event.after) == {
        "call_id": str(world.call.id),
        "version": 1,
        "granted": 2 if fits else 1,
        "skipped": 1 if fits else 2,
        "already_granted": 0,
        "not_eligible": 1,
    }


async def test_the_project_cap_skips_past_its_maximum(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    """An FSE1-style measure funding at most 2 projects: the third in rank order is skipped
    with the cap's figures, whatever money is left."""
    world = await budget(session, total=1_000_000, max_projects=2, code="PC")
    made = [await approved(session, world, requested=100, n=n) for n in range(1, 4)]
    await ranked(session, world, made)
    report = await run(client, world, people["admin"])
    assert set(granted(report)) == {str(made[0].id), str(made[1].id)}
    refused = skipped(report)[str(made[2].id)]
    assert refused["rule"] == "measure_project_cap"
    assert refused["figures"] == {"cap": 2, "funded_projects": 2}


async def test_one_project_per_district(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    """The second project of a district is skipped; the next, of another district, is
    granted."""
    world = await budget(session, total=1_000_000, one_per_district=True, code="PD")
    here, there = await district(session, world, 1), await district(session, world, 2)
    a = await approved(session, world, requested=100, district=here, n=1)
    b = await approved(session, world, requested=100, district=here, n=2)
    c = await approved(session, world, requested=100, district=there, n=3)
    await ranked(session, world, [a, b, c])
    report = await run(client, world, people["officer"])
    assert set(granted(report)) == {str(a.id), str(c.id)}
    refused = skipped(report)[str(b.id)]
    assert refused["rule"] == "district_already_funded"
    assert refused["figures"]["district_id"] == str(here.id)
    allocation_of_a = next(g for g in report["granted"] if g["application_id"] == str(a.id))
    assert refused["figures"]["allocation_id"] == allocation_of_a["allocation_id"]


async def test_an_application_not_approved_is_skipped_with_its_rule(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    """Ranked while under review and not approved since: the grant's own rule refuses it."""
    world = await budget(session, total=1_000_000, code="NA")
    waiting = await approved(
        session, world, requested=100, n=1, status=ApplicationStatus.UNDER_REVIEW
    )
    ready = await approved(session, world, requested=100, n=2)
    await ranked(session, world, [waiting, ready])
    report = await run(client, world, people["officer"])
    assert set(granted(report)) == {str(ready.id)}
    assert skipped(report)[str(waiting.id)]["rule"] == "illegal_transition"


async def test_running_twice_grants_nothing_new_and_a_replay_returns_the_first_report(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    world = await budget(session, total=1_000_000, call_budget=1_000, code="TW")
    before = await approved(session, world, requested=300, n=1)
    a = await approved(session, world, requested=300, n=2)
    b = await approved(session, world, requested=900, n=3)
    await ranked(session, world, [before, a, b])
    earlier = await allocate(client, people["officer"], before.id, "250.00")
    officer = people["officer"]
    key = {"Idempotency-Key": f"run-{uuid.uuid4()}"}
    first = await client.post(run_path(world), headers={**officer.headers, **key})
    assert first.status_code == 201, first.text
    report = first.json()
    assert granted(report) == {str(a.id): "300.00"}
    assert report["already_granted"] == [
        {"ordinal": 1, "position": 1, "application_id": str(before.id), "allocation_id": earlier}
    ]
    replay = await client.post(run_path(world), headers={**officer.headers, **key})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content

    again = await run(client, world, officer)
    assert again["granted"] == []
    assert {g["application_id"] for g in again["already_granted"]} == {str(before.id), str(a.id)}
    assert skipped(again)[str(b.id)]["rule"] == "call_budget_cap"
    count = await session.scalar(select(func.count()).select_from(Allocation))
    assert count == 2
    runs = await session.scalar(select(func.count()).where(AuditEvent.action == "ranking.allocate"))
    assert runs == 2  # the replay wrote nothing


async def test_a_replaced_version_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    world = await budget(session, total=1_000_000, code="RV")
    a = await approved(session, world, requested=100, n=1)
    first = await ranked(session, world, [a])
    await ranked(session, world, [a], replaces=first)
    refused = problem(
        await client.post(run_path(world, 1), headers=people["officer"].headers),
        409,
        "ranking_replaced",
    )
    assert (refused["version"], refused["latest_version"]) == (1, 2)
    assert await session.scalar(select(func.count()).select_from(Allocation)) == 0
    assert granted(await run(client, world, people["officer"], version=2)) == {str(a.id): "100.00"}
    missing = await client.post(run_path(world, 3), headers=people["officer"].headers)
    problem(missing, 404, "not_found")


async def test_only_the_region_grants_down_a_ranking(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    world = await budget(session, total=1_000_000, code="AU")
    a = await approved(session, world, requested=100, n=1)
    await ranked(session, world, [a])
    for name in ("applicant", "reviewer", "client"):
        response = await client.post(run_path(world), headers=people[name].headers)
        assert response.status_code == 403, (name, response.text)
    assert (await client.post(run_path(world))).status_code == 401
    assert await session.scalar(select(func.count()).select_from(Allocation)) == 0


@pytest.mark.parametrize(
    ("rule", "middle", "expected", "left_out"),
    [
        # allowed: the 500 that does not fit whole gets the 400 left; the 300 after finds 0
        (True, 500, {1: ("600.00", False), 2: ("400.00", True)}, 3),
        # the exact boundary: 400 fits whole, no partial grant; the 300 after finds 0
        (True, 400, {1: ("600.00", False), 2: ("400.00", False)}, 3),
        # not allowed (false, or null: not given by the source): skipped, the next one tried
        (False, 500, {1: ("600.00", False), 3: ("300.00", False)}, 2),
        (None, 500, {1: ("600.00", False), 3: ("300.00", False)}, 2),
    ],
)
async def test_the_partial_last_grant_is_the_calls_rule(
    client: httpx.AsyncClient,
    session: AsyncSession,
    people: dict[str, Actor],
    rule: bool | None,
    middle: int,
    expected: dict[int, tuple[str, bool]],
    left_out: int,
) -> None:
    """A call of 1000: 600, then ``middle``, then 300."""
    world = await budget(session, total=1_000_000, call_budget=1_000, code="PL")
    world.call.partial_last_grant = rule
    applications = [
        await approved(session, world, requested=amount, n=n)
        for n, amount in enumerate((600, middle, 300), start=1)
    ]
    await ranked(session, world, applications)
    report = await run(client, world, people["officer"])
    assert {g["ordinal"]: (g["amount"], g["partial"]) for g in report["granted"]} == expected
    assert [s["ordinal"] for s in report["skipped"]] == [left_out]
    assert report["skipped"][0]["refusal"]["rule"] == "call_budget_cap"
    total = sum((Decimal(amount) for amount, _ in expected.values()), Decimal("0.00"))
    assert await counters(session, world) == (total, total, total)


async def test_a_partial_grant_is_only_for_budget_caps(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    """The project cap refuses whatever the amount: no partial grant, skipped."""
    world = await budget(session, total=1_000_000, call_budget=1_000, max_projects=1, code="PP")
    world.call.partial_last_grant = True
    made = [await approved(session, world, requested=600, n=n) for n in (1, 2)]
    await ranked(session, world, made)
    labels = {"outcome": "refused", "rule": "measure_project_cap"}
    before = REGISTRY.get_sample_value("wecare_grants_total", labels) or 0.0
    report = await run(client, world, people["officer"])
    # One refusal, not a second try for a part: a part cannot pass the project cap either.
    assert REGISTRY.get_sample_value("wecare_grants_total", labels) == before + 1
    assert granted(report) == {str(made[0].id): "600.00"}
    assert skipped(report)[str(made[1].id)]["rule"] == "measure_project_cap"


async def test_the_call_api_sets_and_reads_the_partial_last_grant_rule(
    client: httpx.AsyncClient, people: dict[str, Actor]
) -> None:
    """Not given at creation: null (not allowed until set); set and cleared by PATCH."""
    api = Api(client)
    _, call = await fesr_call(api, people["admin"], people["officer"], line=1, budget="1000.00")
    assert call["partial_last_grant"] is None
    path = f"/api/v1/calls/{call['id']}"
    changed = await api.patch(path, people["officer"], {"partial_last_grant": True})
    assert changed["partial_last_grant"] is True
    assert (await api.read(path))["partial_last_grant"] is True
    cleared = await api.patch(path, people["officer"], {"partial_last_grant": None})
    assert cleared["partial_last_grant"] is None
    await api.patch(path, people["officer"], {"partial_last_grant": "sometimes"}, expect=422)
    assert (await api.read(path))["partial_last_grant"] is None


async def test_a_call_is_created_with_its_partial_last_grant_rule(
    client: httpx.AsyncClient, people: dict[str, Actor]
) -> None:
    api = Api(client)
    measure, _ = await fesr_call(api, people["admin"], people["officer"], line=1, budget="1.00")
    opens, closes = window(-1)
    made = await api.call(
        "POST",
        "/api/v1/calls",
        people["officer"],
        expect=201,
        json={
            "measure_id": measure["id"],
            "line_number": 1,
            "code": "FESR-PARTIAL",
            "title": text("Sportello con concessione parziale"),
            "budget": "1000.00",
            "phases": [{"kind": "submission", "opens_at": opens, "closes_at": closes}],
            "partial_last_grant": True,
        },
    )
    assert made["partial_last_grant"] is True
    read = await api.read(f"/api/v1/calls/{made['id']}", people["officer"])
    assert read["partial_last_grant"] is True
