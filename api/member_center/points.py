"""The points ledger: earn, spend, adjust, expire and merge — each one transaction, one unique key.

Every change locks the member row first (`ledger.lock_member`), so that on PostgreSQL the lots a
spend reads are never stale and two operations on one member never take row locks in opposite
orders. The balance and each lot still move only by guarded updates, so nothing can go below
zero even if a lock were missing. Earn, spend and adjust join a caller's transaction when given
`connection=` (see `ledger`).

Invariant: sum(lots.remaining) == member.points_balance == sum(entries.delta).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.clock import shanghai_midnight, to_shanghai
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.pagination import paginate
from api.core.ports import clock
from api.org.models import Brand

from .error_codes import BrandErrorCode, PointsErrorCode, RequestErrorCode
from .ledger import check_amount, check_key, lock_member, lock_members, once_per_key
from .members import find_member
from .models import Member, PointsEntry, PointsEntryKind, PointsLot

EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True)
class PointsSummary:
    """A member's points as the member center shows them."""

    balance: int  # every point still on the ledger (frozen and not yet swept included)
    available: int  # spendable now: unfrozen and unexpired
    frozen: int  # earned, not spendable before their `available_at`
    expiring_soon: int  # available points that expire within EXPIRING_SOON_DAYS
    next_expiry_at: datetime | None
    next_expiry_points: int


# ---------------------------------------------------------------- small helpers


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(RequestErrorCode.NAIVE_DATETIME, "Times must carry a timezone.")
    return moment.astimezone(UTC)


async def _brand(brand_id: int, connection: BaseDBAsyncClient | None) -> Brand:
    brand = await Brand.filter(id=brand_id).using_db(connection).first()
    if brand is None:
        raise NotFound(BrandErrorCode.NOT_FOUND, "No such brand.")
    return brand


async def _once(
    *,
    brand_id: int,
    member_id: int,
    key: str,
    kind: PointsEntryKind,
    delta: int,
    operation: Callable[[BaseDBAsyncClient], Awaitable[PointsEntry]],
    connection: BaseDBAsyncClient | None,
) -> PointsEntry:
    return await once_per_key(
        PointsEntry,
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        reused_code=PointsErrorCode.KEY_REUSED,
        replays=lambda entry: entry.kind == kind and entry.delta == delta,
        operation=operation,
        connection=connection,
    )


async def _append(
    db: BaseDBAsyncClient,
    *,
    brand_id: int,
    member_id: int,
    key: str,
    kind: PointsEntryKind,
    delta: int,
    reason: str,
    actor: str,
    now: datetime,
) -> PointsEntry:
    balance = (
        await Member.filter(id=member_id).using_db(db).values_list("points_balance", flat=True)
    )
    return await PointsEntry.create(
        using_db=db,
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        kind=kind,
        delta=delta,
        balance_after=balance[0],
        reason=reason[:255],
        actor=actor[:64],
        created_at=now,
    )


async def _move_balance(db: BaseDBAsyncClient, *, member_id: int, delta: int) -> None:
    """Change the balance column; a decrement only happens while the balance covers it."""
    if delta >= 0:
        await (
            Member.filter(id=member_id)
            .using_db(db)
            .update(points_balance=F("points_balance") + delta)
        )
        return
    updated = (
        await Member.filter(id=member_id, points_balance__gte=-delta)
        .using_db(db)
        .update(points_balance=F("points_balance") + delta)
    )
    if not updated:
        raise Conflict(PointsErrorCode.INSUFFICIENT, "Not enough points.")


def points_expiry_at(brand: Brand, earned_at: datetime) -> datetime | None:
    """End of the year `points_expiry_years` after the (Shanghai) year of earning; None: never."""
    years = brand.setting("points_expiry_years")
    if years is None:
        return None
    year = to_shanghai(earned_at).year + int(years)  # type: ignore[call-overload]
    return shanghai_midnight(date(year + 1, 1, 1))


def _frozen_days(brand: Brand, frozen: bool | int) -> int:
    if frozen is True:
        return int(brand.setting("points_frozen_days"))  # type: ignore[call-overload]
    if frozen is False:
        return 0
    if not isinstance(frozen, int) or frozen < 0:
        raise InvalidInput(PointsErrorCode.INVALID_FROZEN_DAYS, "Frozen days must be zero or more.")
    return frozen


def _spendable(now: datetime) -> Q:
    return Q(available_at__lte=now) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def _drain_order(lot: PointsLot) -> tuple[bool, datetime, int]:
    # Oldest-expiring first; lots that never expire last; ties by age.
    return (lot.expires_at is None, lot.expires_at or datetime.max.replace(tzinfo=UTC), lot.id)


async def _drain_lots(
    db: BaseDBAsyncClient,
    *,
    brand_id: int,
    member_id: int,
    amount: int,
    now: datetime,
    spendable_only: bool,
    first_entry_id: int | None = None,
) -> None:
    """Take `amount` out of the member's lots, oldest-expiring first (the lot of
    `first_entry_id` before all others), or 409 if they cannot cover it."""
    query = PointsLot.filter(brand_id=brand_id, member_id=member_id, remaining__gt=0)
    if spendable_only:
        query = query.filter(_spendable(now))
    lots = sorted(
        await query.using_db(db),
        key=lambda lot: (lot.entry_id != first_entry_id, *_drain_order(lot)),
    )
    need = amount
    for lot in lots:
        if need == 0:
            break
        take = min(lot.remaining, need)
        updated = (
            await PointsLot.filter(id=lot.id, remaining__gte=take)
            .using_db(db)
            .update(remaining=F("remaining") - take)
        )
        if updated:
            need -= take
    if need:
        raise Conflict(PointsErrorCode.INSUFFICIENT, "Not enough available points.")


# ---------------------------------------------------------------- operations


async def earn_points(
    *,
    brand_id: int,
    member_id: int,
    amount: int,
    key: str,
    reason: str = "",
    actor: str = "system",
    frozen: bool | int = False,
    expires_at: datetime | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> PointsEntry:
    """Credit points as a new lot (frozen for some days if asked), expiring by the brand's rule."""
    check_amount(amount, code=PointsErrorCode.INVALID_AMOUNT)
    check_key(key, code=PointsErrorCode.INVALID_KEY)
    brand = await _brand(brand_id, connection)
    now = clock().now()
    available_at = now + timedelta(days=_frozen_days(brand, frozen))
    expiry = _utc(expires_at) if expires_at is not None else points_expiry_at(brand, now)

    async def operation(db: BaseDBAsyncClient) -> PointsEntry:
        await lock_member(db, brand_id=brand_id, member_id=member_id)
        await _move_balance(db, member_id=member_id, delta=amount)
        entry = await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=PointsEntryKind.EARN,
            delta=amount,
            reason=reason,
            actor=actor,
            now=now,
        )
        await PointsLot.create(
            using_db=db,
            brand_id=brand_id,
            member_id=member_id,
            entry_id=entry.id,
            amount=amount,
            remaining=amount,
            available_at=available_at,
            expires_at=expiry,
            created_at=now,
        )
        return entry

    return await _once(
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        kind=PointsEntryKind.EARN,
        delta=amount,
        operation=operation,
        connection=connection,
    )


async def spend_points(
    *,
    brand_id: int,
    member_id: int,
    amount: int,
    key: str,
    reason: str,
    actor: str,
    connection: BaseDBAsyncClient | None = None,
) -> PointsEntry:
    """Debit available points, oldest-expiring lots first; 409 `points.insufficient` if short."""
    check_amount(amount, code=PointsErrorCode.INVALID_AMOUNT)
    check_key(key, code=PointsErrorCode.INVALID_KEY)
    await _brand(brand_id, connection)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> PointsEntry:
        await lock_member(db, brand_id=brand_id, member_id=member_id)
        await _move_balance(db, member_id=member_id, delta=-amount)
        await _drain_lots(
            db,
            brand_id=brand_id,
            member_id=member_id,
            amount=amount,
            now=now,
            spendable_only=True,
        )
        return await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=PointsEntryKind.SPEND,
            delta=-amount,
            reason=reason,
            actor=actor,
            now=now,
        )

    return await _once(
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        kind=PointsEntryKind.SPEND,
        delta=-amount,
        operation=operation,
        connection=connection,
    )


async def adjust_points(
    *,
    brand_id: int,
    member_id: int,
    delta: int,
    key: str,
    reason: str,
    actor: str,
    connection: BaseDBAsyncClient | None = None,
) -> PointsEntry:
    """Head office's correction: a positive delta adds a lot, a negative one drains lots."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidInput(
            PointsErrorCode.INVALID_AMOUNT, "The delta must be a non-zero whole number."
        )
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(PointsErrorCode.REASON_REQUIRED, "An adjustment needs a reason.")
    check_key(key, code=PointsErrorCode.INVALID_KEY)
    brand = await _brand(brand_id, connection)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> PointsEntry:
        await lock_member(db, brand_id=brand_id, member_id=member_id)
        await _move_balance(db, member_id=member_id, delta=delta)
        if delta < 0:
            # A correction may take back frozen points too; only the total has to cover it.
            await _drain_lots(
                db,
                brand_id=brand_id,
                member_id=member_id,
                amount=-delta,
                now=now,
                spendable_only=False,
            )
        entry = await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=PointsEntryKind.ADJUST,
            delta=delta,
            reason=reason.strip(),
            actor=actor,
            now=now,
        )
        if delta > 0:
            await PointsLot.create(
                using_db=db,
                brand_id=brand_id,
                member_id=member_id,
                entry_id=entry.id,
                amount=delta,
                remaining=delta,
                available_at=now,
                expires_at=points_expiry_at(brand, now),
                created_at=now,
            )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="points.adjust",
            target=f"member:{member_id}",
            details={"delta": delta, "entry_id": entry.id},
            connection=db,
        )
        return entry

    return await _once(
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        kind=PointsEntryKind.ADJUST,
        delta=delta,
        operation=operation,
        connection=connection,
    )


@dataclass(frozen=True)
class PointsTakeBack:
    """What a claw-back took: `taken` points (its REVERSE entry), `short` of those asked for."""

    entry: PointsEntry | None
    taken: int
    short: int


class _NothingToTake(Exception):
    pass


async def take_back_points(
    *,
    brand_id: int,
    member_id: int,
    amount: int,
    key: str,
    reason: str,
    earned_key: str | None = None,
    actor: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> PointsTakeBack:
    """Take back up to `amount` points earned earlier (a refund's claw-back), never below zero.

    Takes what the balance still holds, frozen points included, the lot earned under
    `earned_key` first, then the oldest-expiring; what the member already spent is not owed:
    it is returned as `short` and nothing else happens. One REVERSE entry under `key` (none
    when nothing could be taken); a replay of the key returns the first take.
    """
    check_amount(amount, code=PointsErrorCode.INVALID_AMOUNT)
    check_key(key, code=PointsErrorCode.INVALID_KEY)
    await _brand(brand_id, connection)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> PointsEntry:
        member = await lock_member(db, brand_id=brand_id, member_id=member_id)
        taken = min(amount, member.points_balance)
        if taken <= 0:
            raise _NothingToTake
        earned = None
        if earned_key is not None:
            earned = (
                await PointsEntry.filter(brand_id=brand_id, key=earned_key, member_id=member_id)
                .using_db(db)
                .first()
            )
        await _move_balance(db, member_id=member_id, delta=-taken)
        await _drain_lots(
            db,
            brand_id=brand_id,
            member_id=member_id,
            amount=taken,
            now=now,
            spendable_only=False,
            first_entry_id=earned.id if earned is not None else None,
        )
        return await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=PointsEntryKind.REVERSE,
            delta=-taken,
            reason=reason,
            actor=actor,
            now=now,
        )

    try:
        entry = await once_per_key(
            PointsEntry,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            reused_code=PointsErrorCode.KEY_REUSED,
            replays=lambda entry: entry.kind == PointsEntryKind.REVERSE and -entry.delta <= amount,
            operation=operation,
            connection=connection,
        )
    except _NothingToTake:
        # A concurrent call under the same key may have emptied the balance: it is this one.
        first = await PointsEntry.filter(brand_id=brand_id, key=key).using_db(connection).first()
        if first is None or first.kind != PointsEntryKind.REVERSE:
            return PointsTakeBack(None, 0, amount)
        entry = first
    return PointsTakeBack(entry, -entry.delta, amount + entry.delta)


async def expire_points(*, brand_id: int | None = None, now: datetime | None = None) -> int:
    """Sweep every lot past its expiry into an EXPIRE entry; returns how many lots it expired."""
    now = _utc(now) if now is not None else clock().now()
    query = PointsLot.filter(remaining__gt=0, expires_at__lte=now)
    if brand_id is not None:
        query = query.filter(brand_id=brand_id)
    expired = 0
    lot_ids = cast(list[int], await query.order_by("id").values_list("id", flat=True))
    for lot_id in lot_ids:
        if await _expire_lot(lot_id, now=now):
            expired += 1
    return expired


async def _expire_lot(lot_id: int, *, now: datetime) -> bool:
    lot = await PointsLot.get_or_none(id=lot_id)
    if lot is None:
        return False
    key = f"lot:{lot_id}:expire"
    if await PointsEntry.exists(brand_id=lot.brand_id, key=key):
        return False
    try:
        async with in_transaction() as db:
            await lock_member(db, brand_id=lot.brand_id, member_id=lot.member_id, allow_merged=True)
            fresh = await PointsLot.filter(id=lot_id).using_db(db).first()
            if fresh is None or fresh.remaining <= 0:
                return False
            remaining = fresh.remaining
            # Guarded on the value just read: a concurrent sweep or spend makes this a no-op.
            if (
                not await PointsLot.filter(id=lot_id, remaining=remaining)
                .using_db(db)
                .update(remaining=0)
            ):
                return False
            await _move_balance(db, member_id=lot.member_id, delta=-remaining)
            await _append(
                db,
                brand_id=lot.brand_id,
                member_id=lot.member_id,
                key=key,
                kind=PointsEntryKind.EXPIRE,
                delta=-remaining,
                reason="expired",
                actor="system",
                now=now,
            )
            return True
    except IntegrityError:
        return False  # another sweep wrote this lot's entry first


async def move_points_for_merge(
    *,
    brand_id: int,
    loser_id: int,
    survivor_id: int,
    key_prefix: str,
    connection: BaseDBAsyncClient,
) -> int:
    """Inside the caller's transaction, move the loser's lots to the survivor; returns the points moved."""
    db = connection
    out_key = check_key(f"{key_prefix}:points:out", code=PointsErrorCode.INVALID_KEY)
    in_key = check_key(f"{key_prefix}:points:in", code=PointsErrorCode.INVALID_KEY)
    done = await PointsEntry.filter(brand_id=brand_id, key=out_key).using_db(db).first()
    if done is not None:
        return -done.delta
    await lock_members(db, brand_id=brand_id, member_ids=(loser_id, survivor_id))
    lots = (
        await PointsLot.filter(brand_id=brand_id, member_id=loser_id, remaining__gt=0)
        .using_db(db)
        .order_by("id")
    )
    total = sum(lot.remaining for lot in lots)
    if total == 0:
        return 0
    now = clock().now()
    await _move_balance(db, member_id=loser_id, delta=-total)
    await _append(
        db,
        brand_id=brand_id,
        member_id=loser_id,
        key=out_key,
        kind=PointsEntryKind.MERGE_OUT,
        delta=-total,
        reason=f"merged into member {survivor_id}",
        actor="system",
        now=now,
    )
    await _move_balance(db, member_id=survivor_id, delta=total)
    entry_in = await _append(
        db,
        brand_id=brand_id,
        member_id=survivor_id,
        key=in_key,
        kind=PointsEntryKind.MERGE_IN,
        delta=total,
        reason=f"merged from member {loser_id}",
        actor="system",
        now=now,
    )
    for lot in lots:
        if (
            not await PointsLot.filter(id=lot.id, remaining=lot.remaining)
            .using_db(db)
            .update(remaining=0)
        ):
            raise Conflict(
                PointsErrorCode.CONCURRENT_CHANGE, "The points changed during the merge."
            )
        # The lot keeps its expiry and freeze: a merge must not extend or release points.
        await PointsLot.create(
            using_db=db,
            brand_id=brand_id,
            member_id=survivor_id,
            entry_id=entry_in.id,
            amount=lot.remaining,
            remaining=lot.remaining,
            available_at=lot.available_at,
            expires_at=lot.expires_at,
            created_at=now,
        )
    return total


# ---------------------------------------------------------------- reads


async def points_summary(*, brand_id: int, member_id: int) -> PointsSummary:
    """Balance, available, frozen and soon-expiring points of one member."""
    member = await find_member(brand_id=brand_id, member_id=member_id)
    now = clock().now()
    lots = await PointsLot.filter(brand_id=brand_id, member_id=member_id, remaining__gt=0)
    live = [lot for lot in lots if lot.expires_at is None or lot.expires_at > now]
    available = [lot for lot in live if lot.available_at <= now]
    soon = now + timedelta(days=EXPIRING_SOON_DAYS)
    expiring = [(lot.expires_at, lot.remaining) for lot in available if lot.expires_at is not None]
    next_expiry = min((at for at, _ in expiring), default=None)
    return PointsSummary(
        balance=member.points_balance,
        available=sum(lot.remaining for lot in available),
        frozen=sum(lot.remaining for lot in live if lot.available_at > now),
        expiring_soon=sum(points for at, points in expiring if at <= soon),
        next_expiry_at=next_expiry,
        next_expiry_points=sum(points for at, points in expiring if at == next_expiry),
    )


async def list_entries(
    *, brand_id: int, member_id: int, cursor: str | None, limit: int
) -> tuple[list[PointsEntry], str | None]:
    """One page of a member's ledger, newest first."""
    await find_member(brand_id=brand_id, member_id=member_id)
    return await paginate(
        PointsEntry.filter(brand_id=brand_id, member_id=member_id), cursor=cursor, limit=limit
    )
