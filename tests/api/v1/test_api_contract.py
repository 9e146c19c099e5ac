"""The API's contract: ETag/If-Match, Idempotency-Key, limits on input, constant queries per
list page, and object-level access through the HTTP surface."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.main import create_app
from app.models import Organisation
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests import ENGLISH
from tests.actors import Actor, tax_code, user_actor
from tests.api.v1.flows import Api, organisation
from tests.conftest import own_database
from tests.statements import counting, queries


@pytest.fixture
async def applicant(session: AsyncSession, settings: Settings) -> Actor:
    return await user_actor(session, settings, Role.APPLICANT)


def org_body(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "legal_name": f"Organisation {n:03d}",
        "tax_code": tax_code(n),
        "legal_nature": "third_sector_organisation",
        "profit_status": "non_profit",
        **fields,
    }


class TestOptimisticConcurrency:
    async def test_patch_needs_if_match_and_refuses_a_stale_one(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        api = Api(client)
        created = await organisation(api, admin, "Coop Uno", tax_code(1))
        path = f"/api/v1/organisations/{created['id']}"
        read = await client.get(path, headers=admin.headers)
        etag = read.headers["etag"]
        assert etag.startswith('"')
        assert not etag.startswith("W/")
        missing = await client.patch(path, json={"legal_name": "X"}, headers=admin.headers)
        assert missing.status_code == 428
        assert missing.json()["rule"] == "precondition_required"
        changed = await client.patch(
            path, json={"legal_name": "Coop Due"}, headers={**admin.headers, "If-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        stale = await client.patch(
            path, json={"legal_name": "Coop Tre"}, headers={**admin.headers, "If-Match": etag}
        )
        assert stale.status_code == 412
        assert stale.json()["current_etag"] == changed.headers["etag"]
        assert (await client.get(path, headers=admin.headers)).json()["legal_name"] == "Coop Due"
        # RFC 9110: "*" matches whatever the current representation is; a list must hold it.
        star = await client.patch(
            path, json={"legal_name": "Coop Quattro"}, headers={**admin.headers, "If-Match": "*"}
        )
        assert star.status_code == 200
        listed = await client.patch(
            path,
            json={"legal_name": "Coop Cinque"},
            headers={**admin.headers, "If-Match": f'"other", {star.headers["etag"]}'},
        )
        assert listed.status_code == 200

    async def test_lifecycle_actions_need_if_match(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        await load_reference_data(session, read_reference_file(WECARE_FILE))
        calls = (await client.get("/api/v1/calls", headers=admin.headers)).json()["items"]
        response = await client.post(f"/api/v1/calls/{calls[0]['id']}/close", headers=admin.headers)
        assert response.status_code == 428


class TestIdempotency:
    async def test_same_key_same_body_replays(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        headers = {**admin.headers, "Idempotency-Key": "create-org-0001"}
        first = await client.post("/api/v1/organisations", json=org_body(1), headers=headers)
        second = await client.post("/api/v1/organisations", json=org_body(1), headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["location"] == first.headers["location"]
        assert second.headers["idempotent-replayed"] == "true"
        count = await session.scalar(select(func.count()).select_from(Organisation))
        assert count == 1

    async def test_same_key_other_body_is_422(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        headers = {**admin.headers, "Idempotency-Key": "create-org-0002"}
        assert (
            await client.post("/api/v1/organisations", json=org_body(2), headers=headers)
        ).status_code == 201
        other = await client.post("/api/v1/organisations", json=org_body(3), headers=headers)
        assert other.status_code == 422
        assert other.json()["rule"] == "idempotency_key_reused"

    async def test_keys_are_scoped_to_the_caller(
        self, client: httpx.AsyncClient, admin: Actor, applicant: Actor
    ) -> None:
        key = {"Idempotency-Key": "shared-key-0003"}
        first = await client.post(
            "/api/v1/organisations", json=org_body(4), headers={**admin.headers, **key}
        )
        second = await client.post(
            "/api/v1/organisations", json=org_body(5), headers={**applicant.headers, **key}
        )
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] != second.json()["id"]

    async def test_a_refused_request_stores_nothing(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        headers = {**admin.headers, "Idempotency-Key": "create-org-0004"}
        bad = org_body(6, tax_code="80087670017")  # wrong check digit
        assert (
            await client.post("/api/v1/organisations", json=bad, headers=headers)
        ).status_code == 422
        good = await client.post("/api/v1/organisations", json=org_body(6), headers=headers)
        assert good.status_code == 201

    async def test_a_retry_while_the_first_is_running_is_409(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        admin: Actor,
        session: AsyncSession,
    ) -> None:
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises writers: a retry waits for the first, then replays")
        actor = f"user:{admin.id}"
        key = "in-flight-0005"
        digest = hashlib.sha256(f"{actor}\x00{key}".encode()).digest()
        lock_id = int.from_bytes(digest[:8], "big", signed=True)
        async with engine.connect() as other:
            await other.begin()
            assert await other.scalar(select(func.pg_try_advisory_xact_lock(lock_id)))
            response = await client.post(
                "/api/v1/organisations",
                json=org_body(7),
                headers={**admin.headers, "Idempotency-Key": key},
            )
            await other.rollback()
        assert response.status_code == 409
        assert response.json()["rule"] == "idempotency_request_in_flight"
        assert int(response.headers["retry-after"]) >= 1

    async def test_a_retry_after_the_commit_replays_while_another_retry_holds_the_key(
        self, tmp_path: Path
    ) -> None:
        """The first request committed; a concurrent retry holds the key's lock while it
        replays (scripted: another connection takes it). A retry arriving then finds the
        stored response and replays too; it was told 409 in flight."""
        async with own_database("postgresql", tmp_path) as (database, settings):
            async with database.session(write=True) as arrange:
                admin = await user_actor(arrange, settings, Role.ADMINISTRATOR)
            key = "committed-0009"
            headers = {**admin.headers, "Idempotency-Key": key}
            transport = httpx.ASGITransport(
                app=create_app(settings, database), raise_app_exceptions=False
            )
            async with httpx.AsyncClient(
                headers=ENGLISH, transport=transport, base_url="http://t"
            ) as client:
                first = await client.post(
                    "/api/v1/organisations", json=org_body(9), headers=headers
                )
                digest = hashlib.sha256(f"user:{admin.id}\x00{key}".encode()).digest()
                lock_id = int.from_bytes(digest[:8], "big", signed=True)
                async with database.engine.connect() as other:
                    await other.begin()
                    assert await other.scalar(select(func.pg_try_advisory_xact_lock(lock_id)))
                    retry = await client.post(
                        "/api/v1/organisations", json=org_body(9), headers=headers
                    )
                    await other.rollback()
        assert first.status_code == 201
        assert retry.status_code == 201, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == first.json()

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    async def test_concurrent_retries_of_a_committed_request_all_replay(
        self, backend: str, tmp_path: Path
    ) -> None:
        """Real commits on a database of the test's own: ten retries released together after
        the first committed all replay it, none is told the key is in flight."""
        async with own_database(backend, tmp_path) as (database, settings):
            async with database.session(write=True) as arrange:
                admin = await user_actor(arrange, settings, Role.ADMINISTRATOR)
            transport = httpx.ASGITransport(
                app=create_app(settings, database), raise_app_exceptions=False
            )
            async with httpx.AsyncClient(
                headers=ENGLISH, transport=transport, base_url="http://t"
            ) as client:
                headers = {**admin.headers, "Idempotency-Key": "storm-of-retries-0010"}
                body = org_body(10)
                first = await client.post("/api/v1/organisations", json=body, headers=headers)
                retries = await asyncio.gather(
                    *(
                        client.post("/api/v1/organisations", json=body, headers=headers)
                        for _ in range(10)
                    )
                )
                async with database.session(write=False) as check:
                    count = await check.scalar(select(func.count()).select_from(Organisation))
        assert first.status_code == 201
        assert [r.status_code for r in retries] == [201] * 10, [r.text for r in retries]
        assert all(r.headers["idempotent-replayed"] == "true" for r in retries)
        assert all(r.json() == first.json() for r in retries)
        assert count == 1


class TestInputLimits:
    async def test_unknown_fields_are_422(self, client: httpx.AsyncClient, admin: Actor) -> None:
        response = await client.post(
            "/api/v1/organisations", json=org_body(8, secret_field=1), headers=admin.headers
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "extra_forbidden"

    async def test_oversized_body_is_413(
        self, client: httpx.AsyncClient, admin: Actor, settings: Settings
    ) -> None:
        body = org_body(9, legal_name="x" * (settings.max_body_bytes + 10))
        response = await client.post("/api/v1/organisations", json=body, headers=admin.headers)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("legal_name", "x" * 301),
            ("legal_nature", "pirate_ship"),
            ("tax_code", "80087670017"),
            ("vat_number", "123"),
        ],
    )
    async def test_bad_values_are_422_and_write_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, field: str, value: str
    ) -> None:
        response = await client.post(
            "/api/v1/organisations", json=org_body(10, **{field: value}), headers=admin.headers
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", field]
        assert await session.scalar(select(func.count()).select_from(Organisation)) == 0

    async def test_ids_are_uuids(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/programmes/not-a-uuid")
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["path", "programme_id"]

    @pytest.mark.parametrize("limit", ["0", "101", "x"])
    async def test_page_limits(self, client: httpx.AsyncClient, limit: str) -> None:
        assert (await client.get(f"/api/v1/programmes?limit={limit}")).status_code == 422


class TestListCost:
    async def test_a_total_costs_exactly_one_more_statement(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        admin: Actor,
    ) -> None:
        from tests.world import approved, budget

        world = await budget(session, total=1_000_000)
        for n in range(3):
            application = await approved(session, world, requested=10, n=n)
            granted = await client.post(
                "/api/v1/allocations",
                json={"application_id": str(application.id), "amount": "10.00"},
                headers=admin.headers,
            )
            assert granted.status_code == 201
        costs = {}
        for flag in ("false", "true"):
            with counting(connection) as statements:
                response = await client.get(f"/api/v1/allocations?limit=2&include_total={flag}")
            assert response.status_code == 200
            costs[flag] = len(queries(statements))
            assert response.json()["total"] == (3 if flag == "true" else None)
        assert costs["true"] == costs["false"] + 1

    async def test_pages_walk_the_whole_list_without_overlap(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        for n in range(7):
            session.add(Organisation(id=uuid.uuid4(), **org_body(40 + n)))
        await session.flush()
        seen: list[str] = []
        cursor = None
        while True:
            url = "/api/v1/organisations?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(url, headers=admin.headers)).json()
            seen += [item["legal_name"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(seen)
        assert len(seen) == len(set(seen)) == 7


class TestObjectLevelAccess:
    async def test_another_applicants_organisation_is_404_and_never_listed(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        alice = await user_actor(session, settings, Role.APPLICANT)
        bob = await user_actor(session, settings, Role.APPLICANT)
        api = Api(client)
        alices = await organisation(api, alice, "Alice Coop", tax_code(60))
        path = f"/api/v1/organisations/{alices['id']}"
        assert (await client.get(path, headers=alice.headers)).status_code == 200
        hidden = await client.get(path, headers=bob.headers)
        assert hidden.status_code == 404
        other = uuid.uuid4()
        missing = await client.get(f"/api/v1/organisations/{other}", headers=bob.headers)
        # Another party's object and a missing one are indistinguishable.
        assert hidden.text.replace(alices["id"], "ID") == missing.text.replace(str(other), "ID")
        listed = (await client.get("/api/v1/organisations", headers=bob.headers)).json()
        assert listed["items"] == []
        by_tax_code = await client.get(
            f"/api/v1/organisations?tax_code={tax_code(60)}", headers=bob.headers
        )
        assert by_tax_code.json()["items"] == []

    async def test_anonymous_reads_the_published_programme(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await load_reference_data(session, read_reference_file(WECARE_FILE))
        programmes = (await client.get("/api/v1/programmes")).json()["items"]
        assert [p["code"] for p in programmes] == ["WECARE"]
        assert programmes[0]["total_budget"] == "20000000.00"
        measures = (await client.get("/api/v1/measures?limit=10")).json()["items"]
        assert sorted(m["code"] for m in measures) == ["FESR", "FSE1", "FSE2", "FSE3", "FSE4"]
        fesr = next(m for m in measures if m["code"] == "FESR")
        assert [line["min_project_cost"] for line in fesr["lines"]] == ["1000000.00", None]
        calls = (await client.get("/api/v1/calls?fund=FESR")).json()["items"]
        assert [c["code"] for c in calls] == ["WECARE-FESR-2018"]
        assert calls[0]["status"] == "closed"
        assert calls[0]["open_phase"] is None
        assert (await client.get("/api/v1/organisations")).status_code == 401
