"""Money: integer cents in the database, Decimal with two places in Python, a string in JSON."""

from __future__ import annotations

import re
from decimal import Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# €1,000,000,000.00: far above any regional programme, far below integer overflow.
MAX_AMOUNT = Decimal("1000000000.00")
MAX_CENTS = int(MAX_AMOUNT * 100)

_AMOUNT = re.compile(r"^(0|[1-9]\d{0,9})(\.\d{1,2})?$")
_TOO_PRECISE = re.compile(r"^\d+\.\d{3,}$")


class InvalidAmount(ValueError):
    """An amount that is not a non-negative euro figure with at most two decimals."""


def parse_amount(value: object) -> Decimal:
    """Parse a euro amount from a decimal string (or an int); refuse anything ambiguous.

    Floats are refused: 0.1 + 0.2 is not a figure a public ledger may hold.
    """
    if isinstance(value, bool):
        raise InvalidAmount('an amount must be a decimal string such as "1500.00"')
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidAmount(
            'an amount must be a decimal string such as "1500.00", not a JSON number with a '
            "fraction (binary floating point cannot hold cents exactly)"
        )
    if text.startswith("-"):
        raise InvalidAmount(f"amount {text} is negative; amounts are never negative")
    if _TOO_PRECISE.match(text):
        raise InvalidAmount(f"amount {text} has more than two decimals; euros have cents only")
    if not _AMOUNT.match(text):
        raise InvalidAmount(f'{text!r} is not an amount in euros such as "1500.00"')
    amount = Decimal(text).quantize(CENT)
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"amount {amount} exceeds the maximum of {MAX_AMOUNT}")
    return amount


def format_cents(cents: int) -> str:
    """The JSON form straight from cents, without a Decimal: ``640000000`` -> ``"6400000.00"``."""
    sign, cents = ("-", -cents) if cents < 0 else ("", cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def format_amount(amount: Decimal) -> str:
    """The JSON form: ``"6400000.00"``."""
    return f"{amount.quantize(CENT):f}"
