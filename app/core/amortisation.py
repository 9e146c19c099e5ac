"""A loan's amortisation schedule, exact to the cent (pure: Decimal in, Decimal out).

The rounding rule, the one the schedule is stored and tested with:

- the periodic rate is the annual rate divided by the repayments per year (exact, as a
  Decimal with 28 significant digits), never compounded to an effective rate;
- each period's interest is ``balance x periodic rate`` rounded half up to the cent;
- French (constant instalment): the instalment is the annuity ``P r / (1 - (1 + r)^-n)``
  rounded half up to the cent (``P / n`` when the rate is 0), and each principal part is
  the instalment less its interest, never more than the balance left;
- Italian (constant principal): each principal part is ``P / n`` rounded DOWN to the cent;
- either way the LAST instalment's principal is the whole balance left, so it absorbs every
  rounding and the principal parts sum to the loan exactly;
- grace: ``interest_only`` adds one instalment per grace period of principal 0 and the
  interest on the whole loan; ``nothing`` adds no instalment and no interest (the first
  amortising instalment falls one period after the grace ends).

Due dates: instalment ``k`` (1-based, grace ones included) falls ``k x 12 / frequency``
months after the start date, on the same day of the month or the month's last day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from app.core.domain import Amortisation, GracePayment
from app.core.money import CENT, ZERO

BASIS_POINTS = Decimal(10_000)
REPAYMENTS_PER_YEAR = (1, 2, 4, 12)


@dataclass(frozen=True)
class LoanTerms:
    annual_rate_bp: int  # 150 = 1.50% a year
    term_months: int  # grace included
    grace_months: int
    grace_payment: GracePayment
    repayments_per_year: int
    amortisation: Amortisation

    @property
    def period_months(self) -> int:
        return 12 // self.repayments_per_year

    @property
    def periodic_rate(self) -> Decimal:
        return Decimal(self.annual_rate_bp) / BASIS_POINTS / Decimal(self.repayments_per_year)

    def problems(self) -> list[str]:
        """What makes these terms unusable (empty: usable)."""
        found = []
        if self.repayments_per_year not in REPAYMENTS_PER_YEAR:
            found.append(f"repayments_per_year must be one of {REPAYMENTS_PER_YEAR}")
            return found
        if not 0 <= self.annual_rate_bp <= 10_000:
            found.append("annual_rate_bp must be between 0 and 10000")
        period = self.period_months
        if self.term_months % period or self.grace_months % period:
            found.append(f"term_months and grace_months must be multiples of {period}")
        if not 0 <= self.grace_months < self.term_months:
            found.append("grace_months must be at least 0 and less than term_months")
        return found


@dataclass(frozen=True)
class Instalment:
    number: int
    due_on: date
    principal: Decimal
    interest: Decimal

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest


def add_months(start: date, months: int) -> date:
    """``start`` moved by ``months``, on the same day or the month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _cents(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return value.quantize(CENT, rounding=rounding)


def schedule(loan: Decimal, terms: LoanTerms, start: date) -> list[Instalment]:
    """The instalments of ``loan`` (exact to the cent, more than 0) under ``terms``."""
    assert loan > 0, loan
    assert loan == _cents(loan), loan
    assert not terms.problems(), terms.problems()
    period = terms.period_months
    grace = terms.grace_months // period
    n = (terms.term_months - terms.grace_months) // period
    with localcontext() as context:
        context.prec = 28
        r = terms.periodic_rate
        rows: list[Instalment] = []
        number = 0

        def due(k: int) -> date:
            return add_months(start, k * period)

        if terms.grace_payment is GracePayment.INTEREST_ONLY:
            for _ in range(grace):
                number += 1
                rows.append(Instalment(number, due(number), ZERO, _cents(loan * r)))
        if terms.amortisation is Amortisation.FRENCH:
            step = _cents(loan * r / (1 - (1 + r) ** -n)) if r else _cents(loan / n)
        else:
            step = _cents(loan / n, ROUND_DOWN)
        balance = loan
        for k in range(1, n + 1):
            interest = _cents(balance * r)
            if k == n:
                principal = balance
            elif terms.amortisation is Amortisation.FRENCH:
                principal = min(max(step - interest, ZERO), balance)
            else:
                principal = min(step, balance)
            balance -= principal
            rows.append(Instalment(number + k, due(grace + k), principal, interest))
        return rows
