"""The documented form of money is what the server accepts: every string the OpenAPI
pattern allows parses, within MAX_AMOUNT; the strings at the edges are placed right."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from app.core.money import MAX_AMOUNT, InvalidAmount, parse_amount
from app.schemas.types import MONEY_PATTERN, POSITIVE_MONEY_PATTERN, Money, PositiveMoney

EDGES = [
    "0",
    "0.0",
    "0.00",
    "0.01",
    "0.1",
    "0.10",
    "999999999.99",
    "1000000000",
    "1000000000.0",
    "1000000000.00",
    "1000000000.01",
    "1000000000.1",
    "1000000001",
    "9999999999.99",
    "01",
    "1.",
    ".5",
    "1.001",
    "-1",
    "1e3",
    " 1",
]


@settings(max_examples=300, derandomize=True)
@given(st.from_regex(MONEY_PATTERN, fullmatch=True))
def test_every_documented_amount_is_accepted(text: str) -> None:
    assert Decimal("0") <= parse_amount(text) <= MAX_AMOUNT


@settings(max_examples=300, derandomize=True)
@given(st.from_regex(POSITIVE_MONEY_PATTERN, fullmatch=True))
def test_every_documented_positive_amount_is_accepted(text: str) -> None:
    assert Decimal("0") < TypeAdapter(PositiveMoney).validate_python(text) <= MAX_AMOUNT


@pytest.mark.parametrize("text", EDGES)
def test_the_pattern_and_the_parser_agree_at_the_edges(text: str) -> None:
    """Where they differ, the parser is more lenient (a surrounding space), never stricter."""
    documented = re.fullmatch(MONEY_PATTERN, text) is not None
    try:
        parse_amount(text)
        accepted = True
    except InvalidAmount:
        accepted = False
    assert documented == accepted or (accepted and text != text.strip())


def test_the_bound_is_documented() -> None:
    schema = TypeAdapter(Money).json_schema()
    assert schema["pattern"] == MONEY_PATTERN
    assert "1000000000.00" in schema["description"]
    assert schema["maxLength"] == len("1000000000.00")
    positive = TypeAdapter(PositiveMoney).json_schema()
    assert re.fullmatch(positive["pattern"], "1000000000.00")
    assert not re.fullmatch(positive["pattern"], "1000000000.01")
    assert not re.fullmatch(positive["pattern"], "0.00")
