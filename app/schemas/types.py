"""Pydantic field types for money and Italian identifiers, shared by every schema."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.core.identity import InvalidIdentifier, normalise_tax_code, normalise_vat_number
from app.core.money import MAX_AMOUNT, InvalidAmount, format_amount, parse_amount


def _amount(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except InvalidAmount as error:
        raise PydanticCustomError("invalid_amount", str(error)) from error


def _tax_code(value: str) -> str:
    try:
        return normalise_tax_code(value)
    except InvalidIdentifier as error:
        raise PydanticCustomError("invalid_tax_code", str(error)) from error


def _vat_number(value: str) -> str:
    try:
        return normalise_vat_number(value)
    except InvalidIdentifier as error:
        raise PydanticCustomError("invalid_vat_number", str(error)) from error


# The documented form of an amount is what parse_amount accepts, up to MAX_AMOUNT
# (€1,000,000,000.00) included. Money is a string in JSON, and JSON Schema's `maximum` bounds
# numbers only: the bound is in the pattern (what generators and validators obey) and in the
# description. tests/schemas/test_money_schema.py holds the patterns to parse_amount.
_BELOW_THE_MAXIMUM = r"[1-9]\d{0,8}(\.\d{1,2})?"  # 1 to 999,999,999.99
_THE_MAXIMUM = r"1000000000(\.0{1,2})?"
MONEY_PATTERN = rf"^(0(\.\d{{1,2}})?|{_BELOW_THE_MAXIMUM}|{_THE_MAXIMUM})$"
POSITIVE_MONEY_PATTERN = rf"^(0\.(0[1-9]|[1-9]\d?)|{_BELOW_THE_MAXIMUM}|{_THE_MAXIMUM})$"
_AT_MOST = f"at most {format_amount(MAX_AMOUNT)}"

Money = Annotated[
    Decimal,
    BeforeValidator(_amount),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "maxLength": len(format_amount(MAX_AMOUNT)),
            "description": f"Euros as a decimal string with at most two decimals, {_AT_MOST}.",
            "examples": ["6400000.00"],
        }
    ),
]


def _positive_amount(value: object) -> Decimal:
    amount = _amount(value)
    if amount <= 0:
        raise PydanticCustomError("invalid_amount", "the amount must be more than zero")
    return amount


# More than zero: a pledge (or any figure that means "this much money") of 0.00 is no figure.
PositiveMoney = Annotated[
    Decimal,
    BeforeValidator(_positive_amount),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": POSITIVE_MONEY_PATTERN,
            "maxLength": len(format_amount(MAX_AMOUNT)),
            "description": "Euros, more than zero, as a decimal string with at most two "
            f"decimals, {_AT_MOST}.",
            "examples": ["250000.00"],
        }
    ),
]

TaxCode = Annotated[
    str,
    AfterValidator(_tax_code),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 11,
            "maxLength": 20,
            "description": "Codice fiscale: 11 digits (legal entity) or 16 characters (person).",
            "examples": ["80087670016"],
        }
    ),
]

VatNumber = Annotated[
    str,
    AfterValidator(_vat_number),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 11,
            "maxLength": 16,
            "description": "Partita IVA: 11 digits with a check digit (an IT prefix is accepted).",
            "examples": ["02843860012"],
        }
    ),
]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    # Pydantic would read "0.5" as a Unix timestamp; the API speaks ISO 8601 only.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise PydanticCustomError("iso8601", "expected an ISO 8601 date or date-time")
    return value


def _utc_instant(value: datetime) -> datetime:
    # An instant, not a wall-clock reading: the database stores UTC and refuses a naive
    # value (a 500 at bind time), and an offset near datetime's limits would overflow there.
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise PydanticCustomError(
            "datetime_range", "the date-time is out of range once converted to UTC"
        ) from error


# Aware only ("2025-01-01T00:00:00" or "2025-01-01" is refused: which zone?), in UTC.
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_utc_instant)]
IsoDate = Annotated[date, BeforeValidator(_iso_only)]
