"""Webhook delivery against real HTTP receivers on loopback, on both databases, with
transactions that really commit (the worker runs its own): signatures checked with the
Standard Webhooks library, retries, a slow receiver, 410, a killed worker, and grants in
order with no gap."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from standardwebhooks import Webhook

from app.core.auth import Principal, Role
from app.core.config import Settings
from app.db.session import Database
from app.models import AuditEvent, OutboxMessage, WebhookAttempt, WebhookDelivery
from app.models import WebhookSubscription as Subscription
from app.schemas.application import AllocationCreate
from app.schemas.webhook import WebhookSubscriptionCreate, WebhookSubscriptionUpdate
from app.services import webhook_worker, webhooks
from app.services.allocations import grant_allocation
from app.services.audit import record
from tests.conftest import BACKENDS, own_database
from tests.webhook_receiver import Receiver, serve
from tests.world import approved, budget


@pytest.fixture(params=BACKENDS)
async def own(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Database, Settings]]:
    async with own_database(
        request.param, tmp_path, webhook_timeout_seconds=0.5, webhook_lease_seconds=30
    ) as made:
        yield made


ADMIN = Principal(kind="user", id=uuid.uuid4(), role=Role.ADMINISTRATOR)


async def subscribe(
    database: Database, settings: Settings, url: str, event_types: list[str]
) -> tuple[uuid.UUID, str]:
    """An administrator's subscription (the account exists: the worker checks its owner)."""
    from tests.actors import user_actor

    async with database.session(write=True) as session:
        admin = await user_actor(session, settings, Role.ADMINISTRATOR)
        principal = Principal(kind="user", id=admin.id, role=Role.ADMINISTRATOR)
        created = await webhooks.create_subscription(
            session,
            principal,
            settings=settings,
            data=WebhookSubscriptionCreate(url=url, event_types=event_types),  # type: ignore[arg-type]
        )
    return created.id, created.secret


async def publish_event(database: Database, n: int = 0) -> int:
    """An audit event of a mapped action in its own committed transaction."""
    async with database.session(write=True) as session:
        event = await record(
            session,
            action="call.publish",
            entity_type="call",
            entity_id=uuid.uuid4(),
            after={"n": n},
        )
        return event.seq


async def drain(database: Database, settings: Settings, rounds: int = 50) -> None:
    for _ in range(rounds):
        if await webhook_worker.run_once(database, settings) == 0:
            async with database.session(write=True) as session:
                pending = await session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .join(Subscription)
                    .where(WebhookDelivery.status == "pending", Subscription.status == "active")
                )
                undispatched = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.channel == "webhook", OutboxMessage.dispatched_at.is_(None)
                    )
                )
            if not pending and not undispatched:
                return


async def make_due(database: Database) -> None:
    """As if the retry's wait had passed."""
    async with database.session(write=True) as session:
        await session.execute(
            update(WebhookDelivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def verified(receiver: Receiver, secret: str) -> list[dict[str, object]]:
    """Every body the receiver got, each signature checked by the Standard Webhooks library."""
    hook = Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in receiver.received]


async def attempts_of(database: Database, subscription_id: uuid.UUID) -> list[WebhookAttempt]:
    async with database.session(write=False) as session:
        found = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.subscription_id == subscription_id)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        return list(found)


async def test_an_event_is_delivered_signed_with_both_numbers(
    own: tuple[Database, Settings],
) -> None:
    database, settings = own
    with serve() as receiver:
        sub, secret = await subscribe(database, settings, receiver.url, ["call.published"])
        seq = await publish_event(database)
        await drain(database, settings)
    (event,) = verified(receiver, secret)
    assert event["type"] == "call.published"
    data = event["data"]
    assert isinstance(data, dict)
    assert (data["sequence"], data["audit_seq"], data["subscription_id"]) == (1, seq, str(sub))
    assert receiver.received[0].headers["webhook-signature"].startswith("v1,")
    (attempt,) = await attempts_of(database, sub)
    assert (attempt.status_code, attempt.sequence, attempt.response_body) == (200, 1, "answer 0")


async def test_a_receiver_that_fails_then_recovers_gets_the_same_message(
    own: tuple[Database, Settings],
) -> None:
    database, settings = own
    with serve(lambda n: 500 if n < 2 else 204) as receiver:
        sub, secret = await subscribe(database, settings, receiver.url, ["call.published"])
        await publish_event(database)
        await webhook_worker.run_once(database, settings)
        async with database.session(write=False) as session:
            delivery = await session.scalar(select(WebhookDelivery))
            assert delivery is not None
            assert delivery.status == "pending"
            assert delivery.attempts == 1
            wait = _aware(delivery.next_attempt_at) - datetime.now(UTC)
            assert timedelta(seconds=3) < wait < timedelta(seconds=7)  # 5 s +-20 %
        await webhook_worker.run_once(database, settings)  # not due yet: nothing sent
        assert len(receiver.received) == 1
        for _ in range(2):
            await make_due(database)
            await webhook_worker.run_once(database, settings)
    assert len(verified(receiver, secret)) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert [a.status_code for a in await attempts_of(database, sub)] == [500, 500, 204]


async def test_a_slow_receiver_times_out_and_is_retried(own: tuple[Database, Settings]) -> None:
    database, settings = own

    def slow(n: int) -> int:
        if n == 0:
            time.sleep(1.5)  # beyond webhook_timeout_seconds (0.5 s)
        return 200

    with serve(slow) as receiver:
        sub, _ = await subscribe(database, settings, receiver.url, ["call.published"])
        await publish_event(database)
        started = time.perf_counter()
        await webhook_worker.run_once(database, settings)
        assert time.perf_counter() - started < 1.4
        await make_due(database)
        await webhook_worker.run_once(database, settings)
    first, second = await attempts_of(database, sub)
    assert first.status_code is None
    assert first.error == "timeout after 0.5 s"
    assert second.status_code == 200


async def test_410_disables_at_once_and_the_owner_is_told(own: tuple[Database, Settings]) -> None:
    database, settings = own
    with serve(lambda n: 410) as gone, serve() as watcher:
        gone_id, _ = await subscribe(database, settings, gone.url, ["call.published"])
        async with database.session(write=True) as session:
            owner = await session.get(Subscription, gone_id)
            assert owner is not None
            assert owner.owner_user_id is not None
            # The same administrator's second endpoint, listening for disablings.
            principal = Principal(kind="user", id=owner.owner_user_id, role=Role.ADMINISTRATOR)
            made = await webhooks.create_subscription(
                session,
                principal,
                settings=settings,
                data=WebhookSubscriptionCreate(
                    url=watcher.url,
                    event_types=["webhook.subscription_disabled"],
                ),
            )
        await publish_event(database)
        await publish_event(database, 1)
        await drain(database, settings)
    assert len(gone.received) == 1  # the second event is kept, not sent
    async with database.session(write=False) as session:
        disabled = await session.get(Subscription, gone_id)
        assert disabled is not None
        assert (disabled.status, disabled.disabled_reason) == (
            "disabled",
            "the endpoint answered 410 Gone",
        )
        trail = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "webhook_subscription.disable")
        )
        assert trail is not None
        assert trail.entity_id == str(gone_id)
        assert trail.actor_type == "system"
        kept = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == gone_id, WebhookDelivery.status == "pending")
        )
        assert kept == 2  # both kept for a re-enabling: the refused one and the next
    (told,) = verified(watcher, made.secret)
    assert told["type"] == "webhook.subscription_disabled"
    assert isinstance(told["data"], dict)
    assert told["data"]["entity_id"] == str(gone_id)


async def test_a_killed_worker_loses_nothing(own: tuple[Database, Settings]) -> None:
    """Worker A claims and sends, and dies before recording; its lease expires and worker B
    sends again: the receiver has the event (twice, the same webhook-id: at least once)."""
    database, settings = own
    with serve() as receiver:
        sub, secret = await subscribe(database, settings, receiver.url, ["call.published"])
        await publish_event(database)
        async with database.session(write=True) as session:
            await webhook_worker.fan_out(session)
        async with database.session(write=True) as session:
            (claimed,) = await webhook_worker.claim(session, settings=settings, limit=5)
        outcome = await webhook_worker._send(claimed, settings)  # A sends, then is killed
        assert outcome.delivered
        assert await webhook_worker.run_once(database, settings) == 0  # leased: not claimable
        async with database.session(write=True) as session:
            await session.execute(
                update(WebhookDelivery).values(
                    lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        assert await webhook_worker.run_once(database, settings) == 1  # B, after the lease
    assert len(verified(receiver, secret)) == 2
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    async with database.session(write=False) as session:
        delivery = await session.scalar(select(WebhookDelivery))
        assert delivery is not None
        assert delivery.status == "delivered"
    assert len(await attempts_of(database, sub)) == 1  # A's attempt died with it


async def test_replay_sends_again_in_order_from_a_number(own: tuple[Database, Settings]) -> None:
    database, settings = own
    with serve() as receiver:
        sub, secret = await subscribe(database, settings, receiver.url, ["call.published"])
        for n in range(4):
            await publish_event(database, n)
        await drain(database, settings)
        async with database.session(write=True) as session:
            found = await session.get(Subscription, sub)
            assert found is not None
            from app.schemas.webhook import WebhookReplay

            await webhooks.replay(session, found, data=WebhookReplay(from_sequence=3))
        await drain(database, settings)
    numbers = [e["data"]["sequence"] for e in verified(receiver, secret)]  # type: ignore[index]
    assert numbers == [1, 2, 3, 4, 3, 4]


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    own: tuple[Database, Settings],
) -> None:
    database, settings = own
    with serve() as receiver:
        sub, old = await subscribe(database, settings, receiver.url, ["call.published"])
        async with database.session(write=True) as session:
            found = await session.get(Subscription, sub)
            assert found is not None
            from app.schemas.webhook import WebhookSecretRotate

            rotated = await webhooks.rotate_secret(
                session, found, data=WebhookSecretRotate(overlap_seconds=3600), settings=settings
            )
        await publish_event(database)
        await drain(database, settings)
    assert rotated.secret != old
    assert len(verified(receiver, old)) == len(verified(receiver, rotated.secret)) == 1
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


GRANTS = 60  # the benchmark names 1,000; the suite runs 60 per backend (see README)


async def test_grants_become_events_in_order_with_no_gap(own: tuple[Database, Settings]) -> None:
    """GRANTS real grants, committed one by one while two workers run: the receiver gets
    every grant once per number, numbers 1..GRANTS in order, chain order kept."""
    database, settings = own
    async with database.session(write=True) as session:
        world = await budget(session, total=GRANTS * 1000, code="HOOK")
        applications = [
            (await approved(session, world, requested=1000, n=n)).id for n in range(GRANTS)
        ]
    officer = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)
    with serve() as receiver:
        receiver.expect = GRANTS
        await subscribe(database, settings, receiver.url, ["allocation.granted"])
        stop = asyncio.Event()
        workers = 2 if database.dialect == "postgresql" else 1
        running = [
            asyncio.create_task(webhook_worker.run(database, fast(settings), stop))
            for _ in range(workers)
        ]
        for application_id in applications:
            async with database.session(write=True) as session:
                await grant_allocation(
                    session,
                    data=AllocationCreate(application_id=application_id, amount=Decimal(1000)),
                    principal=officer,
                )
        await asyncio.to_thread(receiver.done.wait, 60)
        stop.set()
        await asyncio.gather(*running)
    events = [json.loads(r.body) for r in receiver.received]
    numbers = [e["data"]["sequence"] for e in events]
    chain = [e["data"]["audit_seq"] for e in events]
    assert numbers == list(range(1, GRANTS + 1))  # no gap, no duplicate, in order
    assert chain == sorted(chain)
    assert len(set(chain)) == GRANTS


def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_poll_seconds": 0.02})


@pytest.mark.one_backend("sqlite")
async def test_wecare_worker_delivers_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """The command itself, as a process: it delivers a committed event, then SIGTERM ends
    it with status 0 after its round."""
    async with own_database("sqlite", tmp_path) as (database, settings):
        with serve() as receiver:
            receiver.expect = 1
            _, secret = await subscribe(database, settings, receiver.url, ["call.published"])
            await publish_event(database)
            environment = {
                **os.environ,
                "WECARE_DATABASE_URL": settings.database_url,
                "WECARE_WEBHOOK_POLL_SECONDS": "0.1",
            }
            process = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("wecare")),
                "worker",
                env=environment,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                assert await asyncio.to_thread(receiver.done.wait, 30)
            finally:
                process.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "1 delivered" in out.decode()
    assert len(verified(receiver, secret)) == 1


async def test_a_re_enabled_subscription_gets_what_it_missed_in_order(
    own: tuple[Database, Settings],
) -> None:
    database, settings = own
    with serve(lambda n: 410 if n == 0 else 200) as receiver:
        sub, secret = await subscribe(database, settings, receiver.url, ["call.published"])
        await publish_event(database)
        await drain(database, settings)  # 410: disabled
        for n in range(2):
            await publish_event(database, n)  # numbered and kept while disabled
        await drain(database, settings)
        assert len(receiver.received) == 1
        async with database.session(write=True) as session:
            found = await session.get(Subscription, sub)
            assert found is not None
            assert found.status == "disabled"
            principal = Principal(kind="user", id=found.owner_user_id, role=Role.ADMINISTRATOR)
            await webhooks.update_subscription(
                session,
                found,
                data=WebhookSubscriptionUpdate(status="active"),
                principal=principal,
                settings=settings,
            )
        await drain(database, settings)
    numbers = [e["data"]["sequence"] for e in verified(receiver, secret)]  # type: ignore[index]
    assert numbers == [1, 1, 2, 3]
