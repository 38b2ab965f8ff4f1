"""Cursor pagination: `?cursor=…&limit=…` → `{"items": [...], "next_cursor": "…" | null}`."""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from tortoise.queryset import QuerySet

from .errors import InvalidInput
from .fields import INT32_MAX, Cursor

T = TypeVar("T")


class PageQuery(BaseModel):
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; a route's page is a named subclass (`Page[EntryOut]`)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor stands for; 422 `request.invalid_cursor` for anything we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        last_id = int(value)
        # Only ids we could have issued: anything else would overflow the id column.
        if prefix != "id" or not 1 <= last_id <= INT32_MAX:
            raise ValueError(raw)
        return last_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("request.invalid_cursor", "The cursor is not valid.") from exc


async def paginate(
    queryset: QuerySet[Any], *, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Newest first by id: one page of rows and the cursor of the next page (None at the end)."""
    if cursor:
        queryset = queryset.filter(id__lt=decode_cursor(cursor))
    rows = await queryset.order_by("-id").limit(limit + 1)
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None
