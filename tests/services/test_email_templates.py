"""The notification templates: one per kind and language, each rendering every figure it
names, money and days in the language's own way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from jinja2 import UndefinedError

from app.core.notices import LEGALLY_REQUIRED, NoticeKind
from app.services import email_templates
from app.services.email_templates import LANGUAGES, TEMPLATES, money, render


def test_every_kind_has_a_template_in_each_language_and_no_other() -> None:
    for language in LANGUAGES:
        found = sorted(p.stem for p in (TEMPLATES / language).glob("*.txt"))
        assert found == sorted(str(k) for k in NoticeKind)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(NoticeKind))
def test_each_template_renders_a_subject_and_a_body(kind: NoticeKind, language: str) -> None:
    text = render(
        kind,
        language,
        name="Maria Rossi",
        title="Casa comune",
        organisation="Cooperativa Alfa",
        application_id="5b1f3c1e-8d2a-4c57-9a51-2f0a5b7d9e10",
        amount=money(Decimal("1234.5"), language),
        verified=money(Decimal("1000"), language),
        outcome=email_templates.outcome("cut", language),
        day=email_templates.day(date(2026, 12, 7), language),
    )
    assert text.subject.startswith("WE.CA.RE. - ")
    assert "\n" not in text.subject
    assert "Maria Rossi" in text.body
    assert "5b1f3c1e-8d2a-4c57-9a51-2f0a5b7d9e10" in text.body
    required = "dovuta per legge" if language == "it" else "required by law"
    optional = "preferenze di notifica" if language == "it" else "notification preferences"
    assert (required in text.body) == (kind in LEGALLY_REQUIRED)
    assert (optional in text.body) == (
        kind not in LEGALLY_REQUIRED and kind not in {NoticeKind.APPLICATION_SUBMITTED}
    ) or kind is NoticeKind.APPLICATION_SUBMITTED


def test_money_and_days_in_each_language() -> None:
    assert money(Decimal("1234567.8"), "it") == "1.234.567,80\xa0€"
    assert money(Decimal("1234567.8"), "en") == "€1,234,567.80"
    assert money(None, "it") == "-"
    assert email_templates.day(date(2026, 12, 7), "it") == "7 dicembre 2026"
    assert email_templates.day(date(2026, 12, 7), "en") == "7 December 2026"


def test_a_template_naming_a_missing_figure_fails_loudly() -> None:
    with pytest.raises(UndefinedError):
        render(NoticeKind.PAYMENT_MADE, "it", name="x")
