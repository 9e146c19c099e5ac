"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, DateTime, Dialect, Enum, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.core.money import CENT


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite has no time zones, so naive values are UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Euros: integer cents in the database (BIGINT, guarded by the CHECKs), ``Decimal`` with
    two places in Python. Anything that is not a Decimal exact to the cent is refused at bind
    time: an int could be euros or cents, a float is never exact."""

    impl = BigInteger
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return self.stored(value)

    @staticmethod
    def stored(value: Decimal | None) -> int | None:
        """The integer cents the column holds for ``value``."""
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money is bound as a Decimal, not {type(value).__name__} {value!r}")
        cents = value.scaleb(2)
        if not cents.is_finite() or cents != cents.to_integral_value():
            raise ValueError(f"{value} is not an amount exact to the cent")
        return int(cents)

    def process_result_value(self, value: int | Decimal | None, dialect: Dialect) -> Decimal | None:
        # A BIGINT, or a NUMERIC from PostgreSQL's SUM: cents either way.
        return None if value is None else Decimal(value).scaleb(-2).quantize(CENT)


class Points(Money):
    """Ranking figures (averages, totals): points to two decimal places, stored as integer
    hundredths, ``Decimal`` in Python; exactly as money is to the cent."""

    cache_ok = True


def cents(amount: ColumnElement[Decimal] | QueryableAttribute[Decimal]) -> ColumnElement[int]:
    """A Money column as the integer cents it stores: for statements whose rows are read raw
    (the driver's hot lists, the counter check), which speak the database's units."""
    return type_coerce(amount, BigInteger)


def json_type() -> TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")


def str_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """A string column limited to the enum's values by a named CHECK constraint."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
