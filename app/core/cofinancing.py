"""The co-financing split: a figure's EU, national and regional parts (issue 16).

A measure's shares are basis points of each figure (5000 = 50%) that sum to 10000. The
rounding rule, exact in cents: the EU part is ``figure x eu / 10000`` rounded half up to
the cent; EU plus national is ``figure x (eu + national) / 10000`` rounded half up, and the
national part is that less the EU part; the regional part is the rest. So the parts are
never negative, each is within a cent of its exact share, and they always sum to the figure.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

BASIS = 10000
SOURCES = ("eu", "national", "regional")


class Shares(NamedTuple):
    eu_bp: int
    national_bp: int
    regional_bp: int

    def problems(self) -> list[str]:
        found = [
            f"{n} share {v} is outside 0..{BASIS}" for n, v in self._named() if not 0 <= v <= BASIS
        ]
        if sum(self) != BASIS:
            found.append(f"the shares sum to {sum(self)} basis points, not {BASIS}")
        return found

    def _named(self) -> list[tuple[str, int]]:
        return list(zip(SOURCES, self, strict=True))


def _cents_half_up(cents: int, bp: int) -> int:
    return int((Decimal(cents * bp) / BASIS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split(figure: Decimal, shares: Shares) -> tuple[Decimal, Decimal, Decimal]:
    """``figure``'s (eu, national, regional) parts by the module's rounding rule."""
    cents = int(figure.scaleb(2))
    eu = _cents_half_up(cents, shares.eu_bp)
    eu_and_national = _cents_half_up(cents, shares.eu_bp + shares.national_bp)
    return (
        Decimal(eu).scaleb(-2),
        Decimal(eu_and_national - eu).scaleb(-2),
        Decimal(cents - eu_and_national).scaleb(-2),
    )
