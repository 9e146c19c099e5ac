"""Building blocks shared by the resource schemas."""

from __future__ import annotations

import types
from typing import Any, NewType, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _scalar(annotation: Any) -> type | None:
    """``int`` or ``bool`` when the field is one (or one or None), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = members[0] if len(members) == 1 else None
    return annotation if annotation in (int, bool) else None


class JsonScalars(BaseModel):
    """Integers and booleans as the OpenAPI document states them.

    Pydantic's lax mode reads "3" and true as integers and 0, "yes" or "off" as booleans, none
    of which the documented JSON Schema allows; a client that sends them has a bug that
    should surface. (Strict mode would also refuse enum values read from JSON, and 3.0, which
    JSON Schema counts as an integer.)"""

    @field_validator("*", mode="before")
    @classmethod
    def _json_scalar(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        kind = _scalar(field.annotation) if field is not None else None
        if kind is bool and not isinstance(value, bool) and value is not None:
            raise PydanticCustomError("bool_type", "Input should be a JSON boolean")
        if kind is int and isinstance(value, bool | str):
            raise PydanticCustomError("int_type", "Input should be a JSON integer")
        return value


class Input(JsonScalars):
    """Every request body: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Every representation: read from a model's attributes (``XRead.model_validate(row)``);
    money columns are Decimals already (app.db.types.Money)."""

    model_config = ConfigDict(from_attributes=True)


ReadT = TypeVar("ReadT", bound=BaseModel)


def from_attributes(schema: type[ReadT], source: object, **given: object) -> ReadT:
    """``schema`` read from ``source``'s attributes, with ``given`` for the fields it has not
    (parts loaded apart, as relationships never load lazily; figures computed elsewhere).
    Nested parts (ORM rows too) are read from their attributes in turn."""
    values = {
        name: given[name] if name in given else getattr(source, name)
        for name in schema.model_fields
    }
    return schema.model_validate(values, from_attributes=True)


# One representation already serialised to JSON, byte for byte what its XRead model gives
# (``model_dump_json()``): what a hot read by id's service answers, never built as a model.
# Its ETag is the same (app.api.etag hashes these bytes).
ReadJson = NewType("ReadJson", bytes)


def read_json(item: dict[str, Any]) -> ReadJson:
    """An item of plain values (ids, money and enums already strings) as the model's JSON
    (orjson: UTC as ``Z``, like Pydantic)."""
    return ReadJson(orjson.dumps(item, option=orjson.OPT_UTC_Z))
