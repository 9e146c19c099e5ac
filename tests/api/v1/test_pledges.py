"""Co-funding pledges over HTTP: a foundation's client writes only its own foundation's
pledges, another foundation's are 404, the region reads them all, nothing counts them
against a cap, and every change is audited."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import CallStatus, LegalNature
from app.models import AuditEvent, Call, Pledge
from tests.actors import Actor, client_actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import Api, problem
from tests.world import Budget, budget, cents

SCOPES = ["pledges:read", "pledges:write", "organisations:read"]


class Foundations:
    def __init__(self, world: Budget, actors: dict[str, Actor], ids: dict[str, uuid.UUID]):
        self.world = world
        self.actors = actors
        self.ids = ids

    def pledges(self, name: str) -> str:
        return f"/api/v1/organisations/{self.ids[name]}/pledges"


@pytest.fixture
async def f(session: AsyncSession, settings: Settings) -> Foundations:
    world = await budget(session, total=1_000_000, code="PL")
    ids = {}
    actors = {}
    for n, name in enumerate(("crt", "compagnia")):
        org = await make_organisation(
            session,
            name=f"Fondazione {name}",
            tax_code=tax_code(700 + n),
            nature=LegalNature.FOUNDATION,
        )
        ids[name] = org.id
        actors[name] = await client_actor(session, settings, scopes=SCOPES, organisation_id=org.id)
    cooperative = await make_organisation(session, name="Cooperativa", tax_code=tax_code(710))
    ids["cooperative"] = cooperative.id
    actors["cooperative"] = await client_actor(
        session, settings, scopes=SCOPES, organisation_id=cooperative.id
    )
    actors["officer"] = await user_actor(session, settings, Role.OFFICER)
    actors["admin"] = await user_actor(session, settings, Role.ADMINISTRATOR)
    actors["applicant"] = await user_actor(session, settings, Role.APPLICANT)
    actors["reader"] = await client_actor(
        session, settings, scopes=["pledges:read"], organisation_id=ids["crt"]
    )
    return Foundations(world, actors, ids)


def pledge_body(f: Foundations, amount: str = "250000.00", **more: Any) -> dict[str, Any]:
    return {"call_id": str(f.world.call.id), "amount": amount, "note": "Tranche 2018", **more}


async def test_a_foundation_manages_its_own_pledges(
    client: httpx.AsyncClient, session: AsyncSession, f: Foundations
) -> None:
    api = Api(client)
    crt = f.actors["crt"]
    created = await client.post(f.pledges("crt"), json=pledge_body(f), headers=crt.headers)
    assert created.status_code == 201, created.text
    pledge = created.json()
    assert (pledge["amount"], pledge["status"], pledge["organisation_id"]) == (
        "250000.00",
        "active",
        str(f.ids["crt"]),
    )
    path = f"{f.pledges('crt')}/{pledge['id']}"
    assert created.headers["location"] == path

    # Change with If-Match, then withdraw with a reason; both audited.
    changed = await api.patch(path, crt, {"amount": "300000.00"})
    assert changed["amount"] == "300000.00"
    assert changed["note"] == "Tranche 2018"
    withdrawn = await api.act(path, "withdraw", crt, json={"reason": "Fondi spostati al 2019."})
    assert (withdrawn["status"], withdrawn["withdrawal_reason"]) == (
        "withdrawn",
        "Fondi spostati al 2019.",
    )
    again = await api.act(path, "withdraw", crt, json={"reason": "Di nuovo."}, expect=409)
    assert (again["rule"], again["current_status"]) == ("illegal_transition", "withdrawn")
    await api.patch(path, crt, {"amount": "1.00"}, expect=409)

    listed = await api.read(f.pledges("crt"), crt)
    assert [p["id"] for p in listed["items"]] == [pledge["id"]]
    assert (await api.read(f"{f.pledges('crt')}?status=active", crt))["items"] == []
    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "pledge").order_by(AuditEvent.seq)
        )
    ).all()
    assert [e.action for e in events] == ["pledge.create", "pledge.update", "pledge.withdraw"]
    assert {(e.actor_type, e.actor_id) for e in events} == {("client", crt.client_id)}
    assert events[2].reason == "Fondi spostati al 2019."
    # Foundation money: no cap moved.
    call = await session.get(Call, f.world.call.id)
    assert call is not None
    assert cents(call.allocated) == 0


async def test_another_foundations_pledges_do_not_exist_for_you(
    client: httpx.AsyncClient, session: AsyncSession, f: Foundations
) -> None:
    crt, other = f.actors["crt"], f.actors["compagnia"]
    pledge = (await client.post(f.pledges("crt"), json=pledge_body(f), headers=crt.headers)).json()
    path = f"{f.pledges('crt')}/{pledge['id']}"
    # Neither the foundation nor its pledges are visible to another foundation's client.
    assert (await client.get(f.pledges("crt"), headers=other.headers)).status_code == 404
    assert (await client.get(path, headers=other.headers)).status_code == 404
    etag = (await client.get(path, headers=crt.headers)).headers["etag"]
    hijack = await client.patch(
        path, json={"amount": "1.00"}, headers={**other.headers, "If-Match": etag}
    )
    assert hijack.status_code == 404
    wrong_owner = await client.post(f.pledges("crt"), json=pledge_body(f), headers=other.headers)
    assert wrong_owner.status_code == 404
    # The pledge under another organisation's path is not found either.
    assert (
        await client.get(f"{f.pledges('compagnia')}/{pledge['id']}", headers=other.headers)
    ).status_code == 404
    # The region reads every foundation's pledges but an officer cannot write them.
    officer = f.actors["officer"]
    assert (await client.get(path, headers=officer.headers)).status_code == 200
    assert len((await client.get(f.pledges("crt"), headers=officer.headers)).json()["items"]) == 1
    denied = await client.post(f.pledges("crt"), json=pledge_body(f), headers=officer.headers)
    assert denied.status_code == 403
    # A read-only client of the same foundation reads but cannot write.
    reader = f.actors["reader"]
    assert (await client.get(path, headers=reader.headers)).status_code == 200
    assert (
        await client.post(f.pledges("crt"), json=pledge_body(f), headers=reader.headers)
    ).status_code == 403
    # Applicants have no business with pledges.
    assert (await client.get(path, headers=f.actors["applicant"].headers)).status_code == 403
    assert await session.scalar(select(func.count()).select_from(Pledge)) == 1


async def test_only_foundations_pledge_and_a_draft_call_takes_none(
    client: httpx.AsyncClient, session: AsyncSession, f: Foundations
) -> None:
    cooperative = f.actors["cooperative"]
    refused = await client.post(
        f.pledges("cooperative"), json=pledge_body(f), headers=cooperative.headers
    )
    assert problem(refused, 422, "pledger_not_a_foundation")["legal_nature"] == (
        "third_sector_organisation"
    )
    unknown = await client.post(
        f.pledges("crt"),
        json={**pledge_body(f), "call_id": str(uuid.uuid4())},
        headers=f.actors["crt"].headers,
    )
    problem(unknown, 404, "not_found")
    f.world.call.status = CallStatus.DRAFT
    await session.flush()
    # A draft call does not exist for a partner, and is refused to the administrator.
    draft = await client.post(
        f.pledges("crt"), json=pledge_body(f), headers=f.actors["crt"].headers
    )
    problem(draft, 404, "not_found")
    admin = await client.post(
        f.pledges("crt"), json=pledge_body(f), headers=f.actors["admin"].headers
    )
    assert problem(admin, 409, "call_not_open_for_pledges")["call_status"] == "draft"
    assert await session.scalar(select(func.count()).select_from(Pledge)) == 0


async def test_a_call_takes_pledges_until_the_moment_it_is_closed(
    client: httpx.AsyncClient, session: AsyncSession, f: Foundations
) -> None:
    api = Api(client)
    crt = f.actors["crt"]
    last = await client.post(f.pledges("crt"), json=pledge_body(f), headers=crt.headers)
    assert last.status_code == 201, last.text
    # Calls have no closing time: the close action is the moment. The very next pledge is
    # refused, the foundation's and the administrator's alike, and nothing is written.
    await api.act(f"/api/v1/calls/{f.world.call.id}", "close", f.actors["officer"])
    events = await session.scalar(select(func.count()).select_from(AuditEvent))
    for actor in (crt, f.actors["admin"]):
        refused = await client.post(
            f.pledges("crt"), json=pledge_body(f, "1.00"), headers=actor.headers
        )
        body = problem(refused, 409, "call_not_open_for_pledges")
        assert body["call_status"] == "closed"
        assert f.world.call.code in body["detail"]
    assert await session.scalar(select(func.count()).select_from(Pledge)) == 1
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == events
    # A pledge made while the call was open stays the foundation's to withdraw.
    path = f"{f.pledges('crt')}/{last.json()['id']}"
    withdrawn = await api.act(path, "withdraw", crt, json={"reason": "Bando chiuso."})
    assert withdrawn["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1.001"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "100000000000.01"}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"note": "x" * 2001}, "note"),
        ({"matched": True}, "matched"),
        ({"call_id": "not-a-uuid"}, "call_id"),
    ],
)
async def test_bad_pledges_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    f: Foundations,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        f.pledges("crt"), json={**pledge_body(f), **body}, headers=f.actors["crt"].headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in str(response.json()["errors"])
    assert await session.scalar(select(func.count()).select_from(Pledge)) == 0


async def test_idempotent_creation(
    client: httpx.AsyncClient, session: AsyncSession, f: Foundations
) -> None:
    headers = {**f.actors["crt"].headers, "Idempotency-Key": "pledge-2018-1"}
    first = await client.post(f.pledges("crt"), json=pledge_body(f), headers=headers)
    second = await client.post(f.pledges("crt"), json=pledge_body(f), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    other = await client.post(f.pledges("crt"), json=pledge_body(f, "1.00"), headers=headers)
    problem(other, 422, "idempotency_key_reused")
    assert await session.scalar(select(func.count()).select_from(Pledge)) == 1
