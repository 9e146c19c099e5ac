"""Scoring grids over HTTP: set with a call, validated field by field, read with the derived
maximum, locked by the first score; scores per criterion within their range; the declaration
of no conflict of interest; no reviewer from an organisation of the application."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus
from app.db.guards import violated_constraint
from app.models import (
    Application,
    AuditEvent,
    Call,
    ReviewScore,
    ScoringCriterion,
    UserMembership,
)
from tests.actors import Actor, user_actor
from tests.api.v1.flows import Api, declare_no_conflict, problem
from tests.world import GRID, Budget, approved, budget, partnership_draft, scores, with_grid


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> dict[str, Actor]:
    return {
        "officer": await user_actor(session, settings, Role.OFFICER),
        "admin": await user_actor(session, settings, Role.ADMINISTRATOR),
        "rev1": await user_actor(session, settings, Role.REVIEWER),
        "rev2": await user_actor(session, settings, Role.REVIEWER),
    }


@pytest.fixture
async def world(session: AsyncSession) -> Budget:
    """A measure with room for more calls, and its call (no grid yet)."""
    return await budget(session, total=1_000_000, call_budget=500_000, code="G")


def call_body(world: Budget, code: str, grid: Any = None, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
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
    if grid is not None:
        body["scoring_grid"] = grid
    return body


def grid(**changes: Any) -> dict[str, Any]:
    made = copy.deepcopy(GRID)
    made.update(changes)
    return made


def criterion(index: int, **changes: Any) -> list[dict[str, Any]]:
    criteria: list[dict[str, Any]] = copy.deepcopy(GRID["criteria"])  # type: ignore[arg-type]
    criteria[index].update(changes)
    return criteria


async def test_a_call_is_created_and_read_with_its_grid(
    client: httpx.AsyncClient, world: Budget, people: dict[str, Actor]
) -> None:
    api = Api(client)
    made = await api.call(
        "POST", "/api/v1/calls", people["officer"], json=call_body(world, "G-1", GRID), expect=201
    )
    read = (await api.read(f"/api/v1/calls/{made['id']}", people["officer"]))["scoring_grid"]
    assert read == made["scoring_grid"]
    assert [(c["code"], c["max_score"], c["min_score"]) for c in read["criteria"]] == [
        ("Q1", 40, 20),
        ("P2", 30, None),
        ("S3", 20, None),
        ("B4", 10, None),
    ]
    assert read["criteria"][0]["name_it"] == "Qualità"
    assert (read["max_total"], read["min_total"]) == (100, 60)
    assert (read["reviewers_per_application"], read["combination"]) == (3, "trimmed_mean")
    assert read["tie_breaks"] == [
        {"kind": "criterion", "criterion": "Q1"},
        {"kind": "earlier_submission", "criterion": None},
    ]
    assert (read["complete"], read["missing"], read["locked_at"]) == (True, [], None)
    listed = await api.read("/api/v1/calls?status=draft", people["officer"])
    assert [c["scoring_grid"]["max_total"] for c in listed["items"] if c["code"] == "G-1"] == [100]
    # A call without a grid reads null.
    assert (await api.read(f"/api/v1/calls/{world.call.id}", people["officer"]))[
        "scoring_grid"
    ] is None


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (
            grid(criteria=[*criterion(0), {**criterion(0)[0], "name": {"it": "B", "en": "B"}}]),
            "repeated",
        ),
        (grid(criteria=criterion(1, max_score=0)), "max_score"),
        (grid(criteria=criterion(1, max_score=None, min_score=None), min_total=None), None),
        (grid(criteria=criterion(0, min_score=41)), "min_score"),
        (grid(criteria=criterion(0, min_score=-1)), "min_score"),
        (grid(min_total=101), "min_total"),
        (grid(min_total=-1), "min_total"),
        (grid(reviewers_per_application=0), "reviewers_per_application"),
        (grid(combination="median"), "combination"),
        (grid(tie_breaks=[{"kind": "criterion", "criterion": "Z9"}]), "tie_breaks"),
        (grid(tie_breaks=[{"kind": "criterion"}]), "tie_breaks"),
        (grid(tie_breaks=[{"kind": "earlier_submission", "criterion": "Q1"}]), "tie_breaks"),
        (grid(tie_breaks=[{"kind": "earlier_submission"}] * 2), "tie_breaks"),
        (grid(criteria=[]), "criteria"),
        (grid(criteria=criterion(0, code="Q 1")), "code"),
        (grid(weight=3), "weight"),
        ({k: v for k, v in GRID.items() if k != "min_total"}, "min_total"),
    ],
)
async def test_a_bad_grid_is_422_naming_the_field_and_creates_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: Budget,
    people: dict[str, Actor],
    bad: dict[str, Any],
    field: str | None,
) -> None:
    response = await client.post(
        "/api/v1/calls", json=call_body(world, "G-BAD", bad), headers=people["officer"].headers
    )
    if field is None:  # the control: an incomplete grid (figures unknown) is accepted
        assert response.status_code == 201, response.text
        return
    body = problem(response, 422, "validation_error")
    assert field in str(body["errors"]), body
    assert "scoring_grid" in str(body["errors"][0]["loc"])
    assert await session.scalar(select(func.count()).where(Call.code == "G-BAD")) == 0


@pytest.mark.parametrize(
    "edge",
    [
        grid(criteria=criterion(1, max_score=1)),  # the least maximum
        grid(criteria=criterion(0, min_score=40)),  # minimum = maximum
        grid(criteria=criterion(0, min_score=0)),
        grid(min_total=100),  # = the sum of the maxima
        grid(min_total=0),
        grid(reviewers_per_application=1),
        grid(combination="mean", tie_breaks=[]),
    ],
)
async def test_grids_at_the_boundaries_are_accepted(
    client: httpx.AsyncClient, world: Budget, people: dict[str, Actor], edge: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/v1/calls", json=call_body(world, "G-EDGE", edge), headers=people["officer"].headers
    )
    assert response.status_code == 201, response.text


async def test_only_a_ranking_call_has_a_grid(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    body = call_body(world, "G-FC", GRID, selection_method="first_come")
    response = await client.post("/api/v1/calls", json=body, headers=people["officer"].headers)
    assert problem(response, 422, "invalid_input")["field"] == "scoring_grid"
    assert await session.scalar(select(func.count()).where(Call.code == "G-FC")) == 0
    plain = call_body(world, "G-FC", selection_method="first_come")
    made = await Api(client).call(
        "POST", "/api/v1/calls", people["officer"], json=plain, expect=201
    )
    assert made["scoring_grid"] is None


async def _under_review(session: AsyncSession, world: Budget, n: int = 0) -> Application:
    return await approved(
        session, world, requested=1_000, n=n, status=ApplicationStatus.UNDER_REVIEW
    )


async def _declared_review(
    api: Api, people: dict[str, Actor], application: Application, who: str = "rev1"
) -> str:
    review = await api.call(
        "POST",
        f"/api/v1/applications/{application.id}/reviews",
        people["officer"],
        json={"reviewer_id": str(people[who].id)},
        expect=201,
    )
    path = f"/api/v1/applications/{application.id}/reviews/{review['id']}"
    await declare_no_conflict(api, people[who], path)
    return path


async def _score(
    client: httpx.AsyncClient, actor: Actor, path: str, body: dict[str, Any]
) -> httpx.Response:
    etag = (await client.get(path, headers=actor.headers)).headers["etag"]
    return await client.post(
        f"{path}/score", json=body, headers={**actor.headers, "If-Match": etag}
    )


async def _patch_grid(
    client: httpx.AsyncClient, officer: Actor, call_id: uuid.UUID, new: Any
) -> httpx.Response:
    path = f"/api/v1/calls/{call_id}"
    etag = (await client.get(path, headers=officer.headers)).headers["etag"]
    return await client.patch(
        path, json={"scoring_grid": new}, headers={**officer.headers, "If-Match": etag}
    )


async def test_no_grid_or_an_incomplete_one_cannot_be_scored_until_completed(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    api, officer, rev1 = Api(client), people["officer"], people["rev1"]
    path = await _declared_review(api, people, await _under_review(session, world))
    none = await _score(client, rev1, path, scores())
    problem(none, 409, "scoring_grid_unavailable")

    unknown = grid(criteria=criterion(3, max_score=None), combination=None)
    changed = await _patch_grid(client, officer, world.call.id, unknown)
    assert changed.status_code == 200, changed.text
    read = changed.json()["scoring_grid"]
    assert (read["complete"], read["max_total"]) == (False, None)
    assert read["missing"] == ["criteria.B4.max_score", "combination"]
    refused = problem(await _score(client, rev1, path, scores()), 409, "scoring_grid_unavailable")
    assert refused["missing"] == ["criteria.B4.max_score", "combination"]
    assert (await api.read(path, rev1))["scores"] == []

    assert (await _patch_grid(client, officer, world.call.id, GRID)).status_code == 200
    assert (await _score(client, rev1, path, scores())).status_code == 200


async def test_the_first_score_locks_the_grid(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    api, officer, rev1 = Api(client), people["officer"], people["rev1"]
    await with_grid(session, world.call)
    path = await _declared_review(api, people, await _under_review(session, world))
    # Before any score the grid changes freely (and the change is audited).
    wider = grid(criteria=criterion(0, max_score=50))
    assert (await _patch_grid(client, officer, world.call.id, wider)).status_code == 200
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "call.update").order_by(AuditEvent.seq.desc())
    )
    assert event is not None
    assert '"max_score":40' in (event.before or "")
    assert '"max_score":50' in (event.after or "")

    assert (await _score(client, rev1, path, scores(q1=50))).status_code == 200
    call = await api.read(f"/api/v1/calls/{world.call.id}", officer)
    assert call["scoring_grid"]["locked_at"] is not None
    refused = problem(
        await _patch_grid(client, officer, world.call.id, GRID), 409, "scoring_grid_locked"
    )
    assert refused["locked_at"] is not None
    again = await api.read(f"/api/v1/calls/{world.call.id}", officer)
    assert again["scoring_grid"] == call["scoring_grid"]
    assert again["updated_at"] == call["updated_at"]
    # Sending the grid as it is changes nothing and is no conflict.
    assert (await _patch_grid(client, officer, world.call.id, wider)).status_code == 200
    # Rescoring on a locked grid goes on.
    assert (await _score(client, rev1, path, scores(q1=10))).status_code == 200

    # The database itself refuses to change a locked grid or its criteria.
    for statement in (
        update(ScoringCriterion).where(ScoringCriterion.code == "Q1").values(max_score=60),
        text("UPDATE scoring_grid SET min_total = 1"),
        text("DELETE FROM scoring_criterion WHERE code = 'B4'"),
    ):
        with pytest.raises(IntegrityError) as raised:
            async with session.begin_nested():
                await session.execute(statement)
        assert violated_constraint(raised.value) == "scoring_grid_locked_check"


@pytest.mark.parametrize(
    ("body", "status", "rule", "figures"),
    [
        (scores(q1=40, p2=30, s3=20, b4=10), 200, None, {"total": 100}),
        (scores(q1=0, p2=0, s3=0, b4=0), 200, None, {"total": 0}),
        (scores(q1=41), 422, "score_out_of_range", {"field": "scores[0].score", "max_score": 40}),
        (scores(b4=11), 422, "score_out_of_range", {"field": "scores[3].score", "max_score": 10}),
        (
            {"scores": scores()["scores"][:3]},  # type: ignore[index]
            422,
            "invalid_input",
            {"missing": ["B4"], "unknown": [], "repeated": []},
        ),
        (
            {"scores": [*scores()["scores"], {"criterion": "Z9", "score": 1, "comment": "c"}]},  # type: ignore[misc]
            422,
            "invalid_input",
            {"missing": [], "unknown": ["Z9"], "repeated": []},
        ),
        (
            {"scores": [*scores()["scores"], scores()["scores"][0]]},  # type: ignore[index, misc]
            422,
            "invalid_input",
            {"missing": [], "unknown": [], "repeated": ["Q1"]},
        ),
    ],
)
async def test_each_criterion_is_scored_within_its_range(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: Budget,
    people: dict[str, Actor],
    body: dict[str, Any],
    status: int,
    rule: str | None,
    figures: dict[str, Any],
) -> None:
    await with_grid(session, world.call)
    path = await _declared_review(Api(client), people, await _under_review(session, world))
    response = await _score(client, people["rev1"], path, body)
    if rule is None:
        assert response.status_code == status, response.text
        assert response.json()["total"] == figures["total"]
        return
    refused = problem(response, status, rule)
    assert {k: refused[k] for k in figures} == figures
    assert await session.scalar(select(func.count()).select_from(ReviewScore)) == 0


async def test_the_database_guards_the_range_and_the_declaration(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    await with_grid(session, world.call)
    path = await _declared_review(Api(client), people, await _under_review(session, world))
    assert (await _score(client, people["rev1"], path, scores())).status_code == 200
    review_id = path.rsplit("/", 1)[1]
    q1 = await session.scalar(select(ScoringCriterion.id).where(ScoringCriterion.code == "Q1"))
    over = update(ReviewScore).where(ReviewScore.criterion_id == q1).values(score=41)
    with pytest.raises(IntegrityError) as raised:
        async with session.begin_nested():
            await session.execute(over)
    assert violated_constraint(raised.value) == "review_score_within_max_check"
    at_max = update(ReviewScore).where(ReviewScore.criterion_id == q1).values(score=40)
    await session.execute(at_max)  # the boundary itself passes
    undeclare = text("UPDATE review SET conflict_declared_at = NULL WHERE id = :id")
    sqlite = session.get_bind().dialect.name == "sqlite"
    await session.execute(undeclare, {"id": uuid.UUID(review_id).hex if sqlite else review_id})
    with pytest.raises(IntegrityError) as raised:
        async with session.begin_nested():
            await session.execute(at_max)
    assert violated_constraint(raised.value) == "review_conflict_declared_check"


async def test_declaring_no_conflict(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    api, rev1 = Api(client), people["rev1"]
    application = await approved(
        session, world, requested=1_000, status=ApplicationStatus.SUBMITTED
    )
    review = await api.call(
        "POST",
        f"/api/v1/applications/{application.id}/reviews",
        people["officer"],
        json={"reviewer_id": str(rev1.id)},
        expect=201,
    )
    path = f"/api/v1/applications/{application.id}/reviews/{review['id']}"
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    declare = f"{path}/declare-no-conflict"
    for refused_body in (
        {},
        {"no_conflict_of_interest": False},
        {"no_conflict_of_interest": "yes"},
    ):
        bad = await client.post(
            declare, json=refused_body, headers={**rev1.headers, "If-Match": etag}
        )
        problem(bad, 422, "validation_error")
    admin = await client.post(
        declare,
        json={"no_conflict_of_interest": True},
        headers={**people["admin"].headers, "If-Match": etag},
    )
    problem(admin, 403, "forbidden")
    first = await declare_no_conflict(api, rev1, path)
    again = await declare_no_conflict(api, rev1, path)
    assert again["conflict_declared_at"] == first["conflict_declared_at"] is not None
    events = (
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "review.declare_no_conflict")
        )
    ).all()
    assert len(events) == 1
    # After the decision there is nothing left to declare for.
    await session.execute(
        update(Application).where(Application.id == application.id).values(status="approved")
    )
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    late = await client.post(
        declare, json={"no_conflict_of_interest": True}, headers={**rev1.headers, "If-Match": etag}
    )
    assert problem(late, 409, "application_not_in_review")["current_status"] == "approved"


async def test_a_reviewer_from_an_organisation_of_the_application_cannot_be_assigned(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, people: dict[str, Actor]
) -> None:
    made = await partnership_draft(session, n=70)
    await session.execute(
        update(Application)
        .where(Application.id == made.application.id)
        .values(status=ApplicationStatus.SUBMITTED)
    )
    lead_id = made.application.applicant_organisation_id
    assert lead_id is None  # a partnership applies: its members are the organisations in it
    path = f"/api/v1/applications/{made.application.id}/reviews"
    officer = people["officer"]

    member_reviewer = await user_actor(
        session, settings, Role.REVIEWER, organisation_ids=[made.partner.id]
    )
    refused = await client.post(
        path, json={"reviewer_id": str(member_reviewer.id)}, headers=officer.headers
    )
    body = problem(refused, 409, "reviewer_conflict_of_interest")
    assert body["organisations"] == [{"id": str(made.partner.id), "legal_name": "Volontari"}]
    assert "Volontari" in body["detail"]

    # The applicant organisation of a single application counts the same.
    world = await budget(session, total=1_000_000, code="COI")
    single = await approved(
        session, world, requested=1_000, n=71, status=ApplicationStatus.SUBMITTED
    )
    applicant_reviewer = await user_actor(
        session,
        settings,
        Role.REVIEWER,
        organisation_ids=[single.applicant_organisation_id],  # type: ignore[list-item]
    )
    refused = await client.post(
        f"/api/v1/applications/{single.id}/reviews",
        json={"reviewer_id": str(applicant_reviewer.id)},
        headers=officer.headers,
    )
    body = problem(refused, 409, "reviewer_conflict_of_interest")
    assert body["organisations"][0]["id"] == str(single.applicant_organisation_id)

    # Acting for an organisation outside the application is no conflict.
    outsider = await user_actor(
        session, settings, Role.REVIEWER, organisation_ids=[made.partner.id]
    )
    allowed = await client.post(
        f"/api/v1/applications/{single.id}/reviews",
        json={"reviewer_id": str(outsider.id)},
        headers=officer.headers,
    )
    assert allowed.status_code == 201, allowed.text


async def test_a_reviewer_who_joined_an_organisation_of_the_application_cannot_declare(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget, people: dict[str, Actor]
) -> None:
    api, rev1 = Api(client), people["rev1"]
    application = await approved(
        session, world, requested=1_000, n=80, status=ApplicationStatus.SUBMITTED
    )
    review = await api.call(
        "POST",
        f"/api/v1/applications/{application.id}/reviews",
        people["officer"],
        json={"reviewer_id": str(rev1.id)},
        expect=201,
    )
    assert application.applicant_organisation_id is not None
    session.add(
        UserMembership(user_id=rev1.id, organisation_id=application.applicant_organisation_id)
    )
    await session.flush()
    path = f"/api/v1/applications/{application.id}/reviews/{review['id']}"
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    refused = await client.post(
        f"{path}/declare-no-conflict",
        json={"no_conflict_of_interest": True},
        headers={**rev1.headers, "If-Match": etag},
    )
    body = problem(refused, 409, "reviewer_conflict_of_interest")
    assert body["organisations"][0]["id"] == str(application.applicant_organisation_id)
    assert (await api.read(path, rev1))["conflict_declared_at"] is None


async def test_an_application_takes_as_many_reviewers_as_the_grid_asks(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: Budget,
    people: dict[str, Actor],
) -> None:
    """GRID asks for 3: the third is assigned, the fourth refused until one leaves."""
    await with_grid(session, world.call)
    application = await approved(
        session, world, requested=1_000, n=81, status=ApplicationStatus.SUBMITTED
    )
    path = f"/api/v1/applications/{application.id}/reviews"
    officer = people["officer"]
    reviewers = [await user_actor(session, settings, Role.REVIEWER) for _ in range(4)]

    async def assign(reviewer: Actor) -> httpx.Response:
        return await client.post(
            path, json={"reviewer_id": str(reviewer.id)}, headers=officer.headers
        )

    made = [await assign(r) for r in reviewers[:3]]
    assert [r.status_code for r in made] == [201, 201, 201]
    body = problem(await assign(reviewers[3]), 409, "reviewers_per_application_reached")
    assert (body["reviewers_per_application"], body["assigned"]) == (3, 3)
    one = f"{path}/{made[0].json()['id']}"
    etag = (await client.get(one, headers=officer.headers)).headers["etag"]
    gone = await client.delete(one, headers={**officer.headers, "If-Match": etag})
    assert gone.status_code == 204
    assert (await assign(reviewers[3])).status_code == 201


async def test_an_incomplete_grid_sets_no_reviewer_limit(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    world: Budget,
    people: dict[str, Actor],
) -> None:
    await with_grid(session, world.call, grid(reviewers_per_application=None))
    application = await approved(
        session, world, requested=1_000, n=82, status=ApplicationStatus.SUBMITTED
    )
    for _ in range(4):
        reviewer = await user_actor(session, settings, Role.REVIEWER)
        response = await client.post(
            f"/api/v1/applications/{application.id}/reviews",
            json={"reviewer_id": str(reviewer.id)},
            headers=people["officer"].headers,
        )
        assert response.status_code == 201, response.text


async def test_a_published_calls_grid_is_public(
    client: httpx.AsyncClient, session: AsyncSession, world: Budget
) -> None:
    """The criteria are published with the call (an auditor checks they were applied);
    scores are not: reviews need reviews:read."""
    await with_grid(session, world.call)
    read = await client.get(f"/api/v1/calls/{world.call.id}")
    assert read.status_code == 200, read.text
    assert read.json()["scoring_grid"]["max_total"] == 100
    application = await _under_review(session, world, n=83)
    hidden = await client.get(f"/api/v1/applications/{application.id}/reviews")
    assert hidden.status_code == 401
