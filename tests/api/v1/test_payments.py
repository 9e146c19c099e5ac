"""After the grant (issue 16): acceptance and lapse, expenditure claims, first-level checks,
payments, their counters and ``wecare check``. Each rule at its boundary, on both databases.

The measure's made-up terms (tests/world.py PAYMENT_TERMS): accept within 60 days, an
advance of at most 30% of the grant, interim payments, a 10% retention, four cost
categories. The grant is 100,000.00: the advance cap 30,000.00, the interim ceiling
90,000.00.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli import main
from app.core import clock
from app.core.auth import Principal, Role
from app.core.config import Settings, get_settings
from app.db.session import Database, create_engine
from app.models import Allocation, AuditEvent, Call, Measure, PaymentTerms, Programme
from app.repositories import payments as payments_repo
from app.repositories.consistency import differences
from app.schemas.loan import RepaymentCreate
from app.services import housekeeping, loans
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests.actors import Actor, user_actor
from tests.api.v1.flows import problem
from tests.api.v1.test_transparency import errors_of
from tests.api.v1.test_transparency import validator as giving_fixture
from tests.world import PAYMENT_TERMS, Funded, funded, mixed

giving_validator = giving_fixture.__wrapped__  # type: ignore[attr-defined]
SECOND_PROGRAMME = Path(__file__).resolve().parents[2] / "data" / "second_programme.yaml"


def line(amount: str, category: str = "staff", spent_on: date | None = None) -> dict[str, str]:
    return {
        "cost_category": category,
        "amount": amount,
        "document_reference": f"INV-{uuid.uuid4().hex[:6]}",
        "spent_on": (spent_on or clock.today()).isoformat(),
    }


class Desk:
    """The beneficiary's user, two officers (one checks, one pays) and the client."""

    def __init__(self, client: httpx.AsyncClient, grant: Funded, people: dict[str, Actor]) -> None:
        self.client, self.grant, self.people = client, grant, people
        self.allocation = f"/api/v1/allocations/{grant.allocation.id}"
        # Dates are the grant's day or read from the clock when sent, never before the grant:
        # a test that runs across midnight still sends dates the record allows.
        self.granted_on = clock.day_of(grant.allocation.granted_at)

    async def etag(self, path: str, actor: str = "beneficiary") -> dict[str, str]:
        read = await self.client.get(path, headers=self.people[actor].headers)
        assert read.status_code == 200, read.text
        return {**self.people[actor].headers, "If-Match": read.headers["etag"]}

    async def accept(
        self, accepted_on: date | None = None, guarantee_reference: str | None = None
    ) -> httpx.Response:
        headers = await self.etag(f"{self.allocation}/funding")
        body = {"accepted_on": (accepted_on or clock.today()).isoformat()}
        if guarantee_reference is not None:
            body["guarantee_reference"] = guarantee_reference
        return await self.client.post(
            f"{self.allocation}/funding/accept", json=body, headers=headers
        )

    async def funding(self) -> dict[str, Any]:
        read = await self.client.get(f"{self.allocation}/funding")
        assert read.status_code == 200, read.text
        body: dict[str, Any] = read.json()
        return body

    async def claim(self, *lines: dict[str, str], start: date | None = None) -> httpx.Response:
        body = {
            "period_start": (start or self.granted_on).isoformat(),
            "period_end": clock.today().isoformat(),
            "lines": lines,
        }
        return await self.client.post(
            f"{self.allocation}/claims", json=body, headers=self.people["beneficiary"].headers
        )

    async def submitted(self, *lines: dict[str, str]) -> str:
        made = await self.claim(*lines)
        assert made.status_code == 201, made.text
        path = f"/api/v1/claims/{made.json()['id']}"
        submit = await self.client.post(f"{path}/submit", headers=await self.etag(path))
        assert submit.status_code == 200, submit.text
        return path

    async def check(
        self, claim: str, number: int, actor: str = "checker", **body: str
    ) -> httpx.Response:
        path = f"{claim}/lines/{number}"
        return await self.client.post(
            f"{path}/check", json=body, headers=await self.etag(path, actor)
        )

    async def pay(self, kind: str, amount: str, actor: str = "payer") -> httpx.Response:
        body = {
            "kind": kind,
            "amount": amount,
            "paid_on": clock.today().isoformat(),
            "treasury_reference": f"MAND-{uuid.uuid4().hex[:10]}",
        }
        return await self.client.post(
            f"{self.allocation}/payments", json=body, headers=self.people[actor].headers
        )


async def _desk(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, **arrange: Any
) -> Desk:
    grant = await funded(session, **arrange)
    people = {
        "beneficiary": await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[grant.organisation_id]
        ),
        "stranger": await user_actor(session, settings, Role.APPLICANT),
        "checker": await user_actor(session, settings, Role.OFFICER),
        "payer": await user_actor(session, settings, Role.OFFICER),
    }
    return Desk(client, grant, people)


@pytest.fixture
async def desk(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Desk:
    return await _desk(client, session, settings)


@pytest.fixture
async def accepted(desk: Desk) -> Desk:
    response = await desk.accept()
    assert response.status_code == 200, response.text
    return desk


async def _clean(session: AsyncSession) -> None:
    connection = await session.connection()
    assert [str(d) for d in await differences(connection)] == []


async def _totals(
    session: AsyncSession, grant: Funded
) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
    found = []
    for model, key in (
        (Allocation, grant.allocation.id),
        (Call, grant.world.call.id),
        (Measure, grant.world.measure.id),
        (Programme, grant.world.programme.id),
    ):
        row: Any = await session.get(model, key, populate_existing=True)
        assert row is not None
        found.append((row.claimed, row.verified, row.advanced, row.paid))
    return found


class TestAcceptance:
    async def test_the_beneficiary_accepts_once_with_the_date(
        self, desk: Desk, session: AsyncSession
    ) -> None:
        before = await desk.funding()
        assert before["accepted_on"] is None
        deadline = desk.grant.allocation.granted_at + timedelta(days=60)
        assert before["acceptance_deadline"] == clock.day_of(deadline).isoformat()
        assert before["advance_cap"] == "30000.00"
        response = await desk.accept(desk.granted_on, guarantee_reference="FID-1")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted_on"] == desk.granted_on.isoformat()
        assert body["accepted_by"] == f"user:{desk.people['beneficiary'].id}"
        assert body["guarantee_reference"] == "FID-1"
        assert response.headers["etag"] != ""
        problem(await desk.accept(), 409, "allocation_already_accepted")
        events = await session.scalar(
            select(func.count()).where(
                AuditEvent.action == "allocation.accept",
                AuditEvent.entity_id == str(desk.grant.allocation.id),
            )
        )
        assert events == 1

    async def test_only_a_user_of_the_beneficiary(self, desk: Desk) -> None:
        path = f"{desk.allocation}/funding"
        headers = await desk.etag(path, "stranger")
        response = await desk.client.post(
            f"{path}/accept", json={"accepted_on": clock.today().isoformat()}, headers=headers
        )
        problem(response, 403, "forbidden")

    async def test_without_if_match_is_428(self, desk: Desk) -> None:
        response = await desk.client.post(
            f"{desk.allocation}/funding/accept",
            json={"accepted_on": clock.today().isoformat()},
            headers=desk.people["beneficiary"].headers,
        )
        assert response.status_code == 428

    @pytest.mark.parametrize(
        ("day", "ok"), [("before the grant", False), ("the grant's", True), ("tomorrow", False)]
    )
    async def test_dated_between_the_grant_and_today(self, desk: Desk, day: str, ok: bool) -> None:
        on = {
            "before the grant": desk.granted_on - timedelta(days=1),
            "the grant's": desk.granted_on,
            "tomorrow": clock.today() + timedelta(days=1),
        }[day]
        response = await desk.accept(on)
        if ok:
            assert response.status_code == 200, response.text
        else:
            problem(response, 422, "date_out_of_range")

    @pytest.mark.parametrize(
        ("age", "ok"),
        [(timedelta(days=60, minutes=-5), True), (timedelta(days=60, minutes=5), False)],
    )
    async def test_by_the_deadline(
        self, desk: Desk, session: AsyncSession, age: timedelta, ok: bool
    ) -> None:
        granted_at = datetime.now(UTC) - age
        await session.execute(
            update(Allocation)
            .where(Allocation.id == desk.grant.allocation.id)
            .values(granted_at=granted_at)
        )
        response = await desk.accept(clock.day_of(granted_at))
        if ok:
            assert response.status_code == 200, response.text
        else:
            problem(response, 409, "acceptance_deadline_passed")

    async def test_nothing_is_claimed_or_paid_before(self, desk: Desk) -> None:
        problem(await desk.pay("advance", "100.00"), 409, "allocation_not_accepted")
        problem(await desk.claim(line("100.00")), 409, "allocation_not_accepted")


class TestLapse:
    async def _age(self, session: AsyncSession, grant: Funded, age: timedelta) -> None:
        await session.execute(
            update(Allocation)
            .where(Allocation.id == grant.allocation.id)
            .values(granted_at=datetime.now(UTC) - age)
        )

    @pytest.mark.parametrize(("minutes", "lapses"), [(-5, False), (5, True)])
    async def test_a_grant_not_accepted_in_time_lapses_once_and_frees_its_money(
        self, session: AsyncSession, minutes: int, lapses: bool
    ) -> None:
        grant = await funded(session, grant=1000)
        await self._age(session, grant, timedelta(days=60, minutes=minutes))
        lapsed = await housekeeping.lapse(session)
        allocation = await session.get(Allocation, grant.allocation.id, populate_existing=True)
        call = await session.get(Call, grant.world.call.id, populate_existing=True)
        programme = await session.get(Programme, grant.world.programme.id, populate_existing=True)
        assert allocation is not None
        assert call is not None
        assert programme is not None
        if not lapses:
            assert lapsed == 0
            assert allocation.status == "active"
            assert call.allocated == Decimal("1000.00")
            return
        assert lapsed == 1
        assert allocation.status == "revoked"
        assert allocation.revocation_reason is not None
        assert allocation.revocation_reason.startswith("Lapsed")
        assert (call.allocated, call.funded_projects) == (Decimal("0.00"), 0)
        assert programme.allocated == Decimal("0.00")
        events = await session.scalar(
            select(func.count()).where(
                AuditEvent.action == "allocation.lapse",
                AuditEvent.entity_id == str(grant.allocation.id),
            )
        )
        assert events == 1
        assert await housekeeping.lapse(session) == 0  # idempotent
        await _clean(session)

    async def test_a_mixed_grant_lapses_with_its_loan(self, session: AsyncSession) -> None:
        """The loan part leaves the fund's ``lent`` as on a revocation (else `wecare check`
        finds lent above the active loans); a loan with a repayment recorded is left for a
        recovery, and the other grants still lapse."""
        world = await mixed(session, total=100_000, code="LAPMIX")
        session.add(PaymentTerms(id=uuid.uuid4(), measure_id=world.measure.id, **PAYMENT_TERMS))
        await session.flush()
        plain = await funded(session, grant=1000, world=world, n=1)
        repaid = await funded(session, grant=1000, world=world, n=2)
        await loans.record_repayment(
            session,
            allocation_id=repaid.allocation.id,
            data=RepaymentCreate(instalment=1, amount=Decimal("1.00"), paid_on=clock.today()),
            principal=Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER),
        )
        for grant in (plain, repaid):
            await self._age(session, grant, timedelta(days=61))
        await session.refresh(world.measure)
        assert world.measure.lent == Decimal("1400.00")  # 70% of each
        assert await housekeeping.lapse(session) == 1
        await session.refresh(world.measure)
        await session.refresh(plain.allocation)
        await session.refresh(repaid.allocation)
        assert (plain.allocation.status, repaid.allocation.status) == ("revoked", "active")
        assert world.measure.lent == Decimal("700.00")
        await _clean(session)

    async def test_an_accepted_grant_never_lapses(self, session: AsyncSession) -> None:
        grant = await funded(session, grant=1000, accept=True)
        await self._age(session, grant, timedelta(days=365))
        assert await housekeeping.lapse(session) == 0

    async def test_no_deadline_in_the_data_no_lapse(self, session: AsyncSession) -> None:
        """WECARE: the source gives no deadline (null): nothing lapses."""
        grant = await funded(session, grant=1000, terms={"cost_categories": []})
        await self._age(session, grant, timedelta(days=3650))
        assert await housekeeping.lapse(session) == 0


class TestCup:
    async def test_nothing_is_paid_before_the_cup_is_recorded(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """L. 3/2003 art. 11: the CUP first. Without it the payment is refused and nothing
        moves; recorded through its route, the same payment goes through."""
        desk = await _desk(client, session, settings, cup=False)
        assert (await desk.accept()).status_code == 200
        before = await _totals(session, desk.grant)
        body = problem(await desk.pay("advance", "100.00"), 409, "cup_required")
        assert body["allocation_id"] == str(desk.grant.allocation.id)
        assert await _totals(session, desk.grant) == before
        recorded = await client.post(
            f"{desk.allocation}/cup",
            json={"cup": "J11B17000010001"},
            headers=await desk.etag(desk.allocation, "payer"),
        )
        assert recorded.status_code == 200, recorded.text
        assert (await desk.pay("advance", "100.00")).status_code == 201
        await _clean(session)


class TestAdvance:
    @pytest.mark.parametrize(("amount", "ok"), [("30000.00", True), ("30000.01", False)])
    async def test_within_its_share(self, accepted: Desk, amount: str, ok: bool) -> None:
        response = await accepted.pay("advance", amount)
        if ok:
            assert response.status_code == 201, response.text
            assert (await accepted.funding())["advanced"] == amount
        else:
            body = problem(response, 409, "advance_share_cap")
            assert (body["cap"], body["available"]) == ("30000.00", "30000.00")

    async def test_the_share_counts_every_advance(self, accepted: Desk) -> None:
        assert (await accepted.pay("advance", "20000.00")).status_code == 201
        body = problem(await accepted.pay("advance", "10000.01"), 409, "advance_share_cap")
        assert body["available"] == "10000.00"
        assert (await accepted.pay("advance", "10000.00")).status_code == 201

    @pytest.mark.parametrize("guarantee", [None, "FID-7"])
    async def test_a_guarantee_first_where_the_call_asks(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        guarantee: str | None,
    ) -> None:
        desk = await _desk(client, session, settings, guarantee_required=True)
        assert (await desk.accept(guarantee_reference=guarantee)).status_code == 200
        response = await desk.pay("advance", "100.00")
        if guarantee:
            assert response.status_code == 201, response.text
        else:
            problem(response, 409, "guarantee_required")

    async def test_not_given_by_the_source_no_advance(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        desk = await _desk(
            client, session, settings, terms={"cost_categories": []}, guarantee_required=None
        )
        assert (await desk.accept()).status_code == 200
        body = problem(await desk.pay("advance", "100.00"), 409, "payment_terms_not_given")
        assert body["term"] == "advance_share_pct"
        problem(await desk.pay("interim", "100.00"), 409, "payment_terms_not_given")
        body = problem(await desk.claim(line("100.00")), 409, "payment_terms_not_given")
        assert body["term"] == "cost_categories"


class TestClaims:
    async def test_filed_as_a_draft_then_submitted_and_fixed(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        made = await accepted.claim(line("1000.00"), line("250.50", "travel"))
        assert made.status_code == 201, made.text
        claim = made.json()
        assert (claim["status"], claim["amount"], claim["line_count"]) == ("draft", "1250.50", 2)
        assert (await accepted.funding())["claimed"] == "0.00"  # a draft claims nothing
        path = f"/api/v1/claims/{claim['id']}"
        submit = await accepted.client.post(f"{path}/submit", headers=await accepted.etag(path))
        assert submit.status_code == 200, submit.text
        assert submit.json()["status"] == "submitted"
        totals = await _totals(session, accepted.grant)
        assert {t[0] for t in totals} == {Decimal("1250.50")}
        again = await accepted.client.post(f"{path}/submit", headers=await accepted.etag(path))
        problem(again, 409, "claim_not_draft")
        await _clean(session)

    async def test_a_cost_category_of_the_measure(self, accepted: Desk) -> None:
        body = problem(
            await accepted.claim(line("10.00", "catering")), 422, "unknown_cost_category"
        )
        assert body["line"] == 1

    async def test_dates_inside_the_project_period(self, accepted: Desk) -> None:
        """The project runs from the day of the grant to the balance (until then, today)."""
        before = accepted.granted_on - timedelta(days=1)
        problem(await accepted.claim(line("10.00"), start=before), 422, "outside_project_period")
        future = line("10.00", spent_on=clock.today() + timedelta(days=1))
        problem(await accepted.claim(future), 422, "outside_project_period")

    async def test_the_period_is_ordered(self, accepted: Desk) -> None:
        body = {
            "period_start": accepted.granted_on.isoformat(),
            "period_end": (accepted.granted_on - timedelta(days=1)).isoformat(),
            "lines": [line("10.00")],
        }
        response = await accepted.client.post(
            f"{accepted.allocation}/claims",
            json=body,
            headers=accepted.people["beneficiary"].headers,
        )
        problem(response, 422, "validation_error")

    async def test_a_draft_is_not_checked(self, accepted: Desk) -> None:
        made = await accepted.claim(line("10.00"))
        path = f"/api/v1/claims/{made.json()['id']}"
        problem(await accepted.check(path, 1, outcome="accepted"), 409, "claim_not_submitted")

    async def test_only_the_region_and_the_beneficiary_read_a_claim(self, accepted: Desk) -> None:
        path = await accepted.submitted(line("10.00"))
        for actor, status in (("beneficiary", 200), ("checker", 200), ("stranger", 404)):
            read = await accepted.client.get(path, headers=accepted.people[actor].headers)
            assert read.status_code == status, actor


class TestChecks:
    async def test_accepted_cut_refused_and_the_verified_amount_derived(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        claim = await accepted.submitted(line("1000.00"), line("500.00"), line("300.00"))
        ok = await accepted.check(claim, 1, outcome="accepted")
        assert (ok.status_code, ok.json()["verified"]) == (200, "1000.00")
        cut = await accepted.check(
            claim, 2, outcome="cut", cut="150.00", reason="IVA non ammissibile"
        )
        assert (cut.json()["outcome"], cut.json()["verified"]) == ("cut", "350.00")
        refused = await accepted.check(claim, 3, outcome="refused", reason="Fattura mancante")
        assert refused.json()["verified"] == "0.00"
        read = await accepted.client.get(claim, headers=accepted.people["checker"].headers)
        assert (read.json()["verified"], read.json()["checked_lines"]) == ("1350.00", 3)
        totals = await _totals(session, accepted.grant)
        assert {t[1] for t in totals} == {Decimal("1350.00")}
        problem(
            await accepted.check(claim, 1, outcome="refused", reason="ripensamento"),
            409,
            "line_already_checked",
        )
        await _clean(session)

    @pytest.mark.parametrize(("cut", "ok"), [("499.99", True), ("500.00", False)])
    async def test_a_cut_removes_less_than_the_line(
        self, accepted: Desk, cut: str, ok: bool
    ) -> None:
        claim = await accepted.submitted(line("500.00"))
        response = await accepted.check(claim, 1, outcome="cut", cut=cut, reason="parziale")
        if ok:
            assert response.json()["verified"] == "0.01"
        else:
            problem(response, 422, "cut_not_below_amount")

    async def test_a_cut_or_refusal_needs_its_reason(self, accepted: Desk) -> None:
        claim = await accepted.submitted(line("500.00"))
        problem(await accepted.check(claim, 1, outcome="refused"), 422, "validation_error")
        problem(
            await accepted.check(claim, 1, outcome="cut", reason="senza importo"),
            422,
            "validation_error",
        )


class TestPayments:
    async def _verified(self, desk: Desk, amount: str) -> None:
        claim = await desk.submitted(line(amount))
        assert (await desk.check(claim, 1, outcome="accepted")).status_code == 200

    @pytest.mark.parametrize(("amount", "ok"), [("15000.00", True), ("15000.01", False)])
    async def test_interim_within_verified_plus_advances(
        self, accepted: Desk, session: AsyncSession, amount: str, ok: bool
    ) -> None:
        assert (await accepted.pay("advance", "10000.00")).status_code == 201
        await self._verified(accepted, "15000.00")
        response = await accepted.pay("interim", amount)
        if ok:
            assert response.status_code == 201, response.text
            totals = await _totals(session, accepted.grant)
            assert {t[3] for t in totals} == {Decimal("25000.00")}
            assert {t[2] for t in totals} == {Decimal("10000.00")}
        else:
            body = problem(response, 409, "paid_within_verified")
            assert body["available"] == "15000.00"
        await _clean(session)

    @pytest.mark.parametrize(("amount", "ok"), [("90000.00", True), ("90000.01", False)])
    async def test_the_retention_waits_for_the_balance(
        self, accepted: Desk, amount: str, ok: bool
    ) -> None:
        await self._verified(accepted, "100000.00")
        response = await accepted.pay("interim", amount)
        if ok:
            assert response.status_code == 201, response.text
        else:
            body = problem(response, 409, "retention_withheld")
            assert body["retention"] == "10000.00"

    async def test_the_balance_settles_at_the_verified_and_closes(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        assert (await accepted.pay("advance", "30000.00")).status_code == 201
        await self._verified(accepted, "80000.00")
        body = problem(await accepted.pay("balance", "50000.01"), 409, "paid_within_verified")
        assert body["available"] == "50000.00"
        done = await accepted.pay("balance", "50000.00")
        assert done.status_code == 201, done.text
        funding = await accepted.funding()
        assert (funding["paid"], funding["completed_at"] is not None) == ("80000.00", True)
        problem(await accepted.pay("interim", "1.00"), 409, "funding_completed")
        problem(await accepted.claim(line("1.00")), 409, "funding_completed")
        await _clean(session)

    @pytest.mark.parametrize(("amount", "ok"), [("100000.00", True), ("100000.01", False)])
    async def test_nothing_paid_beyond_the_grant(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        amount: str,
        ok: bool,
    ) -> None:
        desk = await _desk(client, session, settings)
        assert (await desk.accept()).status_code == 200
        claim = await desk.submitted(line("200000.00"))
        assert (await desk.check(claim, 1, outcome="accepted")).status_code == 200
        response = await desk.pay("balance", amount)
        if ok:
            assert response.status_code == 201, response.text
        else:
            problem(response, 409, "paid_within_grant")

    async def test_a_checker_does_not_pay_on_what_they_checked(self, accepted: Desk) -> None:
        await self._verified(accepted, "1000.00")
        body = problem(
            await accepted.pay("interim", "100.00", "checker"), 403, "segregation_of_duties"
        )
        assert body["allocation_id"] == str(accepted.grant.allocation.id)
        # An advance relies on no check: the same officer may pay it.
        assert (await accepted.pay("advance", "100.00", "checker")).status_code == 201
        assert (await accepted.pay("interim", "100.00", "payer")).status_code == 201

    async def test_a_payer_does_not_check_the_grant_they_paid_on(self, accepted: Desk) -> None:
        await self._verified(accepted, "1000.00")
        assert (await accepted.pay("interim", "100.00")).status_code == 201
        claim = await accepted.submitted(line("50.00"))
        problem(
            await accepted.check(claim, 1, "payer", outcome="accepted"),
            403,
            "segregation_of_duties",
        )
        assert (await accepted.check(claim, 1, outcome="accepted")).status_code == 200

    async def test_idempotency_key_replays_the_payment(
        self, accepted: Desk, session: AsyncSession
    ) -> None:
        body = {
            "kind": "advance",
            "amount": "100.00",
            "paid_on": clock.today().isoformat(),
            "treasury_reference": "MAND-IDEM-1",
        }
        headers = {**accepted.people["payer"].headers, "Idempotency-Key": "pay-1"}
        first = await accepted.client.post(
            f"{accepted.allocation}/payments", json=body, headers=headers
        )
        again = await accepted.client.post(
            f"{accepted.allocation}/payments", json=body, headers=headers
        )
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers["idempotent-replayed"] == "true"
        assert first.json() == again.json()
        assert (await accepted.funding())["paid"] == "100.00"
        read = await accepted.client.get(
            first.headers["location"], headers=accepted.people["beneficiary"].headers
        )
        assert read.json()["treasury_reference"] == "MAND-IDEM-1"

    async def test_a_treasury_reference_is_used_once(self, accepted: Desk) -> None:
        body = {
            "kind": "advance",
            "amount": "1.00",
            "paid_on": clock.today().isoformat(),
            "treasury_reference": "MAND-X",
        }
        path = f"{accepted.allocation}/payments"
        headers = accepted.people["payer"].headers
        assert (await accepted.client.post(path, json=body, headers=headers)).status_code == 201
        problem(await accepted.client.post(path, json=body, headers=headers), 409, "conflict")

    async def test_a_paid_grant_revoked_asks_back_what_was_paid(self, accepted: Desk) -> None:
        """Once refused (409 allocation_paid): a recovery now (tests/api/v1/test_recoveries)."""
        assert (await accepted.pay("advance", "1.00")).status_code == 201
        headers = await accepted.etag(accepted.allocation, "payer")
        response = await accepted.client.post(
            f"{accepted.allocation}/revoke", json={"reason": "rinuncia"}, headers=headers
        )
        assert response.status_code == 200, response.text
        read = await accepted.client.get(
            f"{accepted.allocation}/funding", headers=accepted.people["payer"].headers
        )
        funding = read.json()
        assert (funding["paid"], funding["due"], len(funding["recoveries"])) == ("1.00", "1.00", 1)


async def test_wecare_check_names_a_counter_that_disagrees(
    accepted: Desk, session: AsyncSession
) -> None:
    assert (await accepted.pay("advance", "100.00")).status_code == 201
    await _clean(session)
    call = update(Call).where(Call.id == accepted.grant.world.call.id)
    await session.execute(call.values({Call.claimed: Decimal("1.00")}))
    found = [str(d) for d in await differences(await session.connection())]
    assert found == [f"call {accepted.grant.world.call.code}: claimed_cents is 100, the rows say 0"]
    await session.execute(call.values({Call.claimed: Decimal("0.00")}))


def test_wecare_payment_terms_are_not_given_by_the_source() -> None:
    """The source is silent on acceptance, advances, interim payments, retention and cost
    categories: every figure is null (the region sets them), none invented."""
    spec = read_reference_file(WECARE_FILE).programme
    for measure in spec.measures:
        terms = measure.payment_terms
        assert (
            terms.acceptance_days,
            terms.advance_share_pct,
            terms.interim_payments,
            terms.retention_share_pct,
            terms.cost_categories,
        ) == (None, None, None, None, []), measure.code
    assert {call.advance_guarantee_required for call in spec.calls} == {None}


def test_the_test_programme_gives_every_figure() -> None:
    spec = read_reference_file(SECOND_PROGRAMME).programme
    care = next(m for m in spec.measures if m.code == "CARE")
    assert care.payment_terms.model_dump(exclude={"note"}) == PAYMENT_TERMS
    assert spec.calls[0].advance_guarantee_required is True


async def test_the_loader_writes_the_terms_once(session: AsyncSession) -> None:
    data = read_reference_file(SECOND_PROGRAMME)
    await load_reference_data(session, data)
    measure = await session.scalar(select(Measure).where(Measure.code == "CARE"))
    assert measure is not None
    terms = await session.scalar(select(PaymentTerms).where(PaymentTerms.measure_id == measure.id))
    assert terms is not None
    assert (terms.acceptance_days, terms.advance_share_pct, terms.retention_share_pct) == (
        60,
        30,
        10,
    )
    assert terms.cost_categories == ["staff", "services", "equipment", "travel"]
    again = await load_reference_data(session, data)
    assert not again.changed


class TestReportAndRegister:
    async def test_the_figures_follow_the_grant_step_by_step(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """Granted, accepted, claimed, verified, advanced and paid per programme, measure and
        call; the register and the 360Giving package (still valid) publish what is paid."""
        desk = await _desk(client, session, settings)
        world = desk.grant.world
        report = f"/api/v1/programmes/{world.programme.id}/report"

        async def figures() -> list[dict[str, str]]:
            body = (await client.get(report)).json()
            measure = body["measures"][0]
            return [body["funding"], measure["funding"], measure["calls"][0]["funding"]]

        def expect(**values: str) -> dict[str, str | None]:
            zero = dict.fromkeys(
                (
                    "granted",
                    "accepted",
                    "claimed",
                    "verified",
                    "advanced",
                    "paid",
                    "recovered",
                    "outstanding",
                ),
                "0.00",
            )
            return {**zero, "granted": "100000.00", **values, "by_source": None}

        await session.execute(
            update(Call).where(Call.id == world.call.id).values(status="published")
        )
        assert await figures() == [expect()] * 3
        assert (await desk.accept()).status_code == 200
        assert await figures() == [expect(accepted="100000.00")] * 3
        assert (await desk.pay("advance", "30000.00")).status_code == 201
        claim = await desk.submitted(line("20000.00"), line("5000.00"))
        assert (await desk.check(claim, 1, outcome="accepted")).status_code == 200
        cut = await desk.check(claim, 2, outcome="cut", cut="1000.00", reason="fuori periodo")
        assert cut.status_code == 200
        assert (await desk.pay("interim", "24000.00")).status_code == 201
        done = expect(
            accepted="100000.00",
            claimed="25000.00",
            verified="24000.00",
            advanced="30000.00",
            paid="54000.00",
        )
        assert await figures() == [done] * 3

        grant = await client.get(f"/api/v1/transparency/grants/{desk.grant.allocation.id}")
        assert grant.json()["amount_paid"] == "54000.00"
        package = (await client.get("/api/v1/transparency/grants.360giving.json")).json()
        (published,) = [
            g for g in package["grants"] if g["id"].endswith(str(desk.grant.allocation.id))
        ]
        assert published["amountDisbursed"] == 54000.0
        assert errors_of(giving_validator(), package) == []
        await _clean(session)


class TestLapseRacesAcceptance:
    """Acceptance and lapse are one conditional UPDATE each on the same row (active and not
    accepted): whichever commits first, the other finds nothing to change."""

    async def test_an_acceptance_that_won_the_row_is_not_lapsed(
        self, session: AsyncSession
    ) -> None:
        grant = await funded(session, grant=1000)
        await session.execute(
            update(Allocation)
            .where(Allocation.id == grant.allocation.id)
            .values(granted_at=datetime.now(UTC) - timedelta(days=61))
        )
        # The acceptance's own UPDATE, as if it had passed its deadline check just in time.
        assert await payments_repo.accept(
            session,
            grant.allocation.id,
            on=clock.day_of(grant.allocation.granted_at),
            at=datetime.now(UTC),
            by="user:late",
            guarantee_reference=None,
        )
        assert await housekeeping.lapse(session) == 0
        call = await session.get(Call, grant.world.call.id, populate_existing=True)
        assert call is not None
        assert call.allocated == Decimal("1000.00")

    async def test_a_lapse_that_won_the_row_refuses_the_acceptance(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        desk = await _desk(client, session, settings)
        headers = await desk.etag(f"{desk.allocation}/funding")
        await session.execute(
            update(Allocation)
            .where(Allocation.id == desk.grant.allocation.id)
            .values(granted_at=datetime.now(UTC) - timedelta(days=61))
        )
        assert await housekeeping.lapse(session) == 1
        response = await client.post(
            f"{desk.allocation}/funding/accept",
            json={"accepted_on": clock.today().isoformat()},
            headers={**headers, "If-Match": "*"},
        )
        problem(response, 409, "illegal_transition")


def test_the_lapse_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``wecare lapse``: one overdue grant lapses, and a second run lapses nothing."""
    url = f"sqlite+aiosqlite:///{tmp_path}/lapse.sqlite3"
    monkeypatch.setenv("WECARE_DATABASE_URL", url)
    get_settings.cache_clear()

    async def arrange() -> None:
        database = Database(create_engine(Settings(database_url=url)))
        try:
            async with database.session(write=True) as session:
                grant = await funded(session, grant=1000)
                await session.execute(
                    update(Allocation)
                    .where(Allocation.id == grant.allocation.id)
                    .values(granted_at=datetime.now(UTC) - timedelta(days=61))
                )
        finally:
            await database.dispose()

    try:
        assert main(["db", "upgrade"]) == 0
        asyncio.run(arrange())
        capsys.readouterr()
        assert main(["lapse"]) == 0
        assert capsys.readouterr().out.strip() == "lapsed 1 grants not accepted by their deadline"
        assert main(["lapse"]) == 0
        assert capsys.readouterr().out.strip() == "lapsed 0 grants not accepted by their deadline"
        assert main(["check"]) == 0
    finally:
        get_settings.cache_clear()
