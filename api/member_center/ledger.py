"""The ledger kit: what the points, stored-value and growth ledgers do the same way.

A balance changes in one transaction that locks the member row, moves the balance with a
guarded update and appends one entry under a key unique per brand. `once_per_key` runs that
transaction at most once per key: a replay of the same operation returns the first entry; the
key used for another member, or for an operation of another kind or amount, is refused with the
ledger's `*.key_reused` (409) rather than answered with an entry the caller did not ask for.

Given `connection=` (the caller's open transaction, e.g. a payment notification's), the
operation runs in a savepoint of it: it commits or rolls back with the caller, and a refusal
(409, 422) or a lost race on the key rolls back the savepoint only, so the caller's transaction
stays usable on PostgreSQL too. Called inside `async with in_transaction()` without
`connection=`, a service joins that transaction the same way (Tortoise keeps it in a context
variable); passing it says so where the call is made.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionContext
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from api.core.errors import Conflict, InvalidInput, NotFound

from .error_codes import MemberErrorCode
from .models import Member, MemberStatus

E = TypeVar("E", bound=Model)

KEY_MAX_LENGTH = 128

Replays = Callable[[E], bool | Awaitable[bool]]


def check_amount(amount: Any, *, code: str) -> int:
    """A positive whole number, or 422 with `code`."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput(code, "The amount must be a positive whole number.")
    return amount


def check_key(key: Any, *, code: str) -> str:
    """A non-empty idempotency key that fits the ledgers' column, or 422 with `code`."""
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX_LENGTH:
        raise InvalidInput(code, f"The key must be 1 to {KEY_MAX_LENGTH} characters.")
    return key


def transaction(connection: BaseDBAsyncClient | None) -> TransactionContext:
    """A transaction of its own, or a savepoint inside the caller's open `connection`."""
    if connection is None:
        return in_transaction()
    # What `in_transaction()` itself calls on the connection it finds: on a transaction's
    # client, Tortoise answers with a nested context (SAVEPOINT … RELEASE / ROLLBACK TO).
    return connection._in_transaction()


async def lock_member(
    db: BaseDBAsyncClient, *, brand_id: int, member_id: int, allow_merged: bool = False
) -> Member:
    """The member row, locked for this transaction; 404 outside the brand, 409 when merged.

    A no-op lock on SQLite, where transactions are serialised anyway; on PostgreSQL it orders
    every change of one member, so that reads made under it (lots, balances) are not stale.
    """
    member = (
        await Member.filter(id=member_id, brand_id=brand_id)
        .using_db(db)
        .select_for_update()
        .first()
    )
    if member is None:
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    if member.status is MemberStatus.MERGED and not allow_merged:
        raise Conflict(MemberErrorCode.MERGED, "This member was merged into another one.")
    return member


async def lock_members(
    db: BaseDBAsyncClient, *, brand_id: int, member_ids: tuple[int, int]
) -> dict[int, Member]:
    """Both rows of a merge, locked in id order so that two merges of one pair cannot deadlock."""
    return {
        member_id: await lock_member(db, brand_id=brand_id, member_id=member_id, allow_merged=True)
        for member_id in sorted(member_ids)
    }


async def stored_entry(
    model: type[E],
    *,
    brand_id: int,
    key: str,
    member_id: int | None,
    reused_code: str,
    replays: Replays[E],
    connection: BaseDBAsyncClient | None = None,
) -> E | None:
    """The entry already written under `key`, when it is what this call would have written.

    409 `reused_code` when the key was used for another member, or when `replays(entry)` says
    the entry is not this call's (another kind, another amount).
    """
    entry = await model.filter(brand_id=brand_id, key=key).using_db(connection).first()
    if entry is None:
        return None
    if member_id is not None and entry.member_id != member_id:  # type: ignore[attr-defined]
        raise Conflict(reused_code, "This key was already used for another member.")
    same = replays(entry)
    if inspect.isawaitable(same):
        same = await same
    if not same:
        raise Conflict(reused_code, "This key was already used for a different operation.")
    return entry


async def once_per_key(
    model: type[E],
    *,
    brand_id: int,
    member_id: int | None,
    key: str,
    reused_code: str,
    replays: Replays[E],
    operation: Callable[[BaseDBAsyncClient], Awaitable[E]],
    connection: BaseDBAsyncClient | None = None,
) -> E:
    """Run `operation` in one transaction (or a savepoint of `connection`) unless `key` is used."""

    async def stored() -> E | None:
        return await stored_entry(
            model,
            brand_id=brand_id,
            key=key,
            member_id=member_id,
            reused_code=reused_code,
            replays=replays,
            connection=connection,
        )

    existing = await stored()
    if existing is not None:
        return existing
    try:
        async with transaction(connection) as db:
            return await operation(db)
    except IntegrityError:
        # Two calls with the same key passed the lookup at once; the loser's insert hit the
        # unique (brand, key) index and its transaction (or savepoint) rolled back.
        existing = await stored()
        if existing is None:
            raise
        return existing
