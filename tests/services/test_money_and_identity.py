"""Money and Italian identifiers: exact, validated, with clear messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, cast, func, literal, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.identity import (
    InvalidIdentifier,
    is_legal_entity_tax_code,
    normalise_tax_code,
    normalise_vat_number,
)
from app.core.money import InvalidAmount, parse_amount
from app.db.types import Money as MoneyColumn
from app.schemas.types import Money, TaxCode, VatNumber


class TestParseAmount:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("6400000.00", Decimal("6400000.00")),
            ("0", Decimal("0.00")),
            ("100000.5", Decimal("100000.50")),
            (1000000, Decimal("1000000.00")),
            ("1000000000.00", Decimal("1000000000.00")),
        ],
    )
    def test_accepts_exact_euro_amounts(self, raw: object, expected: Decimal) -> None:
        assert parse_amount(raw) == expected

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ("1.001", "more than two decimals"),
            ("-1.00", "negative"),
            ("1000000000.01", "exceeds the maximum"),
            ("99999999999", "is not an amount"),
            ("1e6", "is not an amount"),
            ("01.00", "is not an amount"),
            ("NaN", "is not an amount"),
            ("", "is not an amount"),
            (0.1, "binary floating point"),
            (True, "decimal string"),
            (None, "decimal string"),
        ],
    )
    def test_refuses_anything_else_with_a_clear_message(self, raw: object, message: str) -> None:
        with pytest.raises(InvalidAmount, match=message):
            parse_amount(raw)


class TestMoneyColumn:
    """Integer cents in the database, Decimal with two places in Python."""

    def test_cents_round_trip(self) -> None:
        column, dialect = MoneyColumn(), sqlite.dialect()
        assert column.process_bind_param(Decimal("6400000.00"), dialect) == 640_000_000
        assert column.process_bind_param(Decimal("0.01"), dialect) == 1
        assert column.process_bind_param(Decimal("7"), dialect) == 700
        assert str(column.process_result_value(640_000_000, dialect)) == "6400000.00"
        # PostgreSQL's SUM of a BIGINT is a NUMERIC: cents all the same.
        assert str(column.process_result_value(Decimal(5), dialect)) == "0.05"

    @pytest.mark.parametrize("value", [Decimal("0.001"), Decimal("NaN"), Decimal("Infinity")])
    def test_refuses_what_is_not_exact_to_the_cent(self, value: Decimal) -> None:
        with pytest.raises(ValueError, match="exact to the cent"):
            MoneyColumn().process_bind_param(value, sqlite.dialect())

    @pytest.mark.parametrize("value", [5, 5.0, "5.00", True])
    def test_refuses_anything_but_a_decimal(self, value: object) -> None:
        # An int could be euros or cents: a missed conversion fails loudly.
        with pytest.raises(TypeError, match="bound as a Decimal"):
            MoneyColumn().process_bind_param(value, sqlite.dialect())  # type: ignore[arg-type]

    async def test_the_database_gives_decimals_of_its_cents(self, session: AsyncSession) -> None:
        cents = cast(literal(123_456, BigInteger), MoneyColumn())
        assert str(await session.scalar(select(cents))) == "1234.56"
        assert str(await session.scalar(select(func.sum(cents)))) == "1234.56"
        assert await session.scalar(select(cents == Decimal("1234.56")))


class TestIdentifiers:
    def test_legal_entity_tax_code(self) -> None:
        # Regione Piemonte's codice fiscale.
        assert normalise_tax_code(" 800 876 700 16 ") == "80087670016"
        assert is_legal_entity_tax_code("80087670016")

    def test_person_tax_code_is_upper_cased(self) -> None:
        assert normalise_tax_code("rssmra85t10a562s") == "RSSMRA85T10A562S"
        assert not is_legal_entity_tax_code("RSSMRA85T10A562S")

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("80087670017", "'80087670017' has a wrong check digit$"),
            ("RSSMRA85T10A562X", "has a wrong check digit$"),
            ("8008767001", r"has 10 characters \(11 digits for legal entities, 16 characters"),
            ("RSSMRA85T10A56", "has 14 characters"),
            ("12345678901234567", "has 17 characters"),
            # 11 digits, a good check digit, but office 000: python-stdnum's InvalidComponent,
            # once reported as "not in the expected format (11 digits ...)".
            ("12345670007", "has '000' in digits 8-10, which is no provincial office code$"),
            ("00000001234", r"has a serial number of zeros \(digits 1-7\)$"),
            ("1234567A901", "has 11 characters but not all of them are digits"),
            ("RSSMRA85T32A562Y", r"has an impossible date of birth \(characters 7-11\)$"),
            ("RSSMRA85Z10A562S", "is not in a natural person's format"),
        ],
    )
    def test_invalid_tax_codes_name_the_real_reason(self, raw: str, reason: str) -> None:
        with pytest.raises(InvalidIdentifier, match=reason) as caught:
            normalise_tax_code(raw)
        # A code of 11 digits is never told it should have 11 digits.
        if len(raw) == 11 and raw.isdigit():
            assert "11 digits" not in str(caught.value)

    def test_vat_number(self) -> None:
        assert normalise_vat_number("IT 02843860012") == "02843860012"
        with pytest.raises(InvalidIdentifier, match=r"partita IVA .* wrong check digit"):
            normalise_vat_number("02843860013")
        with pytest.raises(InvalidIdentifier, match=r"has 10 characters \(a partita IVA has 11"):
            normalise_vat_number("0284386001")
        with pytest.raises(InvalidIdentifier, match="'000' in digits 8-10") as caught:
            normalise_vat_number("12345670007")
        assert "11 digits" not in str(caught.value)


class Sample(BaseModel):
    amount: Money
    tax_code: TaxCode
    vat_number: VatNumber | None = None


class TestSchemaTypes:
    def test_valid_values_are_normalised_and_money_serialises_as_a_string(self) -> None:
        sample = Sample.model_validate(
            {"amount": "100.5", "tax_code": "80087670016", "vat_number": "IT02843860012"}
        )
        assert sample.model_dump(mode="json") == {
            "amount": "100.50",
            "tax_code": "80087670016",
            "vat_number": "02843860012",
        }

    def test_errors_name_the_field_and_the_reason(self) -> None:
        with pytest.raises(ValidationError) as caught:
            Sample.model_validate(
                {"amount": "1.234", "tax_code": "80087670017", "vat_number": "123"}
            )
        errors = {e["loc"][0]: (e["type"], e["msg"]) for e in caught.value.errors()}
        assert errors["amount"][0] == "invalid_amount"
        assert "more than two decimals" in errors["amount"][1]
        assert errors["tax_code"][0] == "invalid_tax_code"
        assert "check digit" in errors["tax_code"][1]
        assert errors["vat_number"][0] == "invalid_vat_number"
