"""The notification e-mails' text: one Jinja2 template per kind and language.

``app/templates/email/<language>/<kind>.txt``: the first line is the subject, then a blank
line, then the plain-text body. Jinja2 because a translator edits a text file with
``{{ amount }}`` in it, not Python; StrictUndefined, so that a template naming a figure
the worker does not give fails the tests instead of sending a blank. Figures are
formatted for the language by Babel (CLDR): money as euro, ``1.234,56 €`` in Italian and
``€1,234.56`` in English; days as ``7 dicembre 2026`` / ``7 December 2026``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "email"
LANGUAGES = ("it", "en")
# The CLDR locale each account language formats figures in.
LOCALES = {"it": "it_IT", "en": "en_GB"}

# A claim line's check outcome, in words.
OUTCOMES = {
    "it": {"accepted": "accolta", "cut": "accolta in parte", "refused": "respinta"},
    "en": {"accepted": "accepted", "cut": "partly accepted", "refused": "refused"},
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,  # plain text, never HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )


def money(amount: Decimal | None, language: str) -> str:
    """Euro in the language's way; "-" when the figure is not there."""
    if amount is None:
        return "-"
    return format_currency(amount, "EUR", locale=LOCALES[language])


def day(value: date, language: str) -> str:
    return format_date(value, format="long", locale=LOCALES[language])


def outcome(value: str | None, language: str) -> str:
    return OUTCOMES[language].get(value or "", "-")


def render(kind: str, language: str, **context: object) -> Rendered:
    """The subject and body of ``kind`` in ``language`` (``it`` or ``en``)."""
    text = _environment().get_template(f"{language}/{kind}.txt").render(**context)
    subject, _, body = text.partition("\n")
    return Rendered(subject=subject.strip(), body=body.lstrip("\n"))
