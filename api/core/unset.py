"""`UNSET`: the default of a service argument whose None is a value (clear the field).

A PATCH that omits `lat` leaves it alone; one that sends `"lat": null` clears it. Services take
such fields as `lat: Maybe[Decimal | None] = UNSET`, and routes pass
`**payload.model_dump(exclude_unset=True)`.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, TypeVar, Union


class Unset(Enum):
    UNSET = "unset"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET

T = TypeVar("T")
Maybe = Union[T, Literal[Unset.UNSET]]  # noqa: UP007 (a generic alias needs Union)


def given(**fields: object) -> dict[str, object]:
    """The keyword arguments that were passed (not UNSET), as a dict."""
    return {name: value for name, value in fields.items() if value is not UNSET}
