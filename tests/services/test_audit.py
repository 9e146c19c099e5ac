"""The audit trail: one event per change in the change's transaction, append-only, and a
hash chain that names the first tampered event."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.models import AuditEvent
from app.services.audit import verify_chain
from tests.actors import Actor, tax_code, user_actor
from tests.api.v1.flows import Api
from tests.world import approved, budget


async def events(
    client: httpx.AsyncClient, admin: Actor, **filters: str
) -> list[dict[str, object]]:
    response = await client.get(
        "/api/v1/audit-events", params={"limit": 100, **filters}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


class TestEvents:
    async def test_create_and_update_with_actor_request_key_and_states(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
    ) -> None:
        applicant = await user_actor(session, settings, Role.APPLICANT)
        created = await client.post(
            "/api/v1/organisations",
            json={
                "legal_name": "Coop Audit",
                "tax_code": tax_code(1),
                "legal_nature": "third_sector_organisation",
                "profit_status": "non_profit",
            },
            headers={
                **applicant.headers,
                "Idempotency-Key": "audit-key-0001",
                "X-Request-ID": "req-audit-000001",
            },
        )
        assert created.status_code == 201
        org_id = created.json()["id"]
        api = Api(client)
        await api.patch(f"/api/v1/organisations/{org_id}", applicant, {"legal_name": "Coop Due"})
        trail = await events(client, admin, entity_type="organisation", entity_id=org_id)
        assert [e["action"] for e in trail] == ["organisation.create", "organisation.update"]
        first, second = trail
        assert (first["actor_type"], first["actor_id"]) == ("user", str(applicant.id))
        assert first["request_id"] == "req-audit-000001"
        assert first["idempotency_key"] == "audit-key-0001"
        assert first["before"] is None
        assert json.loads(str(first["after"]))["legal_name"] == "Coop Audit"
        assert json.loads(str(second["before"]))["legal_name"] == "Coop Audit"
        assert json.loads(str(second["after"]))["legal_name"] == "Coop Due"
        assert second["prev_hash"] == first["hash"] or int(str(second["seq"])) > int(
            str(first["seq"])
        )

    async def test_grant_and_revoke_with_reason_and_no_secrets(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
    ) -> None:
        world = await budget(session, total=100_000)
        application = await approved(session, world, requested=1_000)
        granted = await client.post(
            "/api/v1/allocations",
            json={"application_id": str(application.id), "amount": "1000.00"},
            headers=admin.headers,
        )
        allocation_id = granted.json()["id"]
        await Api(client).act(
            f"/api/v1/allocations/{allocation_id}", "revoke", admin, json={"reason": "rinuncia"}
        )
        trail = await events(client, admin, entity_type="allocation")
        assert [e["action"] for e in trail] == ["allocation.grant", "allocation.revoke"]
        assert trail[1]["reason"] == "rinuncia"
        assert json.loads(str(trail[1]["after"]))["status"] == "revoked"
        users = await events(client, admin, entity_type="user")
        assert users
        assert all("password_hash" not in str(e["after"]) for e in users)

    async def test_a_refused_request_leaves_no_event(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=100_000, call_budget=500)
        application = await approved(session, world, requested=1_000)
        before = await session.scalar(select(func.count()).select_from(AuditEvent))
        refused = await client.post(
            "/api/v1/allocations",
            json={"application_id": str(application.id), "amount": "1000.00"},
            headers=admin.headers,
        )
        assert refused.status_code == 409
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == before

    async def test_head_is_the_last_event(self, client: httpx.AsyncClient, admin: Actor) -> None:
        trail = await events(client, admin)
        head = (await client.get("/api/v1/audit-events/head", headers=admin.headers)).json()
        assert (head["seq"], head["hash"]) == (trail[-1]["seq"], trail[-1]["hash"])


class TestAppendOnlyAndTamperEvidence:
    @pytest.mark.parametrize(
        "statement", ["UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event"]
    )
    async def test_the_database_refuses_changes(
        self, session: AsyncSession, admin: Actor, statement: str
    ) -> None:
        with pytest.raises(DBAPIError, match="audit_event_append_only"):
            async with session.begin_nested():
                await session.execute(text(statement))

    async def test_verify_names_the_altered_event(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        admin: Actor,
    ) -> None:
        api = Api(client)
        for n in range(3):
            await api.call(
                "POST",
                "/api/v1/organisations",
                admin,
                expect=201,
                json={
                    "legal_name": f"Org {n}",
                    "tax_code": tax_code(10 + n),
                    "legal_nature": "foundation",
                    "profit_status": "non_profit",
                },
            )
        intact = await verify_chain(connection)
        assert intact.ok
        assert intact.events >= 4
        target = intact.head_seq - 1
        # The test disables the guard (inside its transaction, rolled back afterwards).
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
            )
        else:
            await connection.execute(text("DROP TRIGGER audit_event_append_only_update"))
        await connection.execute(
            text('UPDATE audit_event SET after = \'{"legal_name":"Forged"}\' WHERE seq = :seq'),
            {"seq": target},
        )
        broken = await verify_chain(connection)
        assert broken.first_broken_seq == target
        assert broken.reason == "hash does not match the event's content"
