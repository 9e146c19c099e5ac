"""The amortisation schedule: exact to the cent, the rounding rule as app.core.amortisation
states it (pure functions: no database)."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.amortisation import LoanTerms, add_months, schedule
from app.core.domain import Amortisation, GracePayment

START = date(2026, 1, 31)


def terms(
    rate: int = 150,
    term: int = 60,
    grace: int = 12,
    payment: GracePayment = GracePayment.INTEREST_ONLY,
    per_year: int = 4,
    method: Amortisation = Amortisation.FRENCH,
) -> LoanTerms:
    return LoanTerms(rate, term, grace, payment, per_year, method)


class TestFrench:
    def test_the_annuity_is_rounded_half_up_and_the_last_instalment_absorbs_the_rest(
        self,
    ) -> None:
        rows = schedule(Decimal("70000.00"), terms(), START)
        # 4 interest-only quarters on 70,000 at 0.375% a quarter, then 16 annuities of
        # 70000 x 0.00375 / (1 - 1.00375^-16) = 4515.7594... -> 4515.76.
        assert len(rows) == 20
        assert [(r.principal, r.interest) for r in rows[:4]] == [
            (Decimal("0.00"), Decimal("262.50"))
        ] * 4
        assert rows[4].principal + rows[4].interest == Decimal("4515.76")
        assert all(r.amount == Decimal("4515.76") for r in rows[4:-1])
        assert rows[-1] == rows[-1].__class__(
            20, date(2031, 1, 31), Decimal("4498.85"), Decimal("16.87")
        )
        assert sum(r.principal for r in rows) == Decimal("70000.00")

    def test_interest_is_rounded_half_up_at_the_cent(self) -> None:
        # 1000.00 x 1% / 12 = 0.8333.. -> 0.83 ; 0.005 rounds up: 2.00 x 3% / 12 = 0.005 -> 0.01
        rows = schedule(Decimal("2.00"), terms(rate=300, term=12, grace=0, per_year=12), START)
        assert rows[0].interest == Decimal("0.01")

    def test_at_zero_rate_the_instalment_is_the_loan_over_n(self) -> None:
        rows = schedule(Decimal("100.00"), terms(rate=0, term=36, grace=0, per_year=12), START)
        # 100 / 36 = 2.777.. -> 2.78 for 35 instalments, the last takes 100 - 97.30 = 2.70
        assert {r.principal for r in rows[:-1]} == {Decimal("2.78")}
        assert rows[-1].principal == Decimal("2.70")
        assert all(r.interest == 0 for r in rows)

    def test_a_tiny_loan_never_repays_more_than_the_balance(self) -> None:
        rows = schedule(Decimal("1.00"), terms(rate=1, term=120, grace=0, per_year=12), START)
        assert all(r.principal >= 0 for r in rows)
        assert sum(r.principal for r in rows) == Decimal("1.00")


class TestItalian:
    def test_constant_principal_rounded_down_the_last_takes_the_remainder(self) -> None:
        rows = schedule(
            Decimal("1000.00"),
            terms(rate=1200, term=3, grace=0, per_year=12, method=Amortisation.ITALIAN),
            START,
        )
        assert [r.principal for r in rows] == [
            Decimal("333.33"),
            Decimal("333.33"),
            Decimal("333.34"),
        ]
        # 1% a month on the balance: 10.00, 6.6667 -> 6.67, 3.3334 -> 3.33
        assert [r.interest for r in rows] == [Decimal("10.00"), Decimal("6.67"), Decimal("3.33")]


class TestGrace:
    def test_nothing_means_no_instalment_and_no_interest_during_the_grace(self) -> None:
        rows = schedule(
            Decimal("1200.00"),
            terms(rate=0, term=24, grace=12, payment=GracePayment.NOTHING, per_year=12),
            START,
        )
        assert len(rows) == 12
        assert rows[0].number == 1
        assert rows[0].due_on == date(2027, 2, 28)  # 13 months after 31 January 2026
        assert rows[0].principal == Decimal("100.00")


class TestTerms:
    @pytest.mark.parametrize(
        ("bad", "problem"),
        [
            (terms(per_year=3), "repayments_per_year"),
            (terms(term=61), "multiples of 3"),
            (terms(grace=60), "less than term_months"),
            (terms(rate=10_001), "annual_rate_bp"),
        ],
    )
    def test_unusable_terms_are_named(self, bad: LoanTerms, problem: str) -> None:
        assert any(problem in p for p in bad.problems())

    def test_usable_terms_at_the_boundaries(self) -> None:
        assert terms(rate=10_000, term=3, grace=0).problems() == []
        assert terms(term=15, grace=12).problems() == []

    def test_months_are_added_on_the_same_day_or_the_last(self) -> None:
        assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
        assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
        assert add_months(date(2024, 5, 15), 12) == date(2025, 5, 15)


@st.composite
def loans(draw: st.DrawFn) -> tuple[Decimal, LoanTerms]:
    per_year = draw(st.sampled_from((1, 2, 4, 12)))
    period = 12 // per_year
    periods = draw(st.integers(1, 360 // period))
    grace = draw(st.integers(0, periods - 1))
    loan = Decimal(draw(st.integers(1, 10**11))).scaleb(-2)
    return loan, LoanTerms(
        draw(st.integers(0, 10_000)),
        periods * period,
        grace * period,
        draw(st.sampled_from(GracePayment)),
        per_year,
        draw(st.sampled_from(Amortisation)),
    )


@settings(max_examples=400, deadline=None)
@given(loans())
def test_the_principal_parts_sum_exactly_to_the_loan(case: tuple[Decimal, LoanTerms]) -> None:
    loan, loan_terms = case
    rows = schedule(loan, loan_terms, START)
    assert sum(r.principal for r in rows) == loan
    assert all(r.principal >= 0 and r.interest >= 0 for r in rows)
    assert all(r.principal == r.principal.quantize(Decimal("0.01")) for r in rows)
    assert [r.number for r in rows] == list(range(1, len(rows) + 1))
    assert all(a.due_on < b.due_on for a, b in itertools.pairwise(rows))
