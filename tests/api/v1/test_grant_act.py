"""The grant act (issue 16): an allocation's CUP and RNA concession code, on both databases.

Each is its own audited change (If-Match), refused with a problem when malformed (422) or
carried already (409), writing nothing; the CUP is published in the register (JSON, CSV)
and in the 360Giving export, which still validates against the standard.
"""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import CupRequired
from app.models import Allocation
from app.repositories import grant_act as grant_act_repo
from app.services.grant_act import require_cup
from tests.actors import Actor
from tests.api.v1.flows import Api, allocate, problem
from tests.api.v1.test_transparency import errors_of, validator  # noqa: F401 (fixture)
from tests.world import approved, budget

CUP = "C11G06000000001"
OTHER_CUP = "J11B21001230006"
GRANTS = "/api/v1/transparency/grants"


async def _granted(
    client: httpx.AsyncClient, session: AsyncSession, officer: Actor, n: int = 3
) -> list[str]:
    world = await budget(session, total=1_000_000, code="ACT")
    apps = [await approved(session, world, requested=1_000, n=i) for i in range(n)]
    return [await allocate(client, officer, app.id, "1000.00") for app in apps]


async def _record(
    api: Api, officer: Actor, allocation_id: str, segment: str, body: dict[str, str], expect: int
) -> httpx.Response:
    """POST the action with the allocation's current ETag; the response as it is."""
    path = f"/api/v1/allocations/{allocation_id}"
    etag = (await api.client.get(path, headers=officer.headers)).headers["etag"]
    response = await api.client.post(
        f"{path}/{segment}", json=body, headers={**officer.headers, "If-Match": etag}
    )
    assert response.status_code == expect, response.text
    return response


async def _stored(session: AsyncSession, allocation_id: str) -> tuple[str | None, str | None]:
    row = (
        await session.execute(
            select(Allocation.cup, Allocation.rna_cor).where(
                Allocation.id == uuid.UUID(allocation_id)
            )
        )
    ).one()
    return row[0], row[1]


class TestCup:
    async def test_recorded_with_if_match_shown_and_required_before_payment(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        [made, *_] = await _granted(client, session, officer, n=1)
        allocation = await session.get(Allocation, uuid.UUID(made))
        assert allocation is not None
        with pytest.raises(CupRequired) as refused:
            require_cup(allocation)
        assert refused.value.rule == "cup_required"
        assert refused.value.status == 409
        path = f"/api/v1/allocations/{made}"
        # Without If-Match: 428, nothing recorded.
        r = await client.post(f"{path}/cup", json={"cup": CUP}, headers=officer.headers)
        problem(r, 428, "precondition_required")
        api = Api(client)
        answer = await _record(api, officer, made, "cup", {"cup": CUP}, 200)
        assert answer.json()["cup"] == CUP
        assert (await client.get(path)).json()["cup"] == CUP
        listed = (
            await client.get(
                "/api/v1/allocations", params={"application_id": answer.json()["application_id"]}
            )
        ).json()
        assert [item["cup"] for item in listed["items"]] == [CUP]
        await session.refresh(allocation)
        assert require_cup(allocation) == CUP

    @pytest.mark.parametrize(
        "cup",
        [
            "C11G0600000000",  # 14 characters
            "C11G060000000012",  # 16
            "c11g06000000001",  # lower case
            "111G06000000001",  # a digit where the letter is
            "C1AG06000000001",  # a letter where a digit is
            "C11G0600000000A",  # a letter in the last eleven
        ],
    )
    async def test_malformed_is_422_and_writes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor, cup: str
    ) -> None:
        [made, *_] = await _granted(client, session, officer, n=1)
        r = await _record(Api(client), officer, made, "cup", {"cup": cup}, 422)
        problem(r, 422, "validation_error")
        assert await _stored(session, made) == (None, None)

    async def test_one_active_allocation_per_cup_and_a_revoked_one_frees_it(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        first, second, _ = await _granted(client, session, officer)
        api = Api(client)
        await _record(api, officer, first, "cup", {"cup": CUP}, 200)
        body = problem(
            await _record(api, officer, second, "cup", {"cup": CUP}, 409), 409, "cup_taken"
        )
        assert (body["cup"], body["allocation_id"]) == (CUP, first)
        assert await _stored(session, second) == (None, None)
        # The same allocation may record it again (a correction to the same value).
        await _record(api, officer, first, "cup", {"cup": CUP}, 200)
        await api.act(
            f"/api/v1/allocations/{first}", "revoke", officer, json={"reason": "rinuncia"}
        )
        await _record(api, officer, second, "cup", {"cup": CUP}, 200)
        # A revoked allocation's act is closed.
        body = problem(
            await _record(api, officer, first, "cup", {"cup": OTHER_CUP}, 409),
            409,
            "illegal_transition",
        )
        assert body["current_status"] == "revoked"

    async def test_the_unique_index_refuses_what_the_look_up_misses(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        first, second, _ = await _granted(client, session, officer)
        api = Api(client)
        await _record(api, officer, first, "cup", {"cup": CUP}, 200)

        async def finds_nothing(*_: object, **__: object) -> None:
            return None

        monkeypatch.setattr(grant_act_repo, "active_allocation_with_cup", finds_nothing)
        problem(await _record(api, officer, second, "cup", {"cup": CUP}, 409), 409, "cup_taken")
        assert await _stored(session, second) == (None, None)

    async def test_published_in_the_register_csv_and_360giving(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        validator: Draft202012Validator,  # noqa: F811
    ) -> None:
        first, second, _ = await _granted(client, session, officer)
        await _record(Api(client), officer, first, "cup", {"cup": CUP}, 200)
        register = (await client.get(GRANTS)).json()["items"]
        assert {g["id"]: g["cup"] for g in register}[first] == CUP
        assert {g["id"]: g["cup"] for g in register}[second] is None
        assert (await client.get(f"{GRANTS}/{first}")).json()["cup"] == CUP
        rows = list(csv.reader(io.StringIO((await client.get(f"{GRANTS}.csv")).text)))
        cup_column = rows[0].index("cup")
        by_id = {row[0]: row[cup_column] for row in rows[1:]}
        assert (by_id[first], by_id[second]) == (CUP, "")
        package = (await client.get(f"{GRANTS}.360giving.json")).json()
        assert errors_of(validator, package) == []
        grants = {g["id"]: g for g in package["grants"]}
        assert grants[f"360G-wecare-{first}"]["classifications"] == [
            {"vocabulary": "IT-CUP", "code": CUP, "title": "Codice Unico di Progetto"}
        ]
        assert grants[f"360G-wecare-{second}"]["classifications"] == []


class TestRnaCor:
    async def test_recorded_unique_even_after_revocation(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        first, second, _ = await _granted(client, session, officer)
        api = Api(client)
        answer = await _record(api, officer, first, "rna-cor", {"rna_cor": "0012345"}, 200)
        assert answer.json()["rna_cor"] == "0012345"
        body = problem(
            await _record(api, officer, second, "rna-cor", {"rna_cor": "0012345"}, 409),
            409,
            "rna_cor_taken",
        )
        assert body["allocation_id"] == first
        await api.act(
            f"/api/v1/allocations/{first}", "revoke", officer, json={"reason": "rinuncia"}
        )
        # A concession's code stays its own: a revoked one still holds it.
        problem(
            await _record(api, officer, second, "rna-cor", {"rna_cor": "0012345"}, 409),
            409,
            "rna_cor_taken",
        )
        await _record(api, officer, second, "rna-cor", {"rna_cor": "9999999999"}, 200)
        assert await _stored(session, second) == (None, "9999999999")

    @pytest.mark.parametrize("cor", ["", "12345678901", "12a4567", "-1", "1 234"])
    async def test_malformed_is_422_and_writes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor, cor: str
    ) -> None:
        [made, *_] = await _granted(client, session, officer, n=1)
        r = await _record(Api(client), officer, made, "rna-cor", {"rna_cor": cor}, 422)
        problem(r, 422, "validation_error")
        assert await _stored(session, made) == (None, None)
