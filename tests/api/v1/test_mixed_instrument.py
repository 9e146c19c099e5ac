"""The FESR mixed instrument over HTTP, on both databases: terms set by the region before a
mixed grant, the split, the schedule, repayments against it (late ones flagged, never past
an instalment), the revolving fund at the caps' boundary, revocation, and the report."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.amortisation import LoanTerms, schedule
from app.core.clock import today
from app.core.domain import Amortisation, GracePayment
from app.models import Allocation, AuditEvent, Loan, LoanInstalment, LoanRepayment, Measure
from app.services.loans import split
from tests.actors import Actor
from tests.api.v1.flows import Api, grant, problem
from tests.statements import counting, queries
from tests.world import MIXED_TERMS, Budget, approved, budget, mixed

_N = itertools.count(700)


async def _granted(
    client: httpx.AsyncClient, session: AsyncSession, officer: Actor, world: Budget, amount: str
) -> dict[str, Any]:
    application = await approved(session, world, requested=int(Decimal(amount)) + 1, n=next(_N))
    response = await grant(client, officer, application.id, amount)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _backdate(session: AsyncSession, allocation_id: str, days: int) -> None:
    """An older loan: its start and every due date ``days`` earlier (arranged in the
    database: the API only grants today)."""
    loan = await session.scalar(select(Loan).where(Loan.allocation_id == uuid.UUID(allocation_id)))
    assert loan is not None
    loan.starts_on -= timedelta(days=days)
    for row in await session.scalars(
        select(LoanInstalment).where(LoanInstalment.loan_id == loan.id)
    ):
        row.due_on -= timedelta(days=days)
    await session.flush()


def _repay(
    client: httpx.AsyncClient,
    officer: Actor,
    allocation_id: str,
    instalment: int,
    amount: str,
    paid_on: date | None = None,
    key: str | None = None,
) -> Any:
    headers = {**officer.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    body = {"instalment": instalment, "amount": amount, "paid_on": str(paid_on or today())}
    return client.post(
        f"/api/v1/allocations/{allocation_id}/loan/repayments", json=body, headers=headers
    )


class TestTermsBeforeAGrant:
    async def test_unset_terms_refuse_the_grant_until_the_region_sets_them(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor, admin: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000, terms=None)
        application = await approved(session, world, requested=100_000, n=next(_N))
        refused = await grant(client, officer, application.id, "100000.00")
        body = problem(refused, 409, "mixed_terms_not_set")
        assert body["missing"] == [
            "loan_share_bp",
            "annual_rate_bp",
            "term_months",
            "grace_months",
            "grace_payment",
            "repayments_per_year",
            "amortisation",
        ]
        assert await session.scalar(select(func.count()).select_from(Allocation)) == 0
        # A dry run names the same refusal, with what is missing.
        dry = await client.post(
            "/api/v1/allocations?dry_run=true",
            json={"application_id": str(application.id), "amount": "100000.00"},
            headers=officer.headers,
        )
        (finding,) = dry.json()["violations"]
        assert (finding["rule"], finding["figures"]["missing"]) == (
            "mixed_terms_not_set",
            body["missing"],
        )
        # The region sets every figure: an If-Match measure update, audited.
        api = Api(client)
        path = f"/api/v1/measures/{world.measure.id}"
        half = {**MIXED_TERMS, "amortisation": None}
        assert (await api.patch(path, admin, {"mixed_terms": half}))["mixed_terms"] == half
        problem(
            await grant(client, officer, application.id, "100000.00"), 409, "mixed_terms_not_set"
        )
        changed = await api.patch(path, admin, {"mixed_terms": MIXED_TERMS})
        assert changed["instrument"] == "mixed"
        assert changed["mixed_terms"] == MIXED_TERMS
        event = await session.scalar(
            select(AuditEvent)
            .where(
                AuditEvent.action == "measure.update", AuditEvent.entity_id == str(world.measure.id)
            )
            .order_by(AuditEvent.seq.desc())
        )
        assert event is not None
        assert event.after is not None
        assert json.loads(event.after)["loan_terms"]["amortisation"] == "french"
        made = await grant(client, officer, application.id, "100000.00")
        assert made.status_code == 201, made.text

    async def test_terms_go_on_mixed_measures_only_and_must_be_usable(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await mixed(session, total=1_000, terms=None)
        api = Api(client)
        path = f"/api/v1/measures/{world.measure.id}"
        bad = await api.patch(
            path, admin, {"mixed_terms": {**MIXED_TERMS, "grace_months": 60}}, expect=422
        )
        assert bad["rule"] == "validation_error"
        grant_only = await mixed(session, total=1_000, code="GRANT")
        grant_only.measure.instrument = "grant"  # type: ignore[assignment]
        grant_only.measure.loan_terms = None
        await session.flush()
        other = f"/api/v1/measures/{grant_only.measure.id}"
        body = await api.patch(other, admin, {"mixed_terms": MIXED_TERMS}, expect=409)
        assert (body["rule"], body["instrument"]) == ("not_mixed_instrument", "grant")


class TestTheSplitAndTheSchedule:
    def test_the_loan_part_is_rounded_half_up_at_the_cent_and_the_grant_is_the_rest(self) -> None:
        assert split(Decimal("0.15"), 5000) == (Decimal("0.08"), Decimal("0.07"))
        assert split(Decimal("0.13"), 5000) == (Decimal("0.07"), Decimal("0.06"))
        assert split(Decimal("100.01"), 3333) == (Decimal("33.33"), Decimal("66.68"))
        assert split(Decimal("100000.00"), 7000) == (Decimal("70000.00"), Decimal("30000.00"))

    async def test_a_mixed_grant_carries_its_parts_and_its_schedule(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.01")
        loan = (await client.get(f"/api/v1/allocations/{allocation['id']}/loan")).json()
        assert (loan["amount"], loan["principal"], loan["grant_part"]) == (
            "100000.01",
            "70000.01",  # 70000.007 -> 70000.01
            "30000.00",
        )
        assert (loan["repaid"], loan["outstanding"], loan["late_instalments"]) == (
            "0.00",
            "70000.01",
            0,
        )
        expected = schedule(
            Decimal("70000.01"),
            LoanTerms(150, 60, 12, GracePayment.INTEREST_ONLY, 4, Amortisation.FRENCH),
            date.fromisoformat(loan["starts_on"]),
        )
        got = [
            (i["number"], i["due_on"], i["principal"], i["interest"], i["status"])
            for i in loan["instalments"]
        ]
        assert got == [
            (r.number, str(r.due_on), f"{r.principal:.2f}", f"{r.interest:.2f}", "due")
            for r in expected
        ]
        assert sum(Decimal(i["principal"]) for i in loan["instalments"]) == Decimal("70000.01")
        await session.refresh(world.measure)
        assert (world.measure.lent, world.measure.repaid) == (Decimal("70000.01"), Decimal("0.00"))
        assert world.measure.allocated == Decimal("100000.01")

    async def test_a_grant_measure_s_allocation_has_no_loan(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000)
        world.measure.instrument = "grant"  # type: ignore[assignment]
        world.measure.loan_terms = None
        await session.flush()
        allocation = await _granted(client, session, officer, world, "100.00")
        problem(await client.get(f"/api/v1/allocations/{allocation['id']}/loan"), 404, "not_found")


class TestRepayments:
    async def test_interest_first_then_principal_and_never_past_the_instalment(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        await _backdate(session, allocation["id"], 500)  # five quarters are due
        # Instalment 5: the first annuity, 4253.26 principal + 262.50 interest = 4515.76.
        first = await _repay(client, officer, allocation["id"], 5, "200.00")
        assert first.status_code == 201, first.text
        assert (first.json()["interest"], first.json()["principal"]) == ("200.00", "0.00")
        assert first.json()["late"] is True  # due some 44 days ago
        second = (await _repay(client, officer, allocation["id"], 5, "100.00")).json()
        assert (second["interest"], second["principal"]) == ("62.50", "37.50")
        await session.refresh(world.measure)
        assert (world.measure.repaid, world.measure.allocated) == (
            Decimal("37.50"),
            Decimal("100000.00") - Decimal("37.50"),
        )
        # 4515.76 - 300.00 = 4215.76 left: a cent more is refused with the figures.
        over = await _repay(client, officer, allocation["id"], 5, "4215.77")
        body = problem(over, 409, "repayment_exceeds_instalment")
        assert (body["remaining"], body["requested"], body["due"]) == (
            "4215.76",
            "4215.77",
            "4515.76",
        )
        assert await session.scalar(select(func.count()).select_from(LoanRepayment)) == 2
        exact = await _repay(client, officer, allocation["id"], 5, "4215.76")
        assert exact.json()["principal"] == "4215.76"
        loan = (await client.get(f"/api/v1/allocations/{allocation['id']}/loan")).json()
        assert loan["repaid"] == "4253.26"
        assert loan["instalments"][4]["status"] == "paid"
        # Instalments 1-4 (interest only) are past due and unpaid: late.
        assert [i["status"] for i in loan["instalments"][:4]] == ["late"] * 4
        assert loan["late_instalments"] == 4
        assert loan["instalments"][5]["status"] == "due"

    async def test_a_repayment_after_the_due_date_is_flagged_late(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        await _backdate(session, allocation["id"], 200)
        loan = (await client.get(f"/api/v1/allocations/{allocation['id']}/loan")).json()
        due = date.fromisoformat(loan["instalments"][0]["due_on"])
        on_time = (await _repay(client, officer, allocation["id"], 1, "1.00", due)).json()
        late = (
            await _repay(client, officer, allocation["id"], 1, "1.00", due + timedelta(days=1))
        ).json()
        assert (on_time["late"], late["late"]) == (False, True)

    async def test_the_value_date_falls_between_the_start_and_today(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        tomorrow = today() + timedelta(days=1)
        problem(
            await _repay(client, officer, allocation["id"], 1, "1.00", tomorrow),
            422,
            "repayment_date_out_of_range",
        )
        before = today() - timedelta(days=1)
        problem(
            await _repay(client, officer, allocation["id"], 1, "1.00", before),
            422,
            "repayment_date_out_of_range",
        )
        assert (await _repay(client, officer, allocation["id"], 1, "1.00")).status_code == 201

    async def test_a_retry_with_the_same_key_records_once(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        first = await _repay(client, officer, allocation["id"], 1, "10.00", key="k-1")
        again = await _repay(client, officer, allocation["id"], 1, "10.00", key="k-1")
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert await session.scalar(select(func.count()).select_from(LoanRepayment)) == 1
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "loan.repay"))
        assert event is not None
        assert event.after is not None
        assert json.loads(event.after)["amount_cents"] == 1000

    async def test_only_the_region_records_repayments(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        anonymous = await client.post(
            f"/api/v1/allocations/{allocation['id']}/loan/repayments",
            json={"instalment": 1, "amount": "1.00", "paid_on": str(today())},
        )
        problem(anonymous, 401, "unauthenticated")


class TestTheFundRevolves:
    @pytest.mark.parametrize(
        ("sizes", "cap"),
        [
            ((100_000, None, None), "programme_budget_cap"),
            ((200_000, 100_000, None), "measure_budget_cap"),
            ((200_000, 150_000, 100_000), "call_budget_cap"),
        ],
        ids=["programme", "measure", "call"],
    )
    async def test_repaid_principal_is_available_again_to_the_cent(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        sizes: tuple[int, int | None, int | None],
        cap: str,
    ) -> None:
        """The tightest of programme, measure and call is 100,000: a grant takes it all; the
        principal repaid (4,253.26) can be granted again, not a cent more, at each level."""
        total, measure_budget, call_budget = sizes
        world = await mixed(
            session, total=total, measure_budget=measure_budget, call_budget=call_budget
        )
        allocation = await _granted(client, session, officer, world, "100000.00")
        await _backdate(session, allocation["id"], 500)
        repaid = await _repay(client, officer, allocation["id"], 5, "4515.76")
        assert repaid.json()["principal"] == "4253.26"
        report = (await client.get(f"/api/v1/programmes/{world.programme.id}/report")).json()
        (measure,) = report["measures"]
        loans = {"lent": "70000.00", "repaid": "4253.26", "outstanding": "65746.74"}
        # No co-financing shares given: no split.
        assert measure["fund"] == {
            **loans,
            "available": str(Decimal(measure_budget or total) - Decimal("95746.74")),
            "by_source": None,
        }
        (call,) = measure["calls"]
        assert call["fund"] == {**loans, "by_source": None}  # its one call's loans
        fund = {**measure["fund"], "available": str(Decimal(total) - Decimal("95746.74"))}
        assert report["fund"] == fund
        assert measure["allocated"] == report["allocated"] == "95746.74"
        too_much = await approved(session, world, requested=5_000, n=next(_N))
        refused = await grant(client, officer, too_much.id, "4253.27")
        problem(refused, 409, cap)
        fits = await grant(client, officer, too_much.id, "4253.26")
        assert fits.status_code == 201, fits.text
        await session.refresh(world.call)
        assert world.call.allocated == Decimal("100000.00")


class TestRevocation:
    async def test_a_loan_without_repayments_is_revoked_and_leaves_the_fund(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        api = Api(client)
        path = f"/api/v1/allocations/{allocation['id']}"
        await api.act(path, "revoke", officer, json={"reason": "rinuncia"})
        await session.refresh(world.measure)
        assert (world.measure.lent, world.measure.allocated) == (Decimal("0.00"), Decimal("0.00"))

    async def test_a_loan_with_repayments_is_not_revoked(
        self, client: httpx.AsyncClient, session: AsyncSession, officer: Actor
    ) -> None:
        world = await mixed(session, total=1_000_000)
        allocation = await _granted(client, session, officer, world, "100000.00")
        assert (await _repay(client, officer, allocation["id"], 1, "0.01")).status_code == 201
        api = Api(client)
        path = f"/api/v1/allocations/{allocation['id']}"
        body = await api.act(path, "revoke", officer, json={"reason": "rinuncia"}, expect=409)
        assert body["rule"] == "loan_repaid_in_part"
        # Interest only so far: no principal repaid, yet the loan has received money.
        assert await session.scalar(
            select(Measure.lent).where(Measure.id == world.measure.id)
        ) == Decimal("70000.00")


class TestCreatingAMixedMeasure:
    async def test_the_instrument_and_its_terms_come_with_the_measure(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        world = await budget(session, total=2_000, measure_budget=1_000, code="NEWMIX")
        body = {
            "programme_id": str(world.programme.id),
            "code": "MIX2",
            "fund": "FESR",
            "title": {"it": "Misto", "en": "Mixed"},
            "objective": {"it": "-", "en": "-"},
            "beneficiaries": {"it": "-", "en": "-"},
            "budget": "500.00",
            "eligibility": {"applicant_forms": ["organisation"]},
            "instrument": "mixed",
        }
        api = Api(client)
        refused = await client.post("/api/v1/measures", json=body, headers=admin.headers)
        assert refused.status_code == 422, refused.text
        assert "mixed_terms are given exactly for a mixed one" in refused.text
        made = await api.call(
            "POST", "/api/v1/measures", admin, json={**body, "mixed_terms": MIXED_TERMS}, expect=201
        )
        assert (made["instrument"], made["mixed_terms"]) == ("mixed", MIXED_TERMS)
        assert (made["lent"], made["repaid"]) == ("0.00", "0.00")


async def test_the_schedule_costs_the_same_statements_whatever_its_length(
    client: httpx.AsyncClient, session: AsyncSession, officer: Actor, connection: AsyncConnection
) -> None:
    """Allocation, loan, instalments: three reads for 20 instalments (quarterly) or 240
    (monthly over twenty years)."""
    costs, lengths = [], []
    for per_year, term in ((4, 60), (12, 240)):
        terms = {**MIXED_TERMS, "repayments_per_year": per_year, "term_months": term}
        world = await mixed(session, total=1_000_000, terms=terms, code=f"COST{per_year}")
        allocation = await _granted(client, session, officer, world, "100000.00")
        with counting(connection) as statements:
            loan = await client.get(f"/api/v1/allocations/{allocation['id']}/loan")
        assert loan.status_code == 200, loan.text
        lengths.append(len(loan.json()["instalments"]))
        costs.append(len(queries(statements)))
    assert lengths == [20, 240]
    assert costs[0] == costs[1]
