"""HTTP steps shared by the API tests: each call asserts its status and returns the body."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from tests.actors import Actor, tax_code, user_actor


def problem(response: httpx.Response, status: int, rule: str) -> dict[str, Any]:
    """An application/problem+json answer with ``status`` naming ``rule``: its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["rule"] == rule, body
    return body


class Api:
    """A thin client that keeps the last ETag of every resource it has read or written."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.etags: dict[str, str] = {}

    async def call(
        self,
        method: str,
        path: str,
        actor: Actor | None,
        *,
        json: Any = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(actor.headers if actor else {})
        sent.update(headers or {})
        response = await self.client.request(method, path, json=json, headers=sent)
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        body = response.json() if response.content else None
        if "etag" in response.headers and isinstance(body, dict) and "id" in body:
            self.etags[self._resource(path, body)] = response.headers["etag"]
        elif "etag" in response.headers and method == "GET":
            self.etags[path] = response.headers["etag"]  # a resource without an id of its own
        return body

    @staticmethod
    def _resource(path: str, body: dict[str, Any]) -> str:
        """The resource's own path: up to its id (an action's or a read's path), or the
        collection's path plus the id (a create); nested resources included."""
        segments = path.split("?", 1)[0].split("/")
        if body["id"] in segments:
            return "/".join(segments[: segments.index(body["id"]) + 1])
        return f"{'/'.join(segments)}/{body['id']}"

    async def read(self, path: str, actor: Actor | None = None) -> Any:
        return await self.call("GET", path, actor)

    async def act(
        self, path: str, action: str, actor: Actor, *, json: Any = None, expect: int = 200
    ) -> Any:
        """POST a lifecycle action with the resource's current ETag."""
        await self.read(path, actor)
        return await self.call(
            "POST",
            f"{path}/{action}",
            actor,
            json=json,
            expect=expect,
            headers={"If-Match": self.etags[path]},
        )

    async def patch(self, path: str, actor: Actor, json: Any, *, expect: int = 200) -> Any:
        await self.read(path, actor)
        return await self.call(
            "PATCH", path, actor, json=json, expect=expect, headers={"If-Match": self.etags[path]}
        )


async def new_partnership(
    api: Api,
    actor: Actor,
    lead: object,
    *,
    name: str,
    form: str = "ats_to_be_formed",
    partners: Sequence[object] = (),
) -> Any:
    """A partnership created over HTTP, led by the organisation ``lead`` and naming the
    organisations ``partners`` (ids). Returns the partnership."""
    body: dict[str, Any] = {"name": name, "form": form, "lead_organisation_id": str(lead)}
    if partners:
        body["partner_organisation_ids"] = [str(partner) for partner in partners]
    return await api.call("POST", "/api/v1/partnerships", actor, expect=201, json=body)


async def new_draft(
    api: Api,
    actor: Actor,
    call_id: object,
    *,
    title: str,
    total_cost: str,
    requested: str | None = None,
    description: str = "-",
    **applicant: object,
) -> Any:
    """A draft application created over HTTP; ``applicant`` names its ``partnership_id`` or
    ``applicant_organisation_id`` and may name its ``district_id`` or ``preliminary_id``.
    ``requested`` is the whole cost unless given. Returns the application."""
    body = {
        "call_id": str(call_id),
        "title": title,
        "description": description,
        "total_cost": total_cost,
        "requested": requested or total_cost,
        **{field: str(value) for field, value in applicant.items()},
    }
    return await api.call("POST", "/api/v1/applications", actor, expect=201, json=body)


async def grant(
    client: httpx.AsyncClient, officer: Actor, application_id: object, amount: str
) -> httpx.Response:
    """Ask for a grant of ``amount`` to the application as ``officer``: the response as it is."""
    return await client.post(
        "/api/v1/allocations",
        json={"application_id": str(application_id), "amount": amount},
        headers=officer.headers,
    )


async def allocate(
    client: httpx.AsyncClient, officer: Actor, application_id: object, amount: str
) -> str:
    """A grant that must succeed (201): the allocation's id."""
    response = await grant(client, officer, application_id, amount)
    assert response.status_code == 201, response.text
    allocation_id: str = response.json()["id"]
    return allocation_id


async def invite(
    api: Api,
    partnership_id: str,
    lead: Actor,
    tax_code: str,
    accepted_by: Actor | None = None,
    *,
    reason: str | None = None,
) -> Any:
    """Invite an organisation into a partnership by tax code; ``accepted_by`` (one of its
    users, or the region with ``reason``) accepts at once. Returns the membership."""
    member = await api.call(
        "POST",
        f"/api/v1/partnerships/{partnership_id}/members",
        lead,
        json={"tax_code": tax_code},
        expect=201,
    )
    if accepted_by is not None:
        path = f"/api/v1/partnerships/{partnership_id}/members/{member['organisation_id']}"
        member = await api.act(path, "accept", accepted_by, json={"reason": reason})
    return member


async def accept(
    api: Api, partnership_id: str, organisation_id: str, actor: Actor, *, reason: str | None = None
) -> Any:
    """Accept a pending invitation (with If-Match), as one of the organisation's users or as
    the region with ``reason``."""
    path = f"/api/v1/partnerships/{partnership_id}/members/{organisation_id}"
    return await api.act(path, "accept", actor, json={"reason": reason})


def window(days_from_now: float, length_days: float = 30) -> tuple[str, str]:
    start = datetime.now(UTC) + timedelta(days=days_from_now)
    return start.isoformat(), (start + timedelta(days=length_days)).isoformat()


def text(it: str, en: str | None = None) -> dict[str, str]:
    return {"it": it, "en": en or it}


async def programme(api: Api, admin: Actor, code: str = "P1", total: str = "10000000.00") -> Any:
    return await api.call(
        "POST",
        "/api/v1/programmes",
        admin,
        expect=201,
        json={
            "code": code,
            "name_it": f"Programma {code}",
            "name_en": f"Programme {code}",
            "description_it": "Descrizione",
            "description_en": "Description",
            "responsible_office": "Direzione Coesione Sociale",
            "legal_basis": "D.G.R. di prova",
            "total_budget": total,
        },
    )


async def organisation(api: Api, actor: Actor, name: str, tax_code: str, **fields: Any) -> Any:
    body = {
        "legal_name": name,
        "tax_code": tax_code,
        "legal_nature": "third_sector_organisation",
        "profit_status": "non_profit",
        "province": "TO",
        **fields,
    }
    return await api.call("POST", "/api/v1/organisations", actor, json=body, expect=201)


async def applicant_for(
    api: Api,
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    name: str,
    n: int,
    **fields: Any,
) -> tuple[Actor, dict[str, Any]]:
    """An organisation registered by the region, and an applicant user acting for it."""
    org = await organisation(api, admin, name, tax_code(n), **fields)
    user = await user_actor(
        session, settings, Role.APPLICANT, organisation_ids=[uuid.UUID(org["id"])]
    )
    return user, org


# A FESR-like measure: line 1 at least EUR 1,000,000 for non-profit SMEs, line 2 at most
# EUR 100,000 for micro and small enterprises (SPEC rule 4), with a health theme.
FESR_LIKE = {
    "code": "FESR",
    "fund": "FESR",
    "title": text("Imprese sociali", "Social enterprises"),
    "objective": text("Obiettivo"),
    "beneficiaries": text("PMI"),
    "budget": "5000000.00",
    "thematic_areas": [{"code": "health-wellbeing", "title": text("Salute e benessere")}],
    "lines": [
        {
            "number": 1,
            "code": "L1",
            "title": text("Linea 1"),
            "description": text("Almeno 1 milione"),
            "min_project_cost": "1000000.00",
            "eligibility": {
                "applicant_forms": ["organisation", "partnership"],
                "size_classes": ["micro", "small", "medium"],
                "profit_statuses": ["non_profit"],
            },
        },
        {
            "number": 2,
            "code": "L2",
            "title": text("Linea 2"),
            "description": text("Al massimo 100 mila"),
            "max_project_cost": "100000.00",
            "eligibility": {
                "applicant_forms": ["organisation"],
                "legal_natures": ["enterprise", "social_enterprise"],
                "size_classes": ["micro", "small"],
            },
        },
    ],
}


async def fesr_call(
    api: Api, admin: Actor, officer: Actor, *, line: int, budget: str
) -> tuple[Any, Any]:
    """A programme with a FESR-like measure and a published call on ``line``, open now:
    (measure, call) as the API returned them."""
    prog = await programme(api, admin, code=f"P-L{line}", total="5000000.00")
    measure = await api.call(
        "POST",
        "/api/v1/measures",
        admin,
        json={**FESR_LIKE, "programme_id": prog["id"]},
        expect=201,
    )
    opens, closes = window(-1)
    call = await api.call(
        "POST",
        "/api/v1/calls",
        officer,
        expect=201,
        json={
            "measure_id": measure["id"],
            "line_number": line,
            "code": f"FESR-L{line}",
            "title": text(f"Sportello linea {line}"),
            "budget": budget,
            "phases": [{"kind": "submission", "opens_at": opens, "closes_at": closes}],
        },
    )
    await api.act(f"/api/v1/calls/{call['id']}", "publish", officer)
    return measure, call


async def declare_no_conflict(api: Api, reviewer: Actor, review_path: str) -> Any:
    """The reviewer declares no conflict of interest with the review's application."""
    etag = (await api.client.get(review_path, headers=reviewer.headers)).headers["etag"]
    return await api.call(
        "POST",
        f"{review_path}/declare-no-conflict",
        reviewer,
        json={"no_conflict_of_interest": True},
        headers={"If-Match": etag},
    )
