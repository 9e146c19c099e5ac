"""Issue 16's end-to-end walk, over HTTP on both databases: an FSE grant and a FESR mixed
grant on one programme go through the CUP, acceptance, an advance, two expenditure claims
(the first with a cut line), their first-level checks (by an officer who is not the payer:
segregation of duties), an interim payment and the balance. Then an ex-post finding: the
FSE grant is partly revoked below what was paid, and the recovery it opens is paid back in
two receipts (a mixed grant's loan and grant parts are fixed, so the FESR grant's reduction
is refused: it would be revoked whole, or recovered through its loan). The programme
report's figures are checked after every step, as a ledger: the funding figures and their
split by source for the programme, each measure and each call, and the budget figures
(allocated and available, which grows only by what was never paid or has been recovered)
with the mixed instrument's fund; at the end `wecare check` finds no difference.

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

from app.core import clock
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

# Every funding figure of the report (recovered and outstanding move with the revocation).
# Written out rather than imported from app.repositories.transparency.FUNDING_FIGURES on
# purpose: the ledger below is the test's own account of the report, so a figure added to
# or dropped from the report must be added to or dropped from this ledger too.
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
# The budgets (_world): the programme's, and each measure's with its one call's.
PROGRAMME_BUDGET = Decimal(1_000_000)
BUDGETS = {"LIFE-M": Decimal(500_000), "LIFE-FESR": Decimal(500_000)}


class Ledger:
    """What the report must show: each measure's figures as the walk moves them."""

    def __init__(self, client: httpx.AsyncClient, programme_id: uuid.UUID) -> None:
        self.client = client
        self.path = f"/api/v1/programmes/{programme_id}/report"
        self.figures = {code: dict.fromkeys(FIGURES, Decimal(0)) for code in SHARES}
        self.lent = dict.fromkeys(SHARES, Decimal(0))  # the mixed loans (nothing repaid here)

    def move(self, code: str, **amounts: str) -> None:
        for figure, amount in amounts.items():
            self.figures[code][figure] += Decimal(amount)

    def allocated(self, code: str) -> Decimal:
        """What the caps hold: the grants, and what was paid beyond a grant's reduced amount
        until it is recovered (no loan principal is repaid in this walk)."""
        return self.figures[code]["granted"] + self.figures[code]["outstanding"]

    @staticmethod
    def _money(amount: Decimal) -> str:
        return f"{amount:.2f}"

    def _budget(self, row: dict[str, Any], code: str | None) -> None:
        """``row``'s allocated and available (``code``: a measure's or call's; None: the
        programme's)."""
        codes = list(SHARES) if code is None else [code]
        allocated = sum((self.allocated(c) for c in codes), Decimal(0))
        budget = PROGRAMME_BUDGET if code is None else BUDGETS[code]
        assert (row["allocated"], row["available"]) == (
            self._money(allocated),
            self._money(budget - allocated),
        ), code
        assert row["funded_projects"] == sum(1 for c in codes if self.figures[c]["granted"] > 0), (
            code
        )

    def _fund(self, fund: dict[str, Any], code: str | None) -> None:
        """The mixed fund of the programme (None) or of measure ``code``: its loans, and
        what new grants may take there (the programme's or the measure's available)."""
        codes = list(SHARES) if code is None else [code]
        allocated = sum((self.allocated(c) for c in codes), Decimal(0))
        budget = PROGRAMME_BUDGET if code is None else BUDGETS[code]
        assert fund == {
            **self._loans([(self.lent[c], SHARES[c]) for c in codes]),
            "available": self._money(budget - allocated),
        }, code

    def _loans(self, parts_of: list[tuple[Decimal, dict[str, int]]]) -> dict[str, Any]:
        """The loans lent (nothing repaid) summed over ``parts_of`` (each measure's lent
        with its shares), and each source's part: plain products, exact for these shares."""
        lent = sum((amount for amount, _ in parts_of), Decimal(0))
        by_source = {}
        for source in ("eu", "national", "regional"):
            part = sum((a * s[f"{source}_share_bp"] / 10000 for a, s in parts_of), Decimal(0))
            assert part == part.quantize(Decimal("0.01")), "the shares must divide exactly"
            by_source[source] = {
                "lent": self._money(part),
                "repaid": "0.00",
                "outstanding": self._money(part),
            }
        total = {"lent": self._money(lent), "repaid": "0.00", "outstanding": self._money(lent)}
        return {**total, "by_source": by_source}

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
        self._budget(report, None)
        self._fund(report["fund"], None)
        for measure in report["measures"]:
            code = measure["code"]
            expected = self._expected([(self.figures[code], SHARES[code])])
            assert measure["funding"] == expected, code
            self._budget(measure, code)
            if code == "LIFE-FESR":
                self._fund(measure["fund"], code)
            else:
                assert measure["fund"] is None
            (call,) = measure["calls"]
            assert call["funding"] == expected, call["code"]
            assert call["reserved"] == "0.00"
            self._budget(call, code)
            if code == "LIFE-FESR":  # its one call's loans are the measure's
                assert call["fund"] == self._loans([(self.lent[code], SHARES[code])])
            else:
                assert call["fund"] is None


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


async def test_an_fse_and_a_fesr_mixed_grant_from_the_cup_to_the_recovery(
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
        if world is fesr:  # mixed: 70% of it is a loan, in the measure's revolving fund
            ledger.lent[world.measure.code] += Decimal(grant) * 7 / 10
        await ledger.check()
        beneficiary = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[made.organisation_id]
        )
        people = {"beneficiary": beneficiary, "checker": checker, "payer": payer}
        desks.append(Desk(client, made, people))

    assert ledger.lent["LIFE-FESR"] == Decimal("140000.00")

    for desk, k in zip(desks, (1, 2), strict=True):
        await _walk(desk, ledger, api, officer, k)
    assert ledger.figures["LIFE-FESR"]["paid"] == Decimal("198000.00")
    await _clean(session)

    fse_desk, fesr_desk = desks
    # The mixed grant's parts are fixed: its reduction is refused, nothing moves.
    problem(await _reduce(fesr_desk, officer, "150000.00"), 409, "illegal_transition")
    await ledger.check()
    await _revocation_and_recovery(fse_desk, ledger, officer)
    await _clean(session)


async def _reduce(desk: Desk, officer: Actor, amount: str) -> httpx.Response:
    read = await desk.client.get(desk.allocation, headers=officer.headers)
    headers = {**officer.headers, "If-Match": read.headers["etag"]}
    body = {"amount": amount, "reason": "Controllo ex post: spese non ammissibili."}
    return await desk.client.post(f"{desk.allocation}/reduce", json=body, headers=headers)


async def _receive(desk: Desk, recovery: str, amount: str) -> httpx.Response:
    body = {
        "amount": amount,
        "received_on": clock.today().isoformat(),
        "treasury_reference": f"REV-{uuid.uuid4().hex[:10]}",
    }
    return await desk.client.post(
        f"{recovery}/receipts", json=body, headers=desk.people["payer"].headers
    )


async def _recovery(desk: Desk, path: str) -> tuple[str, str, str]:
    read = await desk.client.get(path, headers=desk.people["beneficiary"].headers)
    assert read.status_code == 200, read.text
    body = read.json()
    return body["due"], body["recovered"], body["outstanding"]


async def _revocation_and_recovery(desk: Desk, ledger: Ledger, officer: Actor) -> None:
    """The FSE grant of 100,000.00, paid 99,000.00 to its balance, is cut to 90,000.00: the
    1,000.00 never paid returns to the caps at once; the 9,000.00 paid beyond the new amount
    is due back, held by the caps until it is recovered (in two receipts)."""
    code = desk.grant.world.measure.code
    # Not below the grant: refused, nothing moves (nor to nothing: a total revocation).
    problem(await _reduce(desk, officer, "100000.00"), 422, "reduction_within_grant")
    problem(await _reduce(desk, officer, "0.00"), 422, "validation_error")
    await ledger.check()
    # Only the region reduces a grant.
    forbidden = await desk.client.post(
        f"{desk.allocation}/reduce",
        json={"amount": "90000.00", "reason": "no"},
        headers=await desk.etag(desk.allocation),
    )
    problem(forbidden, 403, "insufficient_scope")
    await ledger.check()

    reduced = await _reduce(desk, officer, "90000.00")
    assert reduced.status_code == 200, reduced.text
    assert (reduced.json()["amount"], reduced.json()["status"]) == ("90000.00", "active")
    ledger.move(code, granted="-10000.00", accepted="-10000.00", outstanding="9000.00")
    await ledger.check()
    funding = await desk.funding()
    assert (funding["paid"], funding["verified"]) == ("99000.00", "99000.00")
    (recovery_id,) = funding["recoveries"]
    recovery = f"/api/v1/recoveries/{recovery_id}"
    assert await _recovery(desk, recovery) == ("9000.00", "0.00", "9000.00")
    # Nothing more is paid on it: the balance closed the project.
    problem(await desk.pay("interim", "0.01"), 409, "funding_completed")
    await ledger.check()

    # The first receipt; a cent beyond what is due is refused with the figures.
    refused = problem(await _receive(desk, recovery, "9000.01"), 409, "recovered_within_due")
    assert (refused["due"], refused["available"]) == ("9000.00", "9000.00")
    await ledger.check()
    assert (await _receive(desk, recovery, "4000.00")).status_code == 201
    ledger.move(code, recovered="4000.00", outstanding="-4000.00")
    await ledger.check()
    assert await _recovery(desk, recovery) == ("9000.00", "4000.00", "5000.00")

    # The rest, to the cent: the recovery is settled, the caps hold the new amount only.
    problem(await _receive(desk, recovery, "5000.01"), 409, "recovered_within_due")
    assert (await _receive(desk, recovery, "5000.00")).status_code == 201
    ledger.move(code, recovered="5000.00", outstanding="-5000.00")
    await ledger.check()
    assert await _recovery(desk, recovery) == ("9000.00", "9000.00", "0.00")
    assert ledger.allocated(code) == Decimal("90000.00")
