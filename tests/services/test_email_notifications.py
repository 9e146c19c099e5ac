"""E-mail notifications sent by the worker to a real SMTP server on loopback (aiosmtpd), on
both databases, with transactions that really commit: every kind's trigger and
recipients, Italian and English by the account's language, opt-outs (and the notices that
cannot be refused), SMTP down then back, a worker killed mid-send, and no SMTP at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.core import clock
from app.core.auth import Principal, Role
from app.core.config import Settings
from app.core.errors import InvalidInput
from app.core.notices import LEGALLY_REQUIRED, NoticeKind
from app.db.session import Database
from app.models import Allocation, ClaimLine, EmailDelivery, OutboxMessage, UserAccount
from app.schemas.notification import NotificationPreferencesUpdate
from app.schemas.payment import ClaimCreate, ClaimLineCreate, LineCheck, PaymentCreate
from app.services import email_worker, notifications, payments
from app.services.audit import record
from tests.actors import make_organisation, tax_code, user_actor
from tests.conftest import BACKENDS, own_database
from tests.smtp_server import Collector, free_port, smtp_server
from tests.world import funded

SENDER = "wecare@regione.example.org"


@pytest.fixture(params=BACKENDS)
async def own(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with own_database(request.param, tmp_path) as (database, _):
        yield database


def smtp(port: int, **more: object) -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_sender=SENDER,
        smtp_timeout_seconds=2,
        **more,  # type: ignore[arg-type]
    )


@dataclass
class Cast:
    """The accounts of one grant's story."""

    application_id: uuid.UUID
    allocation_id: uuid.UUID
    organisation_id: uuid.UUID
    maria: uuid.UUID  # applicant, Italian
    john: uuid.UUID  # applicant, English
    officer: uuid.UUID  # Italian
    quiet_officer: uuid.UUID  # opted out of new claims
    applicant: Principal


async def cast(database: Database, settings: Settings) -> Cast:
    """A grant accepted today (its grant's notice already in the outbox) and its people:
    two applicant users of the beneficiary (Italian, English), one deactivated, a user of
    another organisation, two officers (one opted out of new claims)."""
    async with database.session(write=True) as session:
        grant = await funded(session, grant=100_000, accept=True)
        org = grant.organisation_id

        async def account(role: Role, email: str, language: str = "it", **kw: object) -> uuid.UUID:
            made = await user_actor(session, settings, role, email=email, **kw)  # type: ignore[arg-type]
            assert made.id is not None
            user = await session.get(UserAccount, made.id)
            assert user is not None
            user.language = language
            return made.id

        maria = await account(Role.APPLICANT, "maria@coop.example.org", organisation_ids=[org])
        john = await account(Role.APPLICANT, "john@coop.example.org", "en", organisation_ids=[org])
        gone = await account(Role.APPLICANT, "gone@coop.example.org", organisation_ids=[org])
        other = await make_organisation(session, name="Altra", tax_code=tax_code(77))
        await account(Role.APPLICANT, "other@altra.example.org", organisation_ids=[other.id])
        officer = await account(Role.OFFICER, "ufficio@regione.example.org")
        quiet = await account(Role.OFFICER, "quiet@regione.example.org")
        gone_user = await session.get(UserAccount, gone)
        assert gone_user is not None
        gone_user.active = False
        await notifications.update_preferences(
            session,
            Principal(kind="user", id=quiet, role=Role.OFFICER),
            NotificationPreferencesUpdate(opted_out=[NoticeKind.NEW_CLAIM]),
        )
        applicant = Principal(
            kind="user", id=maria, role=Role.APPLICANT, organisation_ids=frozenset({org})
        )
        return Cast(
            grant.application.id, grant.allocation.id, org, maria, john, officer, quiet, applicant
        )


async def application_event(database: Database, who: Cast, action: str) -> None:
    """The application's audit event, as its state change writes it (the services' own
    tests and tests/api/v1/test_audit_per_route.py pin that each route writes its action)."""
    async with database.session(write=True) as session:
        await record(
            session, action=action, entity_type="application", entity_id=who.application_id
        )


async def claim_checked_and_paid(database: Database, who: Cast) -> None:
    """Through the services: a claim filed and submitted, its line checked with a cut, an
    advance paid."""
    officer = Principal(kind="user", id=who.officer, role=Role.OFFICER)
    async with database.session(write=True) as session:
        allocation = await session.get(Allocation, who.allocation_id)
        assert allocation is not None
        today = clock.today()
        claim = await payments.file_claim(
            session,
            allocation,
            data=ClaimCreate(
                period_start=today,
                period_end=today,
                lines=[
                    ClaimLineCreate(
                        cost_category="staff",
                        amount=Decimal("12345.67"),
                        document_reference="FATT-1",
                        spent_on=today,
                    )
                ],
            ),
            principal=who.applicant,
        )
        await payments.submit_claim(session, claim, principal=who.applicant)
    async with database.session(write=True) as session:
        (line,) = await session.scalars(select(ClaimLine).where(ClaimLine.claim_id == claim.id))
        await payments.check_line(
            session,
            line,
            data=LineCheck(outcome="cut", cut=Decimal("345.67"), reason="IVA non ammissibile"),
            principal=officer,
        )
    async with database.session(write=True) as session:
        allocation = await session.get(Allocation, who.allocation_id)
        assert allocation is not None
        await payments.make_payment(
            session,
            allocation,
            data=PaymentCreate(
                kind="advance",  # type: ignore[arg-type]
                amount=Decimal("30000.00"),
                paid_on=clock.today(),
                treasury_reference=f"MAND-{uuid.uuid4().hex[:8]}",
            ),
            principal=officer,
        )


async def drain(database: Database, settings: Settings, rounds: int = 20) -> None:
    for _ in range(rounds):
        if await email_worker.run_once(database, settings) == 0:
            async with database.session(write=False) as session:
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(EmailDelivery)
                    .where(EmailDelivery.status == "pending")
                )
            if not waiting:
                return


async def deliveries(database: Database) -> list[EmailDelivery]:
    async with database.session(write=False) as session:
        return list(await session.scalars(select(EmailDelivery).order_by(EmailDelivery.id)))


class TestEveryKind:
    async def test_each_trigger_reaches_its_recipients_in_their_language(
        self, own: Database
    ) -> None:
        port = free_port()
        settings = smtp(port)
        who = await cast(own, settings)
        for action in (
            "application.submit",
            "application.admit-preliminary",
            "application.approve",
            "application.reject",
        ):
            await application_event(own, who, action)
        await claim_checked_and_paid(own, who)
        async with own.session(write=True) as session:
            await record(
                session,
                action="allocation.revoke",
                entity_type="allocation",
                entity_id=who.allocation_id,
            )
        with smtp_server(port) as server:
            await drain(own, settings)

        applicants = ["john@coop.example.org", "maria@coop.example.org"]
        officers = ["quiet@regione.example.org", "ufficio@regione.example.org"]
        expected = {
            NoticeKind.APPLICATION_SUBMITTED: applicants,
            NoticeKind.APPLICATION_ADMITTED: applicants,
            NoticeKind.APPLICATION_APPROVED: applicants,
            NoticeKind.APPLICATION_REJECTED: applicants,
            NoticeKind.GRANT_AWARDED: applicants,
            NoticeKind.GRANT_REVOKED: applicants,
            NoticeKind.CLAIM_CHECKED: applicants,
            NoticeKind.PAYMENT_MADE: applicants,
            NoticeKind.NEW_SUBMISSION: officers,
            NoticeKind.NEW_CLAIM: ["ufficio@regione.example.org"],  # quiet opted out
        }
        got = {kind: sorted(r.to for r in server.of(kind)) for kind in NoticeKind}
        assert got == expected  # no deactivated account, no other organisation's user
        for received in server.received:
            assert received.mail_from == SENDER
            assert received.rcpt_tos == [received.to]

        def one(kind: NoticeKind, to: str) -> tuple[str, str, str]:
            (found,) = [r for r in server.of(kind) if r.to == to]
            return found.subject, found.body, str(found.message["Content-Language"])

        subject, body, language = one(NoticeKind.GRANT_AWARDED, "maria@coop.example.org")
        assert language == "it"
        assert subject == "WE.CA.RE. - Contributo concesso: 100.000,00\xa0€"
        assert "dovuta per legge" in body
        subject, body, language = one(NoticeKind.GRANT_AWARDED, "john@coop.example.org")
        assert language == "en"
        assert subject == "WE.CA.RE. - Grant awarded: €100,000.00"
        assert "required by law" in body
        subject, body, _ = one(NoticeKind.PAYMENT_MADE, "maria@coop.example.org")
        assert "30.000,00\xa0€" in subject
        assert "Applicant 1" in body
        subject, body, _ = one(NoticeKind.PAYMENT_MADE, "john@coop.example.org")
        assert "€30,000.00" in subject
        _, body, _ = one(NoticeKind.CLAIM_CHECKED, "maria@coop.example.org")
        assert "12.345,67\xa0€" in body
        assert "12.000,00\xa0€" in body
        assert "accolta in parte" in body
        _, body, _ = one(NoticeKind.CLAIM_CHECKED, "john@coop.example.org")
        assert "€12,345.67" in body
        assert "€12,000.00" in body
        assert "partly accepted" in body
        _, body, _ = one(NoticeKind.NEW_CLAIM, "ufficio@regione.example.org")
        assert "12.345,67\xa0€" in body
        assert "Project 1" in body
        day = clock.today()
        _, body, _ = one(NoticeKind.APPLICATION_SUBMITTED, "john@coop.example.org")
        assert f"{day.day} {day.strftime('%B')} {day.year}" in body
        assert str(who.application_id) in body

        logged = await deliveries(own)
        assert len(logged) == len(server.received)
        assert {d.status for d in logged} == {"sent"}
        assert all(d.attempts == 1 and d.sent_at is not None for d in logged)
        ids = {r.message["Message-ID"] for r in server.received}
        assert ids == {d.message_id for d in logged}  # one Message-ID per row, as stored


class TestOptOut:
    async def test_an_opt_out_is_honoured_and_a_required_notice_still_arrives(
        self, own: Database
    ) -> None:
        port = free_port()
        settings = smtp(port)
        who = await cast(own, settings)
        maria = Principal(kind="user", id=who.maria, role=Role.APPLICANT)
        async with own.session(write=True) as session:
            with pytest.raises(InvalidInput) as refused:
                await notifications.update_preferences(
                    session,
                    maria,
                    NotificationPreferencesUpdate(
                        opted_out=[NoticeKind.PAYMENT_MADE, NoticeKind.GRANT_AWARDED]
                    ),
                )
            assert refused.value.figures["legally_required"] == ["grant_awarded"]
        async with own.session(write=True) as session:
            await notifications.update_preferences(
                session,
                maria,
                NotificationPreferencesUpdate(
                    opted_out=[NoticeKind.PAYMENT_MADE, NoticeKind.CLAIM_CHECKED]
                ),
            )
            read = await notifications.get_preferences(session, maria)
        enabled = {p.kind: p.enabled for p in read.preferences}
        assert not enabled[NoticeKind.PAYMENT_MADE]
        assert enabled[NoticeKind.GRANT_AWARDED]
        assert {p.kind for p in read.preferences if p.legally_required} == LEGALLY_REQUIRED
        await claim_checked_and_paid(own, who)
        with smtp_server(port) as server:
            await drain(own, settings)
        assert [r.to for r in server.of(NoticeKind.PAYMENT_MADE)] == ["john@coop.example.org"]
        assert [r.to for r in server.of(NoticeKind.CLAIM_CHECKED)] == ["john@coop.example.org"]
        # The grant (legally required) reaches her all the same.
        assert sorted(r.to for r in server.of(NoticeKind.GRANT_AWARDED)) == [
            "john@coop.example.org",
            "maria@coop.example.org",
        ]


class TestDelivery:
    async def test_smtp_down_then_back_retries_loses_nothing_and_sends_each_once(
        self, own: Database
    ) -> None:
        port = free_port()  # nothing listens there yet
        settings = smtp(port)
        await cast(own, settings)  # the grant's notice: two applicants
        assert await email_worker.run_once(own, settings) == 2
        (first, second) = await deliveries(own)
        assert {first.status, second.status} == {"pending"}
        assert first.attempts == second.attempts == 1
        assert first.last_error is not None
        assert "Connect" in first.last_error
        assert first.next_attempt_at.replace(tzinfo=UTC) > datetime.now(UTC)  # backed off
        assert await email_worker.run_once(own, settings) == 0  # not due yet
        with smtp_server(port) as server:
            async with own.session(write=True) as session:
                await session.execute(
                    update(EmailDelivery).values(
                        next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)
                    )
                )
            await drain(own, settings)
            for _ in range(3):  # more rounds send nothing again
                assert await email_worker.run_once(own, settings) == 0
        assert sorted(r.to for r in server.received) == [
            "john@coop.example.org",
            "maria@coop.example.org",
        ]
        logged = await deliveries(own)
        assert {(d.status, d.attempts) for d in logged} == {("sent", 2)}

    async def test_a_killed_worker_loses_nothing(self, own: Database) -> None:
        port = free_port()
        settings = smtp(port)
        await cast(own, settings)
        async with own.session(write=True) as session:
            await email_worker.fan_out(session, settings)
        # Worker A claims both e-mails, sends one, and is killed before recording anything.
        async with own.session(write=True) as session:
            claimed = await email_worker.claim(session, settings, limit=10)
        assert len(claimed) == 2
        with smtp_server(port) as server:
            outcome = await email_worker.send_claimed(claimed[0], settings)
            assert outcome.sent
            # Worker B: both are leased, nothing to take until the lease expires.
            assert await email_worker.run_once(own, settings) == 0
            async with own.session(write=True) as session:
                await session.execute(
                    update(EmailDelivery).values(
                        lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)
                    )
                )
            await drain(own, settings)
            assert await email_worker.run_once(own, settings) == 0
        logged = await deliveries(own)
        assert {d.status for d in logged} == {"sent"}
        # At least once: the e-mail A had sent went again, with the same Message-ID (a
        # receiving server or client can tell it is the same message); none was lost.
        assert len(server.received) == 3
        assert sorted(r.to for r in server.received).count(claimed[0].recipient) == 2
        ids = [r.message["Message-ID"] for r in server.received]
        assert len(set(ids)) == 2
        assert ids.count(claimed[0].message_id) == 2
        # A's late record finds its lease gone, and changes nothing.
        async with own.session(write=True) as session:
            await email_worker.record_outcome(session, claimed[0], outcome)
        assert [d.attempts for d in await deliveries(own)] == [1, 1]

    async def test_a_failed_send_is_retried_with_the_same_message_id(self, own: Database) -> None:
        port = free_port()
        settings = smtp(port)
        await cast(own, settings)
        await email_worker.run_once(own, settings)  # refused: nothing listens
        before = {d.id: d.message_id for d in await deliveries(own)}
        with smtp_server(port) as server:
            async with own.session(write=True) as session:
                await session.execute(
                    update(EmailDelivery).values(next_attempt_at=datetime.now(UTC))
                )
            await drain(own, settings)
        assert {r.message["Message-ID"] for r in server.received} == set(before.values())


class TestWithoutSmtp:
    async def test_no_smtp_makes_no_email_and_takes_the_rows(self, own: Database) -> None:
        settings = Settings()
        assert not settings.smtp_configured
        await cast(own, smtp(free_port()))
        assert await email_worker.run_once(own, settings) == 0
        assert await deliveries(own) == []
        async with own.session(write=False) as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.channel == "email", OutboxMessage.dispatched_at.is_(None))
            )
        assert waiting == 0


async def test_collector_reads_back_what_it_received() -> None:
    """The SMTP server helper itself: a message sent with aiosmtplib comes back parsed."""
    import aiosmtplib

    from app.services.email_sending import message_of

    collector = Collector()
    port = free_port()
    with smtp_server(port, collector):
        message = message_of(
            sender=SENDER,
            recipient="a@example.org",
            subject="Prova",
            body="Corpo: 1.234,56 €",
            message_id="<x@example.org>",
            language="it",
            kind="payment_made",
            created_at=datetime.now(UTC),
        )
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
    (got,) = collector.received
    assert (got.to, got.subject, got.kind, got.body.strip()) == (
        "a@example.org",
        "Prova",
        "payment_made",
        "Corpo: 1.234,56 €",
    )
