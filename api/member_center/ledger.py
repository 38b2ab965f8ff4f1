"""What every ledger (points, stored value, growth) does the same way: one entry per key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from api.core.errors import Conflict

E = TypeVar("E", bound=Model)


async def stored_entry(
    model: type[E], *, brand_id: int, key: str, member_id: int | None, reused_code: str
) -> E | None:
    """The entry already written under `key`; 409 when the key was used for another member."""
    entry = await model.get_or_none(brand_id=brand_id, key=key)
    if entry is not None and member_id is not None and entry.member_id != member_id:  # type: ignore[attr-defined]
        raise Conflict(reused_code, "This key was already used for another member.")
    return entry


async def once_per_key(
    model: type[E],
    *,
    brand_id: int,
    member_id: int | None,
    key: str,
    reused_code: str,
    operation: Callable[[BaseDBAsyncClient], Awaitable[E]],
) -> E:
    """Run `operation` in one transaction unless `key` is on the ledger; a replay returns the first entry."""

    async def stored() -> E | None:
        return await stored_entry(
            model, brand_id=brand_id, key=key, member_id=member_id, reused_code=reused_code
        )

    existing = await stored()
    if existing is not None:
        return existing
    try:
        async with in_transaction() as db:
            return await operation(db)
    except IntegrityError:
        # Two calls with the same key passed the lookup at once; the loser's insert hit the
        # unique (brand, key) index and its transaction rolled back.
        existing = await stored()
        if existing is None:
            raise
        return existing
