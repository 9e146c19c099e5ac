"""The ranking (graduatoria): computed from the grid and the scores, the region's draft,
and its published, immutable, versioned snapshots (JSON and CSV, public)."""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus, ScoreCombination, SelectionMethod
from app.db.guards import violated_constraint
from app.models import Application, AuditEvent, Call, Measure, Ranking, RankingEntry
from app.services.rankings import combine
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import Api, allocate, problem
from tests.statements import counting, queries
from tests.world import GRID, Budget, budget, card, partnership, scored, with_grid

NATURAL_PERSON = "RSSMRA85T10A562S"


def one_reviewer(**changes: Any) -> dict[str, Any]:
    """GRID with one reviewer per application and the plain mean: each card is the figure."""
    made = copy.deepcopy(GRID)
    made.update({"reviewers_per_application": 1, "combination": "mean", **changes})
    return made


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> dict[str, Actor]:
    return {
        "officer": await user_actor(session, settings, Role.OFFICER),
        "admin": await user_actor(session, settings, Role.ADMINISTRATOR),
        "applicant": await user_actor(session, settings, Role.APPLICANT),
        "rev1": await user_actor(session, settings, Role.REVIEWER),
        "rev2": await user_actor(session, settings, Role.REVIEWER),
        "rev3": await user_actor(session, settings, Role.REVIEWER),
    }


@pytest.fixture
async def world(session: AsyncSession) -> Budget:
    made = await budget(session, total=1_000_000, call_budget=1_000, code="R")
    await with_grid(session, made.call, one_reviewer())
    return made


def path(world: Budget, tail: str = "ranking") -> str:
    return f"/api/v1/calls/{world.call.id}/{tail}"


async def draft(client: httpx.AsyncClient, world: Budget, actor: Actor) -> dict[str, Any]:
    body: dict[str, Any] = await Api(client).read(path(world), actor)
    return body


def by_application(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["application_id"]: e for e in body["entries"]}


@pytest.mark.parametrize(
    ("scores", "combination", "expected"),
    [
        ([10, 20, 90], ScoreCombination.TRIMMED_MEAN, "20.00"),  # 3: highest, lowest dropped
        ([10, 90], ScoreCombination.TRIMMED_MEAN, "50.00"),  # 2: nothing dropped
        ([10, 20, 90], ScoreCombination.MEAN, "40.00"),
        ([1, 2, 2], ScoreCombination.MEAN, "1.67"),  # 1.666.. rounds half up to 1.67
        ([1, 1, 2, 2, 2, 1, 1, 2], ScoreCombination.MEAN, "1.50"),
        ([0, 1, 1, 1, 1, 1, 1, 1], ScoreCombination.MEAN, "0.88"),  # 0.875 -> 0.88 (half up)
    ],
)
def test_criterion_averages_are_exact_decimals(
    scores: list[int], combination: ScoreCombination, expected: str
) -> None:
    assert combine(scores, combination) == Decimal(expected)
    assert str(combine(scores, combination)) == expected


async def test_trimmed_mean_drops_extremes_from_three_scores_not_two(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    world = await budget(session, total=1_000_000, call_budget=10_000, code="TR")
    await with_grid(session, world.call, one_reviewer(combination="trimmed_mean"))
    reviewers = [people[r].id for r in ("rev1", "rev2", "rev3")]
    three = await scored(
        session,
        world,
        reviewers,
        [card(20, 10, 10, 2), card(30, 20, 15, 5), card(40, 30, 20, 10)],
        n=1,
    )
    two = await scored(session, world, reviewers[:2], [card(20, 10, 10, 2), card(40, 30, 20, 10)])
    entries = by_application(await draft(client, world, people["officer"]))
    assert [a["average"] for a in entries[str(three.id)]["averages"]] == [
        "30.00",
        "20.00",
        "15.00",
        "5.00",
    ]
    assert (entries[str(three.id)]["total"], entries[str(three.id)]["reviews"]) == ("70.00", 3)
    assert [a["average"] for a in entries[str(two.id)]["averages"]] == [
        "30.00",
        "20.00",
        "15.00",
        "6.00",
    ]
    assert entries[str(two.id)]["total"] == "71.00"


async def test_thresholds_apply_at_the_exact_boundary(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    rev = [people["rev1"].id]
    exact = await scored(session, world, rev, [card(20, 20, 15, 5)], n=1, requested=1)
    criterion = await scored(session, world, rev, [card(19, 30, 20, 10)], n=2, requested=1)
    total = await scored(session, world, rev, [card(20, 20, 14, 5)], n=3, requested=1)
    both = await scored(session, world, rev, [card(0, 0, 0, 0)], n=4, requested=1)
    body = await draft(client, world, people["officer"])
    entries = by_application(body)
    assert entries[str(exact.id)]["total"] == "60.00"
    assert (entries[str(exact.id)]["outcome"], entries[str(exact.id)]["failed"]) == (
        "fundable",
        [],
    )
    assert entries[str(exact.id)]["position"] == 1
    assert entries[str(criterion.id)]["failed"] == ["Q1"]
    assert entries[str(total.id)]["failed"] == ["min_total"]
    assert entries[str(both.id)]["failed"] == ["Q1", "min_total"]
    for below in (criterion, total, both):
        assert entries[str(below.id)]["outcome"] == "below_threshold"
        assert entries[str(below.id)]["position"] is None
    # Below-threshold entries come after the ranked ones, by total.
    assert [e["application_id"] for e in body["entries"]] == [
        str(exact.id),
        str(criterion.id),
        str(total.id),
        str(both.id),
    ]


async def test_ties_are_broken_by_the_grid_rules_in_order_and_the_rule_is_shown(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    rev = [people["rev1"].id]
    same = datetime(2026, 3, 1, tzinfo=UTC)
    top = await scored(session, world, rev, [card(40, 30, 20, 10)], n=1, requested=1)
    q1_high = await scored(session, world, rev, [card(35, 25, 15, 5)], n=2, requested=1)
    q1_low = await scored(session, world, rev, [card(30, 30, 15, 5)], n=3, requested=1)
    early = await scored(session, world, rev, [card(30, 20, 15, 5)], n=4, requested=1)
    late = await scored(session, world, rev, [card(30, 25, 10, 5)], n=5, requested=1)
    twins = [
        await scored(
            session, world, rev, [card(25, 20, 15, 5)], n=n, requested=1, submitted_at=same
        )
        for n in (6, 7)
    ]
    body = await draft(client, world, people["officer"])
    order = [(e["application_id"], e["total"], e["tie_break"]) for e in body["entries"]]
    first, second = sorted(str(t.id) for t in twins)
    assert order == [
        (str(top.id), "100.00", None),
        (str(q1_high.id), "80.00", None),
        (str(q1_low.id), "80.00", "criterion:Q1"),
        (str(early.id), "70.00", None),
        (str(late.id), "70.00", "earlier_submission"),
        (first, "65.00", None),
        (second, "65.00", "application_id"),
    ]
    assert [e["position"] for e in body["entries"]] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("allocated", [Decimal("0.00"), Decimal("0.01")])
async def test_fundable_down_the_order_until_the_budget_left_is_exhausted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: Budget,
    people: dict[str, Actor],
    allocated: Decimal,
) -> None:
    """Budget 1,000.00: 600 + 400 fit exactly; with 0.01 allocated, the 400 does not, and
    neither does anything after it, however small (never funded ahead of a higher one)."""
    if allocated:  # granted outside the ranking (approved before the call had scores)
        granted = await scored(
            session, world, [], [], n=9, requested=1, status=ApplicationStatus.APPROVED
        )
        await allocate(client, people["officer"], granted.id, str(allocated))
    rev = [people["rev1"].id]
    first = await scored(session, world, rev, [card(40, 30, 20, 10)], n=1, requested=600)
    second = await scored(session, world, rev, [card(39, 30, 20, 10)], n=2, requested=400)
    small = await scored(session, world, rev, [card(38, 30, 20, 10)], n=3, requested=1)
    body = await draft(client, world, people["officer"])
    assert (body["budget"], body["allocated"]) == ("1000.00", str(allocated))
    assert body["available"] == str(Decimal("1000.00") - allocated)
    outcomes = [e["outcome"] for e in body["entries"]]
    assert [e["application_id"] for e in body["entries"]] == [
        str(first.id),
        str(second.id),
        str(small.id),
    ]
    if allocated:
        assert outcomes == ["fundable", "eligible_not_funded", "eligible_not_funded"]
    else:
        assert outcomes == ["fundable", "fundable", "eligible_not_funded"]


async def test_only_complete_reviews_are_ranked(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    world = await budget(session, total=1_000_000, call_budget=10_000, code="PEND")
    await with_grid(session, world.call, one_reviewer(reviewers_per_application=2))
    reviewers = [people["rev1"].id, people["rev2"].id]
    done = await scored(session, world, reviewers, [card(30, 20, 15, 5)] * 2, n=1)
    waiting = await scored(session, world, reviewers, [card(30, 20, 15, 5)], n=2)
    submitted = await scored(session, world, [], [], n=3, status=ApplicationStatus.SUBMITTED)
    rejected = await scored(
        session, world, reviewers, [card(30, 20, 15, 5)] * 2, n=4, status=ApplicationStatus.REJECTED
    )
    approved = await scored(
        session, world, reviewers, [card(30, 20, 15, 5)] * 2, n=5, status=ApplicationStatus.APPROVED
    )
    body = await draft(client, world, people["officer"])
    assert set(by_application(body)) == {str(done.id), str(approved.id)}
    assert body["awaiting_scores"] == [
        {"application_id": str(waiting.id), "scored": 1, "required": 2}
    ]
    assert str(submitted.id) not in str(body)
    assert str(rejected.id) not in str(body)


async def test_no_complete_grid_no_ranking(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    world = await budget(session, total=1_000_000, call_budget=10_000, code="NOG")
    response = await client.get(path(world), headers=people["officer"].headers)
    assert problem(response, 409, "scoring_grid_unavailable")
    incomplete = copy.deepcopy(GRID)
    incomplete["min_total"] = None
    await with_grid(session, world.call, incomplete)
    response = await client.get(path(world), headers=people["officer"].headers)
    assert problem(response, 409, "scoring_grid_unavailable")["missing"] == ["min_total"]
    await session.execute(
        update(Call)
        .where(Call.id == world.call.id)
        .values(selection_method=SelectionMethod.FIRST_COME)
    )
    response = await client.get(path(world), headers=people["officer"].headers)
    assert problem(response, 409, "scoring_grid_unavailable")


async def test_the_draft_is_the_regions_only(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    await scored(session, world, [people["rev1"].id], [card(30, 20, 15, 5)])
    for name in ("officer", "admin"):
        assert (await client.get(path(world), headers=people[name].headers)).status_code == 200
    for headers in (people["applicant"].headers, people["rev1"].headers, {}):
        assert problem(await client.get(path(world), headers=headers), 404, "not_found")


async def publish(
    client: httpx.AsyncClient,
    world: Budget,
    actor: Actor,
    *,
    reference: str = "DD 123/2026",
    if_match: str | None = None,
) -> httpx.Response:
    if if_match is None:
        if_match = (await client.get(path(world), headers=actor.headers)).headers["etag"]
    return await client.post(
        path(world, "ranking/publish"),
        json={"decree_reference": reference, "decree_date": "2026-12-01"},
        headers={**actor.headers, "If-Match": if_match},
    )


async def test_publication_freezes_versions_linked_to_what_they_replace(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    rev = [people["rev1"].id]
    entity = await scored(
        session, world, rev, [card(40, 30, 20, 10)], n=1, requested=600, name="=HYPERLINK(1)"
    )
    person = await scored(
        session,
        world,
        rev,
        [card(30, 20, 15, 5)],
        n=2,
        requested=600,
        name="Mario Rossi",
        applicant_tax_code=NATURAL_PERSON,
    )
    officer = people["officer"]
    etag = (await client.get(path(world), headers=officer.headers)).headers["etag"]
    missing = await client.post(
        path(world, "ranking/publish"),
        json={"decree_reference": "DD 1", "decree_date": "2026-12-01"},
        headers=officer.headers,
    )
    assert problem(missing, 428, "precondition_required")
    first = await publish(client, world, officer, if_match=etag)
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert first.headers["location"] == f"/api/v1/calls/{world.call.id}/rankings/1"
    assert (v1["version"], v1["replaces"], v1["decree_reference"]) == (1, None, "DD 123/2026")
    entries = by_application(v1)
    assert entries[str(entity.id)]["applicant_name"] == "=HYPERLINK(1)"
    assert entries[str(person.id)]["applicant_name"] is None  # a natural person's name: never
    assert [e["outcome"] for e in v1["entries"]] == ["fundable", "eligible_not_funded"]
    # The draft read before version 1 is stale now (it names the latest version).
    assert problem(await publish(client, world, officer, if_match=etag), 412, "precondition_failed")
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "ranking.publish"))
    assert event is not None
    assert event.after is not None
    recorded = json.loads(event.after)
    assert (recorded["version"], len(recorded["entries"])) == (1, 2)

    # A correction: the budget grows, both become fundable; version 2 replaces version 1.
    await session.execute(update(Call).where(Call.id == world.call.id).values(budget=Decimal(1200)))
    await session.execute(
        update(Measure).where(Measure.id == world.measure.id).values(calls_budget=Decimal(1200))
    )
    second = await publish(client, world, people["admin"], reference="DD 130/2026")
    assert second.status_code == 201, second.text
    v2 = second.json()
    assert (v2["version"], v2["replaces"]) == (2, 1)
    assert [e["outcome"] for e in v2["entries"]] == ["fundable", "fundable"]

    # Public reads: the list, each version as frozen, the CSV.
    listed = await Api(client).read(path(world, "rankings"))
    assert [(r["version"], r["replaces"]) for r in listed["items"]] == [(1, None), (2, 1)]
    assert await Api(client).read(path(world, "rankings/1")) == v1
    assert problem(await client.get(path(world, "rankings/3")), 404, "not_found")
    exported = await client.get(path(world, "rankings/1.csv"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:4] == ["version", "position", "application_id", "applicant_name"]
    assert rows[1][:8] == [
        "1",
        "1",
        str(entity.id),
        "'=HYPERLINK(1)",  # a formula is quoted, as in the transparency export
        "Project 1",
        "600.00",
        "100.00",
        "fundable",
    ]
    assert rows[2][3] == ""
    assert "Mario" not in exported.text
    assert '"\'=HYPERLINK(1)"' in exported.text  # text cells in double quotes
    assert rows[1][10] == "Q1=40.00 P2=30.00 S3=20.00 B4=10.00"


async def test_publication_waits_for_every_score(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    await scored(session, world, [people["rev1"].id], [], n=1)
    response = await publish(client, world, people["officer"])
    assert len(problem(response, 409, "ranking_not_ready")["awaiting"]) == 1
    assert await session.scalar(select(func.count()).select_from(Ranking)) == 0


async def test_only_the_region_publishes(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    await scored(session, world, [people["rev1"].id], [card(30, 20, 15, 5)])
    for name in ("applicant", "rev1"):
        response = await publish(client, world, people[name], if_match="*")
        assert response.status_code == 403
    assert await session.scalar(select(func.count()).select_from(Ranking)) == 0


async def test_a_draft_calls_rankings_are_not_public(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    await session.execute(update(Call).where(Call.id == world.call.id).values(status="draft"))
    assert problem(await client.get(path(world, "rankings")), 404, "not_found")
    assert (
        await client.get(path(world, "rankings"), headers=people["officer"].headers)
    ).status_code == 200


@pytest.mark.parametrize("table", [Ranking, RankingEntry])
@pytest.mark.parametrize("change", ["update", "delete"])
async def test_the_database_refuses_to_change_a_published_ranking(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: Budget,
    people: dict[str, Actor],
    table: type[Ranking] | type[RankingEntry],
    change: str,
) -> None:
    await scored(session, world, [people["rev1"].id], [card(30, 20, 15, 5)])
    assert (await publish(client, world, people["officer"])).status_code == 201
    statement: Any = update(table).values(id=uuid.uuid4()) if change == "update" else delete(table)
    if table is RankingEntry and change == "update":
        statement = update(RankingEntry).values(outcome="below_threshold")
    if table is Ranking and change == "update":
        statement = update(Ranking).values(decree_reference="changed")
    with pytest.raises(IntegrityError) as refused:
        async with session.begin_nested():
            await session.execute(statement)
    assert violated_constraint(refused.value) == "ranking_published_immutable_check"
    assert await session.scalar(select(func.count()).select_from(table)) == 1


async def test_a_publication_retried_with_its_idempotency_key_is_replayed_not_repeated(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    await scored(session, world, [people["rev1"].id], [card(30, 20, 15, 5)])
    officer = people["officer"]
    etag = (await client.get(path(world), headers=officer.headers)).headers["etag"]
    headers = {**officer.headers, "If-Match": etag, "Idempotency-Key": "publish-ranking-1"}
    body = {"decree_reference": "DD 5/2026", "decree_date": "2026-12-01"}
    first = await client.post(path(world, "ranking/publish"), json=body, headers=headers)
    again = await client.post(path(world, "ranking/publish"), json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await session.scalar(select(func.count()).select_from(Ranking)) == 1


async def test_a_granted_application_is_fundable_and_takes_nothing_more(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    """Budget 1,000.00, the first (600) granted already: what is left is 400, which the
    next (400) fits exactly; counting the grant twice would leave it unfunded."""
    rev = [people["rev1"].id]
    granted = await scored(
        session,
        world,
        rev,
        [card(40, 30, 20, 10)],
        n=1,
        requested=600,
        status=ApplicationStatus.APPROVED,
    )
    await allocate(client, people["officer"], granted.id, "600.00")
    following = await scored(session, world, rev, [card(39, 30, 20, 10)], n=2, requested=400)
    body = await draft(client, world, people["officer"])
    assert (body["allocated"], body["available"]) == ("600.00", "400.00")
    assert [(e["application_id"], e["outcome"]) for e in body["entries"]] == [
        (str(granted.id), "fundable"),
        (str(following.id), "fundable"),
    ]


async def test_the_draft_costs_the_same_statements_for_one_application_or_many(
    client: httpx.AsyncClient,
    session: AsyncSession,
    connection: AsyncConnection,
    world: Budget,
    people: dict[str, Actor],
) -> None:
    """Applications, their scores and their grants are each one query, whatever their
    number: the draft's cost grows with the rows, never with round trips."""
    rev = [people["rev1"].id]
    await scored(session, world, rev, [card(30, 20, 15, 5)], n=1)
    with counting(connection) as statements:
        await draft(client, world, people["officer"])
    one = len(queries(statements))
    for n in range(2, 12):
        await scored(session, world, rev, [card(30, 20, 15, n % 5)], n=n)
    with counting(connection) as statements:
        body = await draft(client, world, people["officer"])
    assert len(body["entries"]) == 11
    assert len(queries(statements)) == one


async def test_a_partnership_is_shown_by_its_name(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    made = await scored(session, world, [people["rev1"].id], [card(30, 20, 15, 5)], n=1)
    lead = await make_organisation(session, name="Capofila", tax_code=tax_code(77))
    ats = await partnership(session, lead, name="ATS Valli Unite")
    await session.execute(
        update(Application)
        .where(Application.id == made.id)
        .values(applicant_organisation_id=None, partnership_id=ats.id)
    )
    (entry,) = (await draft(client, world, people["officer"]))["entries"]
    assert (entry["application_id"], entry["applicant_name"]) == (str(made.id), "ATS Valli Unite")
