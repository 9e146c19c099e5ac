"""Webhook subscriptions through the API (owners, visibility, URLs), the outbox written in
the change's own transaction, the delivery log, and the sending's SSRF guards against real
receivers on loopback."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import secrets
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from app.core.auth import Role
from app.core.config import Settings
from app.db.session import Database
from app.models import OutboxMessage, WebhookSubscription
from app.services import audit, webhook_worker
from app.services.webhook_sending import address_allowed, send
from tests.actors import Actor, client_actor, make_organisation, tax_code
from tests.webhook_receiver import serve

HOOKS = "/api/v1/webhooks/subscriptions"


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestSubscriptions:
    async def test_an_administrator_subscribes_and_the_secret_is_shown_once(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        body = {"url": "https://127.0.0.1:8443/hook", "event_types": ["payment.made"]}
        r = await client.post(HOOKS, json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["secret"].startswith("whsec_")
        assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) == 32
        assert (made["status"], made["last_sequence"]) == ("active", 0)
        assert r.headers["location"] == f"{HOOKS}/{made['id']}"
        read = await client.get(r.headers["location"], headers=admin.headers)
        assert read.status_code == 200
        assert "secret" not in read.json()
        listed = await client.get(HOOKS, headers=admin.headers)
        assert [s["id"] for s in listed.json()["items"]] == [made["id"]]
        assert read.headers["etag"] == r.headers["etag"]  # change it without reading it
        changed = await client.patch(
            r.headers["location"],
            json={"description": "Feed"},
            headers={**admin.headers, "If-Match": r.headers["etag"]},
        )
        assert changed.status_code == 200
        assert changed.json()["description"] == "Feed"

    async def test_a_client_sees_only_its_own(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        one = await client_actor(session, settings, scopes=["webhooks:write"])
        two = await client_actor(session, settings, scopes=["webhooks:write"])
        body = {"url": "http://127.0.0.1:9/a", "event_types": ["call.published"]}
        r = await client.post(HOOKS, json=body, headers=one.headers)
        assert r.status_code == 201, r.text
        path = f"{HOOKS}/{r.json()['id']}"
        assert (await client.get(path, headers=two.headers)).status_code == 404
        assert (await client.get(HOOKS, headers=two.headers)).json()["items"] == []
        assert len((await client.get(HOOKS, headers=one.headers)).json()["items"]) == 1

    async def test_a_client_without_the_scope_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        partner = await client_actor(session, settings, scopes=["allocations:read"])
        body = {"url": "http://127.0.0.1:9/a", "event_types": ["call.published"]}
        r = await client.post(HOOKS, json=body, headers=partner.headers)
        assert r.status_code == 403
        assert r.json()["rule"] == "insufficient_scope"

    @pytest.mark.parametrize(
        ("scopes", "event_type"),
        [
            (["webhooks:write"], "application.submitted"),
            (["webhooks:write"], "payment.made"),
            (["webhooks:write", "allocations:read"], "allocation.revoked"),
            (["webhooks:write"], "allocation.granted"),  # needs allocations:read
            (["webhooks:write"], "pledge.changed"),  # needs pledges:read
        ],
    )
    async def test_a_client_may_not_subscribe_to_what_it_may_not_read(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        scopes: list[str],
        event_type: str,
    ) -> None:
        partner = await client_actor(session, settings, scopes=scopes)
        before = await count(session, WebhookSubscription)
        body = {"url": "http://127.0.0.1:9/a", "event_types": ["call.published", event_type]}
        r = await client.post(HOOKS, json=body, headers=partner.headers)
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert (r.json()["rule"], r.json()["event_types"]) == (
            "webhook_event_not_visible",
            [event_type],
        )
        assert await count(session, WebhookSubscription) == before

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://127.0.0.1/hook",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[fd00::1]/hook",
            "http://[::ffff:192.168.1.1]/hook",
            "https://user:pw@127.0.0.1/hook",
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "https:///nohost",
        ],
    )
    async def test_a_url_the_service_will_not_call_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor, url: str
    ) -> None:
        before = await count(session, WebhookSubscription)
        r = await client.post(
            HOOKS, json={"url": url, "event_types": ["call.published"]}, headers=admin.headers
        )
        assert r.status_code == 422, r.text
        assert r.json()["rule"] in ("webhook_url_refused", "validation_error")
        assert await count(session, WebhookSubscription) == before


class TestOutbox:
    async def test_a_mapped_event_writes_one_outbox_row_in_its_transaction(
        self, session: AsyncSession
    ) -> None:
        before = await count(session, OutboxMessage)
        await audit.record(
            session, action="call.update", entity_type="call", entity_id=uuid.uuid4()
        )
        assert await count(session, OutboxMessage) == before  # not an event of interest
        org = uuid.uuid4()
        event = await audit.record(
            session,
            action="pledge.update",
            entity_type="pledge",
            entity_id=uuid.uuid4(),
            before={"amount_cents": 1},
            after={"amount_cents": 2, "organisation_id": str(org)},
        )
        row = await session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
        assert row is not None
        assert (row.kind, row.audit_seq, row.audience, row.channel) == (
            "pledge.changed",
            event.seq,
            str(org),
            "webhook",
        )
        assert row.dispatched_at is None


class TestVisibilityAndLog:
    async def test_a_foundation_gets_its_own_pledges_only_and_reads_its_log(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        database: Database,
    ) -> None:
        ours = await make_organisation(session, name="Fondazione A", tax_code=tax_code(71))
        theirs = await make_organisation(session, name="Fondazione B", tax_code=tax_code(72))
        partner = await client_actor(
            session, settings, scopes=["webhooks:write", "pledges:read"], organisation_id=ours.id
        )
        with serve() as receiver:
            body = {"url": receiver.url, "event_types": ["pledge.changed"]}
            r = await client.post(HOOKS, json=body, headers=partner.headers)
            assert r.status_code == 201, r.text
            made = r.json()
            for org in (theirs.id, ours.id, theirs.id):
                await audit.record(
                    session,
                    action="pledge.create",
                    entity_type="pledge",
                    entity_id=uuid.uuid4(),
                    after={"organisation_id": str(org)},
                )
            await session.flush()
            await webhook_worker.run_once(database, settings)
            await webhook_worker.run_once(database, settings)
        (event,) = [Webhook(made["secret"]).verify(x.body, x.headers) for x in receiver.received]
        assert event["data"]["sequence"] == 1
        log = await client.get(f"{HOOKS}/{made['id']}/attempts", headers=partner.headers)
        assert log.status_code == 200
        (attempt,) = log.json()["items"]
        assert (attempt["sequence"], attempt["status_code"]) == (1, 200)
        assert attempt["latency_ms"] >= 0
        assert attempt["response_body"] == "answer 0"


@pytest.mark.one_backend("sqlite")
class TestSending:
    """The SSRF guards and limits (no database involved)."""

    PRODUCTION = Settings(
        environment="production",
        secret_key=secrets.token_urlsafe(48),  # type: ignore[arg-type]
        public_base_url="https://wecare.example.org",
    )
    DEVELOPMENT = Settings(webhook_timeout_seconds=2)

    @pytest.mark.parametrize(
        ("address", "development", "production"),
        [
            ("127.0.0.1", True, False),
            ("::1", True, False),
            ("10.1.2.3", False, False),
            ("172.16.0.1", False, False),
            ("192.168.0.1", False, False),
            ("169.254.169.254", False, False),  # cloud metadata
            ("fe80::1", False, False),
            ("fd00:ec2::254", False, False),  # AWS metadata over IPv6 (unique local)
            ("100.64.0.1", False, False),
            ("::ffff:10.0.0.1", False, False),
            ("224.0.0.1", False, False),
            ("0.0.0.0", False, False),
            ("93.184.216.34", True, True),
            ("2606:4700::1111", True, True),
        ],
    )
    def test_which_addresses_may_be_called(
        self, address: str, development: bool, production: bool
    ) -> None:
        ip = ipaddress.ip_address(address)
        assert address_allowed(ip, self.DEVELOPMENT) is development
        assert address_allowed(ip, self.PRODUCTION) is production

    async def _send(self, url: str, settings: Settings) -> Any:
        return await send(
            url,
            body='{"type":"t"}',
            msg_id="msg_1",
            timestamp=datetime.now(UTC),
            secrets=["whsec_" + base64.b64encode(b"k" * 32).decode()],
            settings=settings,
        )

    async def test_production_refuses_http_and_loopback(self) -> None:
        with serve() as receiver:
            outcome = await self._send(receiver.url, self.PRODUCTION)
            https = await self._send(receiver.url.replace("http", "https"), self.PRODUCTION)
        assert receiver.received == []
        assert outcome.status_code is None
        assert outcome.error.startswith("refused")
        assert https.status_code is None
        assert "does not call" in https.error

    async def test_the_connection_goes_to_the_resolved_address(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A name is resolved once, checked, and connected to by address (Host names it):
        a second resolution (rebinding) cannot redirect the connection."""
        answers = iter(["127.0.0.1", "10.0.0.5"])

        async def getaddrinfo(host: str, port: int, **_: object) -> list[Any]:
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        with serve() as receiver:
            port = receiver.url.split(":")[2].split("/")[0]
            url = f"http://hooks.partner.test:{port}/hook"
            first = await self._send(url, self.DEVELOPMENT)
            second = await self._send(url, self.DEVELOPMENT)  # now resolves to 10.0.0.5
        assert first.status_code == 200
        assert receiver.received[0].headers["host"] == f"hooks.partner.test:{port}"
        assert second.status_code is None
        assert "does not call" in second.error
        assert len(receiver.received) == 1

    async def test_redirects_are_not_followed_and_answers_are_capped(self) -> None:
        with serve(lambda n: 307) as receiver:
            receiver.location = "http://169.254.169.254/latest/meta-data"
            receiver.payload = b"x" * 200_000
            outcome = await self._send(receiver.url, self.DEVELOPMENT)
        assert outcome.status_code == 307
        assert not outcome.delivered
        assert len(receiver.received) == 1
        assert outcome.response_body == "x" * 1024

    async def test_an_unresolvable_host_is_an_error_not_a_crash(self) -> None:
        outcome = await self._send("http://does-not-exist.invalid/hook", self.DEVELOPMENT)
        assert outcome.status_code is None
        assert "does not resolve" in outcome.error


def test_the_roles_that_may_subscribe() -> None:
    from app.core.auth import ROLE_SCOPES, Scope

    holders = {role for role, scopes in ROLE_SCOPES.items() if Scope.WEBHOOKS_WRITE in scopes}
    assert holders == {Role.ADMINISTRATOR}
