"""Issue 16's end-to-end walk, over HTTP on both databases: an FSE grant and a FESR mixed
grant on one programme go through the CUP, acceptance, an advance, two expenditure claims
(the first with a cut line), their first-level checks (by an officer who is not the payer:
segregation of duties), an interim payment and the balance. The programme report's funding
figures, and their split by source, are checked after every step for the programme, each
measure and each call; at the end `wecare check` finds no difference.

The walk stops before revocations and recoveries: they are built on their own branch and
their step joins this walk with them.

The made-up terms (tests/world.py PAYMENT_TERMS): an advance of at most 30% of the grant, a
10% retention until the balance. The co-financing shares, set by the region, divide every
figure here exactly, so the expected parts are plain products (the rounding rule has its own
tests at the cent in test_cofinancing.py).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import Fund, Instrument
from app.models import PaymentTerms
from tests.actors import Actor, user_actor
from tests.api.v1.flows import Api, problem
from tests.api.v1.test_payments import Desk, _clean, line
from tests.world import (
    MIXED_TERMS,
    PAYMENT_TERMS,
    Budget,
    budget,
    funded,
    new_call,
    new_measure,
)

# Every funding figure of the report; the walk stops before revocations, so the last two
# (recovered, outstanding) stay 0.00 throughout.
FIGURES = (
    "granted",
    "accepted",
    "claimed",
    "verified",
    "advanced",
    "paid",
    "recovered",
    "outstanding",
)
SHARES = {
    "LIFE-M": {"eu_share_bp": 5000, "national_share_bp": 3500, "regional_share_bp": 1500},
    "LIFE-FESR": {"eu_share_bp": 6000, "national_share_bp": 2800, "regional_share_bp": 1200},
}
CUPS = {"LIFE-M": "J11B21001230001", "LIFE-FESR": "J11B21001230002"}


class Ledger:
    """What the report must show: each measure's figures as the walk moves them."""

    def __init__(self, client: httpx.AsyncClient, programme_id: uuid.UUID) -> None:
        self.client = client
        self.path = f"/api/v1/programmes/{programme_id}/report"
        self.figures = {code: dict.fromkeys(FIGURES, Decimal(0)) for code in SHARES}

    def move(self, code: str, **amounts: str) -> None:
        for figure, amount in amounts.items():
            self.figures[code][figure] += Decimal(amount)

    @staticmethod
    def _expected(parts_of: list[tuple[dict[str, Decimal], dict[str, int]]]) -> Any:
        """The figures summed over ``parts_of`` (each measure's figures with its shares),
        and each source's part: plain products, exact for these shares."""
        by_source: dict[str, dict[str, str]] = {}
        for source in ("eu", "national", "regional"):
            parts: dict[str, str] = {}
            for figure in FIGURES:
                part = sum(
                    (f[figure] * shares[f"{source}_share_bp"] / 10000 for f, shares in parts_of),
                    Decimal(0),
                )
                assert part == part.quantize(Decimal("0.01")), "the shares must divide exactly"
                parts[figure] = f"{part:.2f}"
            by_source[source] = parts
        total = {f: sum((m[f] for m, _ in parts_of), Decimal(0)) for f in FIGURES}
        return {**{f: f"{total[f]:.2f}" for f in FIGURES}, "by_source": by_source}

    async def check(self) -> None:
        response = await self.client.get(self.path)
        assert response.status_code == 200, response.text
        report = response.json()
        every = [(self.figures[code], SHARES[code]) for code in SHARES]
        assert report["funding"] == self._expected(every)
        for measure in report["measures"]:
            code = measure["code"]
            expected = self._expected([(self.figures[code], SHARES[code])])
            assert measure["funding"] == expected, code
            (call,) = measure["calls"]
            assert call["funding"] == expected, call["code"]


async def _world(session: AsyncSession) -> tuple[Budget, Budget]:
    """One programme: an FSE grant measure and a FESR mixed one, each with a call and the
    made-up payment terms; the shares are not set (the region sets them over HTTP)."""
    fse = await budget(session, total=1_000_000, measure_budget=500_000, code="LIFE")
    fse.programme.measures_budget = Decimal(1_000_000)
    measure = await new_measure(
        session,
        fse.programme,
        code="LIFE-FESR",
        budget=500_000,
        calls_budget=500_000,
        fund=Fund.FESR,
    )
    measure.instrument = Instrument.MIXED
    measure.loan_terms = dict(MIXED_TERMS)
    fesr = Budget(
        fse.programme, measure, await new_call(session, measure, code="LIFE-FC", budget=500_000)
    )
    for world in (fse, fesr):
        world.call.advance_guarantee_required = False
        session.add(PaymentTerms(id=uuid.uuid4(), measure_id=world.measure.id, **PAYMENT_TERMS))
    await session.flush()
    return fse, fesr


async def _walk(desk: Desk, ledger: Ledger, api: Api, officer: Actor, k: int) -> None:
    """One grant of 100,000.00 x ``k`` from the CUP to the balance, the report after each
    step."""
    code = desk.grant.world.measure.code

    def eur(amount: int) -> str:
        return f"{amount * k}.00"

    # Nothing is paid before acceptance.
    problem(await desk.pay("advance", eur(1000)), 409, "allocation_not_accepted")
    await ledger.check()
    assert (await desk.accept()).status_code == 200
    ledger.move(code, accepted=eur(100_000))
    await ledger.check()

    # Nor before the CUP is recorded.
    problem(await desk.pay("advance", eur(1000)), 409, "cup_required")
    await ledger.check()
    etag = (await api.client.get(desk.allocation, headers=officer.headers)).headers["etag"]
    recorded = await api.client.post(
        f"{desk.allocation}/cup",
        json={"cup": CUPS[code]},
        headers={**officer.headers, "If-Match": etag},
    )
    assert recorded.status_code == 200, recorded.text
    await ledger.check()

    # The advance: at most 30% of the grant, to the cent.
    problem(await desk.pay("advance", f"{30_000 * k}.01"), 409, "advance_share_cap")
    assert (await desk.pay("advance", eur(30_000))).status_code == 201
    ledger.move(code, advanced=eur(30_000), paid=eur(30_000))
    await ledger.check()

    # The first claim: one line accepted, one cut by 1,000.
    first = await desk.submitted(line(eur(20_000)), line(eur(5_000), "services"))
    ledger.move(code, claimed=eur(25_000))
    await ledger.check()
    assert (await desk.check(first, 1, outcome="accepted")).status_code == 200
    ledger.move(code, verified=eur(20_000))
    await ledger.check()
    cut = await desk.check(first, 2, outcome="cut", cut=eur(1_000), reason="fuori periodo")
    assert cut.status_code == 200, cut.text
    ledger.move(code, verified=eur(4_000))
    await ledger.check()

    # The interim payment: the checker may not authorise it; the payer pays verified
    # expenditure plus the advance, not a cent more.
    problem(await desk.pay("interim", eur(24_000), "checker"), 403, "segregation_of_duties")
    problem(await desk.pay("interim", f"{24_000 * k}.01"), 409, "paid_within_verified")
    assert (await desk.pay("interim", eur(24_000))).status_code == 201
    ledger.move(code, paid=eur(24_000))
    await ledger.check()

    # The second claim, both lines accepted; the payer may not check them.
    second = await desk.submitted(line(eur(45_000), "equipment"), line(eur(30_000), "travel"))
    ledger.move(code, claimed=eur(75_000))
    await ledger.check()
    problem(await desk.check(second, 1, "payer", outcome="accepted"), 403, "segregation_of_duties")
    for number, amount in ((1, 45_000), (2, 30_000)):
        assert (await desk.check(second, number, outcome="accepted")).status_code == 200
        ledger.move(code, verified=eur(amount))
        await ledger.check()

    # The balance: paid in all reaches the verified 99,000 and no more; it closes the project.
    problem(await desk.pay("balance", f"{45_000 * k}.01"), 409, "paid_within_verified")
    assert (await desk.pay("balance", eur(45_000))).status_code == 201
    ledger.move(code, paid=eur(45_000))
    await ledger.check()
    funding = await desk.funding()
    assert (funding["paid"], funding["verified"]) == (eur(99_000), eur(99_000))


async def test_an_fse_and_a_fesr_mixed_grant_from_the_cup_to_the_balance(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    fse, fesr = await _world(session)
    api = Api(client)
    ledger = Ledger(client, fse.programme.id)
    # The region sets each measure's co-financing shares (not given by the source).
    for world in (fse, fesr):
        path = f"/api/v1/measures/{world.measure.id}"
        body = await api.patch(path, admin, {"cofinancing": SHARES[world.measure.code]})
        assert body["cofinancing"] == SHARES[world.measure.code]
    await ledger.check()

    officer = await user_actor(session, settings, Role.OFFICER)
    checker = await user_actor(session, settings, Role.OFFICER)
    payer = await user_actor(session, settings, Role.OFFICER)
    desks = []
    for n, (world, grant) in enumerate(((fse, 100_000), (fesr, 200_000)), start=1):
        made = await funded(session, grant=grant, world=world, n=n, cup=False)
        ledger.move(world.measure.code, granted=f"{grant}.00")
        await ledger.check()
        beneficiary = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[made.organisation_id]
        )
        people = {"beneficiary": beneficiary, "checker": checker, "payer": payer}
        desks.append(Desk(client, made, people))

    # The FESR grant is mixed: 70% of it is a loan, in the measure's revolving fund.
    report = (await client.get(ledger.path)).json()
    fund = next(m for m in report["measures"] if m["code"] == "LIFE-FESR")["fund"]
    assert (fund["lent"], fund["repaid"]) == ("140000.00", "0.00")

    for desk, k in zip(desks, (1, 2), strict=True):
        await _walk(desk, ledger, api, officer, k)
    assert ledger.figures["LIFE-FESR"]["paid"] == Decimal("198000.00")
    await _clean(session)
