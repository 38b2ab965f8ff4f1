"""Stored value: recharge, spend, refund, withdraw and merge; head office's recharge packages.

Principal (money the member paid) and bonus (money the brand gave) are kept apart: a spend
takes from both in proportion to their balances, a refund gives back the parts that were spent,
and a withdrawal pays back the principal only when the brand's rule says so.

Each change locks the member row, moves both balance columns with one guarded update and appends
a ledger row with a unique key, in one transaction (a savepoint of the caller's when given
`connection=`, see `ledger`). Invariant: for each column,
sum(entries.*_delta_fen) == the member's balance column.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.pagination import paginate
from api.core.ports import clock
from api.org.models import Brand

from .error_codes import (
    BrandErrorCode,
    MemberErrorCode,
    WalletErrorCode,
    WalletPackageErrorCode,
)
from .ledger import Replays, check_key, lock_member, lock_members, once_per_key
from .models import Member, WalletEntry, WalletEntryKind, WalletPackage, WalletRefund

SPEND_ATTEMPTS = 5


@dataclass(frozen=True)
class WalletBalance:
    principal_fen: int
    bonus_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.bonus_fen


class _Stale(Exception):
    """The balances changed between read and guarded update; roll back and read again."""


def split_spend(amount_fen: int, principal_fen: int, bonus_fen: int) -> tuple[int, int]:
    """Principal and bonus parts of a spend, proportional to the balances, principal rounded up."""
    total = principal_fen + bonus_fen
    if amount_fen > total:
        raise Conflict(
            WalletErrorCode.INSUFFICIENT, "The wallet balance does not cover this amount."
        )
    if total == 0:
        return 0, 0
    principal = -(-amount_fen * principal_fen // total)  # integer ceiling, no float error
    return principal, amount_fen - principal


def _split_refund(
    amount_fen: int, spent: tuple[int, int], refundable: tuple[int, int]
) -> tuple[int, int]:
    spent_total = spent[0] + spent[1]
    principal = -(-amount_fen * spent[0] // spent_total) if spent_total else 0
    principal = min(principal, refundable[0])
    bonus = amount_fen - principal
    if bonus > refundable[1]:
        bonus = refundable[1]
        principal = amount_fen - bonus
    return principal, bonus


async def _once(
    *,
    brand_id: int,
    member_id: int | None,
    key: str,
    replays: Replays[WalletEntry],
    operation: Callable[[BaseDBAsyncClient], Awaitable[WalletEntry]],
    connection: BaseDBAsyncClient | None,
) -> WalletEntry:
    return await once_per_key(
        WalletEntry,
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        reused_code=WalletErrorCode.KEY_REUSED,
        replays=replays,
        operation=operation,
        connection=connection,
    )


def _amount(entry: WalletEntry) -> int:
    return entry.principal_delta_fen + entry.bonus_delta_fen


async def _move(
    db: BaseDBAsyncClient, *, member_id: int, principal_fen: int, bonus_fen: int
) -> bool:
    """Change both columns at once; each decrement only while its column covers it."""
    guard: dict[str, Any] = {}
    if principal_fen < 0:
        guard["wallet_principal_fen__gte"] = -principal_fen
    if bonus_fen < 0:
        guard["wallet_bonus_fen__gte"] = -bonus_fen
    updated = (
        await Member.filter(id=member_id, **guard)
        .using_db(db)
        .update(
            wallet_principal_fen=F("wallet_principal_fen") + principal_fen,
            wallet_bonus_fen=F("wallet_bonus_fen") + bonus_fen,
        )
    )
    return bool(updated)


async def _append(
    db: BaseDBAsyncClient,
    *,
    brand_id: int,
    member_id: int,
    key: str,
    kind: WalletEntryKind,
    principal_fen: int,
    bonus_fen: int,
    reason: str,
    actor: str,
    now: datetime,
) -> WalletEntry:
    after = (
        await Member.filter(id=member_id)
        .using_db(db)
        .values_list("wallet_principal_fen", "wallet_bonus_fen")
    )[0]
    return await WalletEntry.create(
        using_db=db,
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        kind=kind,
        principal_delta_fen=principal_fen,
        bonus_delta_fen=bonus_fen,
        principal_after_fen=after[0],
        bonus_after_fen=after[1],
        reason=reason[:255],
        actor=actor[:64],
        created_at=now,
    )


def _check_fen(value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise InvalidInput(
            WalletErrorCode.INVALID_AMOUNT, "Amounts are whole numbers of fen above zero."
        )
    return value


# ---------------------------------------------------------------- operations


async def recharge_wallet(
    *,
    brand_id: int,
    member_id: int,
    principal_fen: int,
    bonus_fen: int = 0,
    key: str,
    reason: str = "",
    actor: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> WalletEntry:
    """Credit a paid recharge (principal) and the brand's gift on top of it (bonus)."""
    _check_fen(principal_fen)
    _check_fen(bonus_fen, allow_zero=True)
    return await _credit(
        kind=WalletEntryKind.RECHARGE,
        brand_id=brand_id,
        member_id=member_id,
        principal_fen=principal_fen,
        bonus_fen=bonus_fen,
        key=key,
        reason=reason,
        actor=actor,
        connection=connection,
    )


async def _credit(
    *,
    kind: WalletEntryKind,
    brand_id: int,
    member_id: int,
    principal_fen: int,
    bonus_fen: int,
    key: str,
    reason: str,
    actor: str,
    connection: BaseDBAsyncClient | None,
) -> WalletEntry:
    """Add to both balances as one `kind` entry under `key` (once; a replay answers it)."""
    check_key(key, code=WalletErrorCode.INVALID_KEY)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> WalletEntry:
        await lock_member(db, brand_id=brand_id, member_id=member_id)
        await _move(db, member_id=member_id, principal_fen=principal_fen, bonus_fen=bonus_fen)
        return await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=kind,
            principal_fen=principal_fen,
            bonus_fen=bonus_fen,
            reason=reason,
            actor=actor,
            now=now,
        )

    return await _once(
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        replays=lambda entry: (
            entry.kind == kind
            and (entry.principal_delta_fen, entry.bonus_delta_fen) == (principal_fen, bonus_fen)
        ),
        operation=operation,
        connection=connection,
    )


async def spend_wallet(
    *,
    brand_id: int,
    member_id: int,
    amount_fen: int,
    key: str,
    reason: str,
    actor: str,
    connection: BaseDBAsyncClient | None = None,
) -> WalletEntry:
    """Pay from the wallet, split between principal and bonus; 409 `wallet.insufficient` if short."""
    _check_fen(amount_fen)
    check_key(key, code=WalletErrorCode.INVALID_KEY)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> WalletEntry:
        member = await lock_member(db, brand_id=brand_id, member_id=member_id)
        principal, bonus = split_spend(
            amount_fen, member.wallet_principal_fen, member.wallet_bonus_fen
        )
        if not await _move(db, member_id=member_id, principal_fen=-principal, bonus_fen=-bonus):
            raise _Stale
        return await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=WalletEntryKind.SPEND,
            principal_fen=-principal,
            bonus_fen=-bonus,
            reason=reason,
            actor=actor,
            now=now,
        )

    # Only reachable where the row lock is missing: the split was computed on balances that
    # a concurrent spend has since lowered, so read them again.
    for _ in range(SPEND_ATTEMPTS):
        try:
            return await _once(
                brand_id=brand_id,
                member_id=member_id,
                key=key,
                replays=lambda entry: (
                    entry.kind == WalletEntryKind.SPEND and _amount(entry) == -amount_fen
                ),
                operation=operation,
                connection=connection,
            )
        except _Stale:
            continue
    raise Conflict(WalletErrorCode.BUSY, "The wallet is changing too fast; try again.")


async def refund_wallet_spend(
    *,
    brand_id: int,
    spend_key: str,
    key: str,
    amount_fen: int | None = None,
    reason: str = "",
    actor: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> WalletEntry:
    """Give back (part of) an earlier spend to principal and bonus, never more than was spent."""
    if amount_fen is not None:
        _check_fen(amount_fen)
    check_key(key, code=WalletErrorCode.INVALID_KEY)
    spend = (
        await WalletEntry.filter(brand_id=brand_id, key=spend_key, kind=WalletEntryKind.SPEND)
        .using_db(connection)
        .first()
    )
    if spend is None:
        raise NotFound(WalletErrorCode.SPEND_NOT_FOUND, "No such wallet spend.")
    now = clock().now()
    spent = (-spend.principal_delta_fen, -spend.bonus_delta_fen)

    async def operation(db: BaseDBAsyncClient) -> WalletEntry:
        await lock_member(db, brand_id=brand_id, member_id=spend.member_id)
        given_back = await WalletRefund.filter(spend_entry_id=spend.id).using_db(db)
        refundable = (
            spent[0] - sum(row.principal_fen for row in given_back),
            spent[1] - sum(row.bonus_fen for row in given_back),
        )
        amount = amount_fen if amount_fen is not None else refundable[0] + refundable[1]
        if amount <= 0:
            raise Conflict(WalletErrorCode.ALREADY_REFUNDED, "This spend was already given back.")
        if amount > refundable[0] + refundable[1]:
            raise Conflict(
                WalletErrorCode.REFUND_EXCEEDS_SPEND,
                "A refund cannot exceed what is left of the spend.",
            )
        principal, bonus = _split_refund(amount, spent, refundable)
        await _move(db, member_id=spend.member_id, principal_fen=principal, bonus_fen=bonus)
        entry = await _append(
            db,
            brand_id=brand_id,
            member_id=spend.member_id,
            key=key,
            kind=WalletEntryKind.REFUND,
            principal_fen=principal,
            bonus_fen=bonus,
            reason=reason or f"refund of {spend_key}",
            actor=actor,
            now=now,
        )
        await WalletRefund.create(
            using_db=db,
            brand_id=brand_id,
            spend_entry_id=spend.id,
            refund_entry_id=entry.id,
            principal_fen=principal,
            bonus_fen=bonus,
            created_at=now,
        )
        return entry

    async def replays(entry: WalletEntry) -> bool:
        if entry.kind != WalletEntryKind.REFUND:
            return False
        if amount_fen is not None and _amount(entry) != amount_fen:
            return False
        return await (
            WalletRefund.filter(refund_entry_id=entry.id, spend_entry_id=spend.id)
            .using_db(connection)
            .exists()
        )

    return await _once(
        brand_id=brand_id,
        member_id=spend.member_id,
        key=key,
        replays=replays,
        operation=operation,
        connection=connection,
    )


async def withdraw_wallet(
    *,
    brand_id: int,
    member_id: int,
    key: str,
    actor: str,
    reason: str = "",
    connection: BaseDBAsyncClient | None = None,
) -> WalletEntry:
    """Close the member's stored value: the WITHDRAW entry is what is paid back to them.

    With the brand rule `wallet_refund_principal_only` on, only the principal is paid back and
    the bonus is forfeited in a separate ADJUST entry keyed `{key}:forfeit`.
    """
    check_key(key, code=WalletErrorCode.INVALID_KEY)
    if len(key) > 120:
        raise InvalidInput(
            WalletErrorCode.INVALID_KEY, "A withdrawal key must fit in 120 characters."
        )
    brand = await Brand.filter(id=brand_id).using_db(connection).first()
    if brand is None:
        raise NotFound(BrandErrorCode.NOT_FOUND, "No such brand.")
    principal_only = bool(brand.setting("wallet_refund_principal_only"))
    now = clock().now()

    async def _append_forfeit(
        db: BaseDBAsyncClient, member_id: int, forfeited: int, now: datetime
    ) -> None:
        await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=f"{key}:forfeit",
            kind=WalletEntryKind.ADJUST,
            principal_fen=0,
            bonus_fen=-forfeited,
            reason="bonus forfeited on withdrawal",
            actor=actor,
            now=now,
        )

    async def operation(db: BaseDBAsyncClient) -> WalletEntry:
        member = await lock_member(db, brand_id=brand_id, member_id=member_id)
        principal, bonus = member.wallet_principal_fen, member.wallet_bonus_fen
        if principal == 0 and bonus == 0:
            raise Conflict(WalletErrorCode.EMPTY, "There is nothing in the wallet to withdraw.")
        paid_bonus = 0 if principal_only else bonus
        if not await _move(db, member_id=member_id, principal_fen=-principal, bonus_fen=-bonus):
            raise Conflict(WalletErrorCode.CONCURRENT_CHANGE, "The wallet changed; try again.")
        # Both rows see the final (zero) balances; the WITHDRAW row is written last so its
        # `*_after_fen` equal the member's columns like every other entry's.
        if bonus - paid_bonus:
            await _append_forfeit(db, member_id, bonus - paid_bonus, now)
        return await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=WalletEntryKind.WITHDRAW,
            principal_fen=-principal,
            bonus_fen=-paid_bonus,
            reason=reason or "stored value withdrawn",
            actor=actor,
            now=now,
        )

    return await _once(
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        replays=lambda entry: entry.kind == WalletEntryKind.WITHDRAW,
        operation=operation,
        connection=connection,
    )


async def take_back_recharge(
    *,
    brand_id: int,
    member_id: int,
    principal_fen: int,
    bonus_fen: int,
    key: str,
    reason: str,
    actor: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> WalletEntry:
    """Take a refunded recharge back out of the wallet: its principal (a WITHDRAW entry under
    `key`: the money the platform pays back) and the bonus it brought (an ADJUST entry,
    `{key}:forfeit`). 409 `wallet.insufficient`, nothing changed, when the balances no longer
    hold either part: the member has spent it."""
    _check_fen(principal_fen)
    _check_fen(bonus_fen, allow_zero=True)
    check_key(key, code=WalletErrorCode.INVALID_KEY)
    if len(key) > 120:
        raise InvalidInput(WalletErrorCode.INVALID_KEY, "The key must fit in 120 characters.")
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> WalletEntry:
        member = await lock_member(db, brand_id=brand_id, member_id=member_id)
        if member.wallet_principal_fen < principal_fen or member.wallet_bonus_fen < bonus_fen:
            raise Conflict(
                WalletErrorCode.INSUFFICIENT,
                f"The wallet holds {member.wallet_principal_fen} fen of principal and "
                f"{member.wallet_bonus_fen} fen of bonus; the recharge needs {principal_fen} "
                f"and {bonus_fen} back: the member has spent it.",
            )
        if not await _move(
            db, member_id=member_id, principal_fen=-principal_fen, bonus_fen=-bonus_fen
        ):
            raise Conflict(WalletErrorCode.CONCURRENT_CHANGE, "The wallet changed; try again.")
        if bonus_fen:
            await _append(
                db,
                brand_id=brand_id,
                member_id=member_id,
                key=f"{key}:forfeit",
                kind=WalletEntryKind.ADJUST,
                principal_fen=0,
                bonus_fen=-bonus_fen,
                reason=f"bonus of a refunded recharge: {reason}",
                actor=actor,
                now=now,
            )
        return await _append(
            db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=WalletEntryKind.WITHDRAW,
            principal_fen=-principal_fen,
            bonus_fen=0,
            reason=reason,
            actor=actor,
            now=now,
        )

    return await _once(
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        replays=lambda entry: (
            entry.kind == WalletEntryKind.WITHDRAW and entry.principal_delta_fen == -principal_fen
        ),
        operation=operation,
        connection=connection,
    )


async def restore_taken_back(
    *,
    brand_id: int,
    member_id: int,
    principal_fen: int,
    bonus_fen: int,
    key: str,
    reason: str,
    actor: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> WalletEntry:
    """Put back what `take_back_recharge` took when the refund it was for failed (one ADJUST
    entry under `key`)."""
    _check_fen(principal_fen, allow_zero=True)
    _check_fen(bonus_fen, allow_zero=True)
    return await _credit(
        kind=WalletEntryKind.ADJUST,
        brand_id=brand_id,
        member_id=member_id,
        principal_fen=principal_fen,
        bonus_fen=bonus_fen,
        key=key,
        reason=reason,
        actor=actor,
        connection=connection,
    )


async def move_wallet_for_merge(
    *,
    brand_id: int,
    loser_id: int,
    survivor_id: int,
    key_prefix: str,
    connection: BaseDBAsyncClient,
) -> WalletBalance:
    """Inside the caller's transaction, move the loser's principal and bonus to the survivor."""
    db = connection
    out_key = check_key(f"{key_prefix}:wallet:out", code=WalletErrorCode.INVALID_KEY)
    in_key = check_key(f"{key_prefix}:wallet:in", code=WalletErrorCode.INVALID_KEY)
    done = await WalletEntry.filter(brand_id=brand_id, key=out_key).using_db(db).first()
    if done is not None:
        return WalletBalance(-done.principal_delta_fen, -done.bonus_delta_fen)
    members = await lock_members(db, brand_id=brand_id, member_ids=(loser_id, survivor_id))
    principal = members[loser_id].wallet_principal_fen
    bonus = members[loser_id].wallet_bonus_fen
    if principal == 0 and bonus == 0:
        return WalletBalance(0, 0)
    now = clock().now()
    if not await _move(db, member_id=loser_id, principal_fen=-principal, bonus_fen=-bonus):
        raise Conflict(WalletErrorCode.CONCURRENT_CHANGE, "The wallet changed during the merge.")
    await _append(
        db,
        brand_id=brand_id,
        member_id=loser_id,
        key=out_key,
        kind=WalletEntryKind.MERGE_OUT,
        principal_fen=-principal,
        bonus_fen=-bonus,
        reason=f"merged into member {survivor_id}",
        actor="system",
        now=now,
    )
    await _move(db, member_id=survivor_id, principal_fen=principal, bonus_fen=bonus)
    await _append(
        db,
        brand_id=brand_id,
        member_id=survivor_id,
        key=in_key,
        kind=WalletEntryKind.MERGE_IN,
        principal_fen=principal,
        bonus_fen=bonus,
        reason=f"merged from member {loser_id}",
        actor="system",
        now=now,
    )
    return WalletBalance(principal, bonus)


# ---------------------------------------------------------------- reads


async def wallet_balance(*, brand_id: int, member_id: int) -> WalletBalance:
    """The member's principal and bonus balances."""
    row = (
        await Member.filter(id=member_id, brand_id=brand_id)
        .first()
        .values_list("wallet_principal_fen", "wallet_bonus_fen")
    )
    if row is None:
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    return WalletBalance(principal_fen=row[0], bonus_fen=row[1])


async def list_wallet_entries(
    *, brand_id: int, member_id: int, cursor: str | None, limit: int
) -> tuple[list[WalletEntry], str | None]:
    """One page of a member's stored-value ledger, newest first."""
    if not await Member.exists(id=member_id, brand_id=brand_id):
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    return await paginate(
        WalletEntry.filter(brand_id=brand_id, member_id=member_id), cursor=cursor, limit=limit
    )


# ---------------------------------------------------------------- recharge packages


def _check_package(name: Any, pay_fen: Any, bonus_fen: Any) -> None:
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 64):
        raise InvalidInput(WalletPackageErrorCode.INVALID_NAME, "A package needs a name (≤ 64).")
    if pay_fen is not None:
        _check_fen(pay_fen)
    if bonus_fen is not None:
        _check_fen(bonus_fen, allow_zero=True)


async def create_package(
    *,
    brand_id: int,
    name: str,
    pay_fen: int,
    bonus_fen: int = 0,
    active: bool = True,
    actor: str = "system",
) -> WalletPackage:
    """Offer a recharge package: pay `pay_fen`, receive `pay_fen + bonus_fen`."""
    _check_package(name, pay_fen, bonus_fen)
    async with in_transaction() as db:
        package = await WalletPackage.create(
            brand_id=brand_id,
            name=name.strip(),
            pay_fen=pay_fen,
            bonus_fen=bonus_fen,
            active=active,
            using_db=db,
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="wallet_package.create",
            target=f"wallet_package:{package.id}",
            details={"pay_fen": pay_fen, "bonus_fen": bonus_fen, "active": active},
            connection=db,
        )
    return package


async def get_package(*, brand_id: int, package_id: int) -> WalletPackage:
    """One package of the brand, or 404 `wallet_package.not_found`."""
    package = await WalletPackage.get_or_none(id=package_id, brand_id=brand_id)
    if package is None:
        raise NotFound(WalletPackageErrorCode.NOT_FOUND, "No such recharge package.")
    return package


async def update_package(
    *,
    brand_id: int,
    package_id: int,
    name: str | None = None,
    pay_fen: int | None = None,
    bonus_fen: int | None = None,
    active: bool | None = None,
    actor: str = "system",
) -> WalletPackage:
    """Change a package's name, amounts or availability (`active=False` takes it off offer)."""
    _check_package(name, pay_fen, bonus_fen)
    package = await get_package(brand_id=brand_id, package_id=package_id)
    changes: dict[str, Any] = {
        field: value
        for field, value in (
            ("name", name.strip() if name is not None else None),
            ("pay_fen", pay_fen),
            ("bonus_fen", bonus_fen),
            ("active", active),
        )
        if value is not None
    }
    if changes:
        async with in_transaction() as db:
            await (
                WalletPackage.filter(id=package.id, brand_id=brand_id)
                .using_db(db)
                .update(**changes)
            )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="wallet_package.update",
                target=f"wallet_package:{package.id}",
                details={"fields": sorted(changes)},
                connection=db,
            )
        await package.refresh_from_db()
    return package


async def list_packages(*, brand_id: int, active_only: bool = True) -> list[WalletPackage]:
    """The brand's recharge packages, cheapest first (only those on offer unless asked)."""
    query = WalletPackage.filter(brand_id=brand_id)
    if active_only:
        query = query.filter(active=True)
    return await query.order_by("pay_fen", "id")
