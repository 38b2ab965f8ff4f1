"""Bounded field types for what comes in over the wire.

Every value a request carries ends in a column or a query, and the database is stricter than
Python: PostgreSQL's `integer` stops at 2^31 − 1 and refuses text holding NUL, a `varchar(n)`
refuses n + 1 characters, and a date near year 1 or 9999 overflows once it is shifted to UTC.
These types refuse such values while the request is parsed, so the caller gets a 422
`request.invalid` naming the field instead of a 500, and the OpenAPI document shows the bounds.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, TypeVar

from annotated_types import Len
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.json_schema import GetJsonSchemaHandler, JsonSchemaValue
from pydantic_core import CoreSchema

INT32_MAX = 2**31 - 1  # Tortoise's IntField: `integer` on PostgreSQL (ids, counters, points)

# Row ids: every table the API names by id has a 32-bit serial primary key.
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]

# Calendar days a person or a report may name: birthdays, registration and report ranges.
DAY_MIN = date(1900, 1, 1)
DAY_MAX = date(2100, 12, 31)
Day = Annotated[date, Field(ge=DAY_MIN, le=DAY_MAX)]

# No C0 or C1 control character (NUL among them) and no DEL.
SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
# The same, but line breaks and tabs allowed: PEM keys and certificates.
MULTILINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

# Text on one line, surrounding blanks dropped; add `Len(min, max)` for the column's size.
Line = StringConstraints(strip_whitespace=True, pattern=SINGLE_LINE)
# Text taken as typed (passwords, login names): no control characters, blanks kept.
Verbatim = StringConstraints(pattern=SINGLE_LINE)
# PEM text: several lines.
Pem = StringConstraints(pattern=MULTILINE)

# The opaque `cursor` of a list (`api.core.pagination` issues about 20 characters and answers
# `request.invalid_cursor` for any it did not issue).
Cursor = Annotated[str, StringConstraints(max_length=64)]

T = TypeVar("T")


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


class _NeverNull:
    """In the JSON schema, the field's type without its null branch."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        options = json_schema.pop("anyOf", None)
        if options is None:
            return json_schema
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            json_schema.update(kept[0])
        else:
            json_schema["anyOf"] = kept
        return json_schema


# A field of a change (PATCH) that may be left out, which keeps the stored value, but not sent
# as null: it reads as None in Python when left out, and the document shows it as not nullable.
# Fields where null means something ("no store", "no guide code") stay `X | None`.
Omittable = Annotated[T | None, BeforeValidator(_refuse_null), _NeverNull()]


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        nullable = prop.get("type") == "null" or {"type": "null"} in prop.get("anyOf", [])
        if prop.get("default", ...) is None and not nullable:
            del prop["default"]


class Change(BaseModel):
    """A PATCH body: unknown fields are refused, and left-out fields are not shown as null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_defaults)


__all__ = [
    "DAY_MAX",
    "DAY_MIN",
    "INT32_MAX",
    "Change",
    "Cursor",
    "Day",
    "Id",
    "Len",
    "Line",
    "Omittable",
    "Pem",
    "Verbatim",
]
