"""Reviews over HTTP: the region assigns reviewers, a reviewer sees and scores only the
applications assigned to them, and every change is audited."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus
from app.models import Application, AuditEvent, Review
from tests.actors import Actor, user_actor
from tests.api.v1.flows import Api, declare_no_conflict, problem
from tests.statements import counting, queries
from tests.world import approved, budget, scores, with_grid


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> dict[str, Actor]:
    return {
        "officer": await user_actor(session, settings, Role.OFFICER),
        "admin": await user_actor(session, settings, Role.ADMINISTRATOR),
        "rev1": await user_actor(session, settings, Role.REVIEWER),
        "rev2": await user_actor(session, settings, Role.REVIEWER),
        "applicant": await user_actor(session, settings, Role.APPLICANT),
    }


async def submitted(session: AsyncSession, n: int = 0) -> Application:
    world = await budget(session, total=1_000_000, code=f"R{n}")
    await with_grid(session, world.call)
    return await approved(session, world, requested=50_000, n=n, status=ApplicationStatus.SUBMITTED)


def reviews_of(application: Application) -> str:
    return f"/api/v1/applications/{application.id}/reviews"


async def assign(api: Api, officer: Actor, application: Application, reviewer: Actor) -> Any:
    return await api.call(
        "POST",
        reviews_of(application),
        officer,
        json={"reviewer_id": str(reviewer.id)},
        expect=201,
    )


async def test_a_reviewer_sees_and_scores_only_what_is_assigned(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    api = Api(client)
    mine, other = await submitted(session, 1), await submitted(session, 2)
    rev1, rev2, officer = people["rev1"], people["rev2"], people["officer"]

    # Before any assignment the reviewer sees nothing of either application.
    await api.call("GET", f"/api/v1/applications/{mine.id}", rev1, expect=404)
    assert (await api.read("/api/v1/applications", rev1))["items"] == []

    review = await assign(api, officer, mine, rev1)
    assert review["reviewer_id"] == str(rev1.id)
    assert (review["scores"], review["total"], review["conflict_declared_at"]) == ([], None, None)
    await assign(api, officer, mine, rev2)

    listed = await api.read("/api/v1/applications", rev1)
    assert [a["id"] for a in listed["items"]] == [str(mine.id)]
    await api.call("GET", f"/api/v1/applications/{other.id}", rev1, expect=404)
    await api.call("GET", reviews_of(other), rev1, expect=404)
    # Each reviewer sees only their own review; the region sees both.
    assert [r["id"] for r in (await api.read(reviews_of(mine), rev1))["items"]] == [review["id"]]
    assert len((await api.read(reviews_of(mine), officer))["items"]) == 2
    theirs = (await api.read(reviews_of(mine), rev2))["items"][0]
    await api.call("GET", f"{reviews_of(mine)}/{theirs['id']}", rev1, expect=404)

    # Scoring waits for the review to start and the declaration, then needs If-Match.
    path = f"{reviews_of(mine)}/{review['id']}"
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    early = await client.post(
        f"{path}/score", json=scores(), headers={**rev1.headers, "If-Match": etag}
    )
    assert problem(early, 409, "application_not_in_review")["current_status"] == "submitted"
    await api.act(f"/api/v1/applications/{mine.id}", "start-review", officer)
    undeclared = await client.post(
        f"{path}/score", json=scores(), headers={**rev1.headers, "If-Match": etag}
    )
    problem(undeclared, 409, "conflict_of_interest_not_declared")
    declared = await declare_no_conflict(api, rev1, path)
    assert declared["conflict_declared_at"] is not None
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    missing = await client.post(f"{path}/score", json=scores(), headers=rev1.headers)
    problem(missing, 428, "precondition_required")
    scored = await api.call(
        "POST", f"{path}/score", rev1, json=scores(30, 20, 15, 5), headers={"If-Match": etag}
    )
    assert [(x["criterion"], x["score"], x["max_score"]) for x in scored["scores"]] == [
        ("Q1", 30, 40),
        ("P2", 20, 30),
        ("S3", 15, 20),
        ("B4", 5, 10),
    ]
    assert scored["scores"][0]["comment"] == "Motivazione Q1."
    assert scored["total"] == 70
    assert scored["scored_at"] is not None
    stale = await client.post(
        f"{path}/score", json=scores(), headers={**rev1.headers, "If-Match": etag}
    )
    problem(stale, 412, "precondition_failed")

    # Another reviewer cannot score this review: it is not even visible to them.
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    foreign = await client.post(
        f"{path}/score", json=scores(), headers={**rev2.headers, "If-Match": etag}
    )
    problem(foreign, 404, "not_found")
    # Nor can the region score on a reviewer's behalf.
    admin_try = await client.post(
        f"{path}/score", json=scores(), headers={**people["admin"].headers, "If-Match": etag}
    )
    problem(admin_try, 403, "forbidden")

    # After the decision the score is frozen.
    await api.act(f"/api/v1/applications/{mine.id}", "approve", officer)
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    late = await client.post(
        f"{path}/score", json=scores(40), headers={**rev1.headers, "If-Match": etag}
    )
    assert problem(late, 409, "application_not_in_review")["current_status"] == "approved"
    assert (await api.read(path, rev1))["total"] == 70


async def test_scoring_reads_the_application_and_the_review_once(
    client: httpx.AsyncClient,
    session: AsyncSession,
    connection: AsyncConnection,
    people: dict[str, Actor],
) -> None:
    """The score checks the application's status on the application loaded with the review
    (the session holds entities weakly: looked up again, it would be read again)."""
    api = Api(client)
    application = await submitted(session)
    officer, rev1 = people["officer"], people["rev1"]
    review = await assign(api, officer, application, rev1)
    await api.act(f"/api/v1/applications/{application.id}", "start-review", officer)
    path = f"{reviews_of(application)}/{review['id']}"
    await declare_no_conflict(api, rev1, path)
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    with counting(connection) as statements:
        await api.call("POST", f"{path}/score", rev1, json=scores(), headers={"If-Match": etag})
    tables = [re.findall(r"\bFROM (\w+)", s) for s in queries(statements)]
    assert sum(found[:1] == ["application"] for found in tables) == 1
    assert sum(found[:1] == ["review"] for found in tables) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scores": [{"criterion": "Q1", "score": -1, "comment": "c"}]}, "score"),
        ({"scores": [{"criterion": "Q1", "score": "high", "comment": "c"}]}, "score"),
        ({"scores": [{"criterion": "Q1", "score": 5}]}, "comment"),
        ({"scores": [{"criterion": "Q1", "score": 5, "comment": " "}]}, "comment"),
        ({"scores": [{"criterion": "Q1", "score": 5, "comment": "x" * 4001}]}, "comment"),
        ({"scores": [], "grade": "A"}, "grade"),
        ({"score": 50}, "scores"),
        ({}, "scores"),
    ],
)
async def test_bad_scores_are_422_and_change_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    people: dict[str, Actor],
    body: dict[str, Any],
    field: str,
) -> None:
    api = Api(client)
    application = await submitted(session)
    review = await assign(api, people["officer"], application, people["rev1"])
    await api.act(f"/api/v1/applications/{application.id}", "start-review", people["officer"])
    path = f"{reviews_of(application)}/{review['id']}"
    await declare_no_conflict(api, people["rev1"], path)
    etag = (await client.get(path, headers=people["rev1"].headers)).headers["etag"]
    response = await client.post(
        f"{path}/score", json=body, headers={**people["rev1"].headers, "If-Match": etag}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in str(response.json()["errors"])
    assert (await client.get(path, headers=people["rev1"].headers)).headers["etag"] == etag


async def test_assignment_rules(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    api = Api(client)
    application = await submitted(session)
    officer = people["officer"]
    path = reviews_of(application)

    async def try_assign(reviewer_id: object) -> httpx.Response:
        return await client.post(
            path, json={"reviewer_id": str(reviewer_id)}, headers=officer.headers
        )

    problem(await try_assign(people["applicant"].id), 422, "not_a_reviewer")
    problem(await try_assign(uuid.uuid4()), 422, "not_a_reviewer")
    await assign(api, officer, application, people["rev1"])
    problem(await try_assign(people["rev1"].id), 409, "reviewer_already_assigned")
    # Drafts and decided applications take no reviewers.
    application.status = ApplicationStatus.DRAFT
    await session.flush()
    body = problem(await try_assign(people["rev2"].id), 409, "application_not_in_review")
    assert body["current_status"] == "draft"
    # An applicant cannot assign (scope), nor read reviews.
    denied = await client.post(
        path, json={"reviewer_id": str(people["rev2"].id)}, headers=people["applicant"].headers
    )
    assert denied.status_code == 403
    assert (await client.get(path, headers=people["applicant"].headers)).status_code == 403
    rows = (
        await session.scalars(select(Review).where(Review.application_id == application.id))
    ).all()
    assert [r.reviewer_id for r in rows] == [people["rev1"].id]


async def test_the_database_refuses_a_second_assignment_with_the_same_rule(
    client: httpx.AsyncClient,
    session: AsyncSession,
    people: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two officers assigning the same reviewer at once: the unique constraint decides."""
    from app.repositories import reviews as repo

    application = await submitted(session)
    await assign(Api(client), people["officer"], application, people["rev1"])

    async def not_assigned(*_: object) -> bool:
        return False

    monkeypatch.setattr(repo, "is_assigned", not_assigned)
    response = await client.post(
        reviews_of(application),
        json={"reviewer_id": str(people["rev1"].id)},
        headers=people["officer"].headers,
    )
    body = problem(response, 409, "reviewer_already_assigned")
    assert body["constraint"] == "review_application_id_reviewer_id_key"


async def test_unassigning_and_the_audit_trail(
    client: httpx.AsyncClient, session: AsyncSession, people: dict[str, Actor]
) -> None:
    api = Api(client)
    application = await submitted(session)
    officer, rev1 = people["officer"], people["rev1"]
    review = await assign(api, officer, application, rev1)
    path = f"{reviews_of(application)}/{review['id']}"
    etag = (await client.get(path, headers=officer.headers)).headers["etag"]
    assert (await client.delete(path, headers=officer.headers)).status_code == 428
    gone = await client.delete(path, headers={**officer.headers, "If-Match": etag})
    assert gone.status_code == 204
    await api.call("GET", path, officer, expect=404)
    await api.call("GET", f"/api/v1/applications/{application.id}", rev1, expect=404)

    # A scored review stays on the record.
    review = await assign(api, officer, application, rev1)
    await api.act(f"/api/v1/applications/{application.id}", "start-review", officer)
    path = f"{reviews_of(application)}/{review['id']}"
    await declare_no_conflict(api, rev1, path)
    etag = (await client.get(path, headers=rev1.headers)).headers["etag"]
    await api.call("POST", f"{path}/score", rev1, json=scores(b4=10), headers={"If-Match": etag})
    etag = (await client.get(path, headers=officer.headers)).headers["etag"]
    kept = await client.delete(path, headers={**officer.headers, "If-Match": etag})
    assert problem(kept, 409, "review_already_scored")["scored_at"] is not None

    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "review").order_by(AuditEvent.seq)
        )
    ).all()
    assert [e.action for e in events] == [
        "review.assign",
        "review.unassign",
        "review.assign",
        "review.declare_no_conflict",
        "review.score",
    ]
    assert events[1].after is None
    assert events[1].before is not None
    assert '"conflict_declared_at":null' in (events[3].before or "")
    assert events[4].actor_type == "user"
    assert events[4].actor_id == str(rev1.id)
    assert '{"comment":"Motivazione B4.","criterion":"B4","score":10}' in (events[4].after or "")
