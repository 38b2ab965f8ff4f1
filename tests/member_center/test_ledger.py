"""What the three ledgers share: strict replays, and running inside a caller's transaction.

A payment notification credits points, stored value and growth inside its own transaction; the
balance services then run as savepoints of it. These tests run on both stacks: SQLite by
default, PostgreSQL (where a failed statement would otherwise abort the caller's transaction)
with MEMBERHUB_TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.core.clock import FrozenClock
from api.core.errors import Conflict
from api.member_center import levels, points, wallet
from api.member_center.models import (
    GrowthEntry,
    Member,
    PointsEntry,
    PointsEntryKind,
    WalletEntry,
)
from api.org.models import Brand
from config.settings import Settings
from tests.factories import make_brand, make_member


class Abandon(Exception):
    """Raised by a test to roll its outer transaction back."""


async def balances(member: Member) -> tuple[int, int, int, int]:
    fresh = await Member.get(id=member.id)
    return (
        fresh.points_balance,
        fresh.wallet_principal_fen,
        fresh.wallet_bonus_fen,
        fresh.growth,
    )


async def entries_under(key: str) -> int:
    return sum(
        [
            await PointsEntry.filter(key=key).count(),
            await WalletEntry.filter(key=key).count(),
            await GrowthEntry.filter(key=key).count(),
        ]
    )


async def funded_member(brand: Brand) -> Member:
    """A member with 100 points, ¥100 + ¥10 of stored value and one ¥20 wallet spend."""
    member = await make_member(brand=brand)
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=100, key="seed:p")
    await wallet.recharge_wallet(
        brand_id=brand.id, member_id=member.id, principal_fen=10000, bonus_fen=1000, key="seed:w"
    )
    await wallet.spend_wallet(
        brand_id=brand.id,
        member_id=member.id,
        amount_fen=2000,
        key="seed:spend",
        reason="order",
        actor="test",
    )
    return member


Call = Callable[[Brand, Member, BaseDBAsyncClient | None], Awaitable[object]]


@dataclass(frozen=True)
class Operation:
    """One balance service called with key `op`, as a caller's transaction would call it."""

    call: Call
    other: Call  # the same key with another amount or kind: never a replay
    reused_code: str


OPERATIONS: dict[str, Operation] = {
    "points earn": Operation(
        call=lambda b, m, c: points.earn_points(
            brand_id=b.id, member_id=m.id, amount=10, key="op", connection=c
        ),
        other=lambda b, m, c: points.earn_points(
            brand_id=b.id, member_id=m.id, amount=999, key="op", connection=c
        ),
        reused_code="points.key_reused",
    ),
    "points spend": Operation(
        call=lambda b, m, c: points.spend_points(
            brand_id=b.id, member_id=m.id, amount=7, key="op", reason="r", actor="t", connection=c
        ),
        other=lambda b, m, c: points.earn_points(
            brand_id=b.id, member_id=m.id, amount=7, key="op", connection=c
        ),
        reused_code="points.key_reused",
    ),
    "points adjust": Operation(
        call=lambda b, m, c: points.adjust_points(
            brand_id=b.id, member_id=m.id, delta=-5, key="op", reason="fix", actor="t", connection=c
        ),
        other=lambda b, m, c: points.adjust_points(
            brand_id=b.id, member_id=m.id, delta=5, key="op", reason="fix", actor="t", connection=c
        ),
        reused_code="points.key_reused",
    ),
    "wallet recharge": Operation(
        call=lambda b, m, c: wallet.recharge_wallet(
            brand_id=b.id, member_id=m.id, principal_fen=500, bonus_fen=50, key="op", connection=c
        ),
        other=lambda b, m, c: wallet.recharge_wallet(
            brand_id=b.id, member_id=m.id, principal_fen=500, bonus_fen=0, key="op", connection=c
        ),
        reused_code="wallet.key_reused",
    ),
    "wallet spend": Operation(
        call=lambda b, m, c: wallet.spend_wallet(
            brand_id=b.id,
            member_id=m.id,
            amount_fen=300,
            key="op",
            reason="order",
            actor="t",
            connection=c,
        ),
        other=lambda b, m, c: wallet.spend_wallet(
            brand_id=b.id,
            member_id=m.id,
            amount_fen=301,
            key="op",
            reason="order",
            actor="t",
            connection=c,
        ),
        reused_code="wallet.key_reused",
    ),
    "wallet refund": Operation(
        call=lambda b, m, c: wallet.refund_wallet_spend(
            brand_id=b.id, spend_key="seed:spend", key="op", amount_fen=1000, connection=c
        ),
        other=lambda b, m, c: wallet.refund_wallet_spend(
            brand_id=b.id, spend_key="seed:spend", key="op", amount_fen=1500, connection=c
        ),
        reused_code="wallet.key_reused",
    ),
    "wallet withdraw": Operation(
        call=lambda b, m, c: wallet.withdraw_wallet(
            brand_id=b.id, member_id=m.id, key="op", actor="t", connection=c
        ),
        other=lambda b, m, c: wallet.recharge_wallet(
            brand_id=b.id, member_id=m.id, principal_fen=100, key="op", connection=c
        ),
        reused_code="wallet.key_reused",
    ),
    "growth": Operation(
        call=lambda b, m, c: levels.add_growth(
            brand_id=b.id, member_id=m.id, amount=10, key="op", connection=c
        ),
        other=lambda b, m, c: levels.add_growth(
            brand_id=b.id, member_id=m.id, amount=17, key="op", connection=c
        ),
        reused_code="growth.key_reused",
    ),
}

each_operation = pytest.mark.parametrize("name", list(OPERATIONS))


# ---------------------------------------------------------------- replays


async def test_an_earn_replayed_with_another_amount_is_refused(clock: FrozenClock) -> None:
    # given 10 points earned under a payment's key
    brand = await make_brand()
    member = await make_member(brand=brand)
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=10, key="pay:1")

    # when a notification with the same key claims 999
    with pytest.raises(Conflict) as error:
        await points.earn_points(brand_id=brand.id, member_id=member.id, amount=999, key="pay:1")

    # then the mismatch is answered, not hidden behind the first entry
    assert error.value.code == "points.key_reused"
    assert error.value.status == 409
    assert (await Member.get(id=member.id)).points_balance == 10


@each_operation
async def test_the_same_key_for_another_amount_or_kind_is_refused(
    clock: FrozenClock, name: str
) -> None:
    operation = OPERATIONS[name]
    brand = await make_brand()
    member = await funded_member(brand)
    first = await operation.call(brand, member, None)
    after_first = await balances(member)

    replay = await operation.call(brand, member, None)
    with pytest.raises(Conflict) as error:
        await operation.other(brand, member, None)

    assert replay.id == first.id  # type: ignore[attr-defined]
    assert error.value.code == operation.reused_code
    assert await balances(member) == after_first
    assert await entries_under("op") == 1


async def test_a_refund_key_reused_for_another_spend_is_refused(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await funded_member(brand)
    await wallet.spend_wallet(
        brand_id=brand.id,
        member_id=member.id,
        amount_fen=2000,
        key="seed:spend:2",
        reason="order",
        actor="t",
    )
    await wallet.refund_wallet_spend(brand_id=brand.id, spend_key="seed:spend", key="refund:1")

    with pytest.raises(Conflict) as error:
        await wallet.refund_wallet_spend(
            brand_id=brand.id, spend_key="seed:spend:2", key="refund:1"
        )

    assert error.value.code == "wallet.key_reused"
    assert await WalletEntry.filter(key="refund:1").count() == 1


async def test_concurrent_replays_with_different_amounts_credit_one_of_them(
    clock: FrozenClock,
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    results = await asyncio.gather(
        *(
            points.earn_points(brand_id=brand.id, member_id=member.id, amount=amount, key="k")
            for amount in (10, 999) * 5
        ),
        return_exceptions=True,
    )

    entries = [r for r in results if isinstance(r, PointsEntry)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(entries) + len(refused) == 10
    assert len({entry.delta for entry in entries}) == 1
    assert {error.code for error in refused} == {"points.key_reused"}
    assert (await Member.get(id=member.id)).points_balance == entries[0].delta


# ---------------------------------------------------------------- inside a caller's transaction


@each_operation
async def test_a_rolled_back_outer_transaction_leaves_nothing(
    clock: FrozenClock, name: str
) -> None:
    brand = await make_brand()
    member = await funded_member(brand)
    before = await balances(member)

    with pytest.raises(Abandon):
        async with in_transaction() as outer:
            await OPERATIONS[name].call(brand, member, outer)
            assert await entries_under("op") == 1  # seen inside the outer transaction
            raise Abandon

    assert await balances(member) == before
    assert await entries_under("op") == 0


@each_operation
async def test_a_committed_outer_transaction_keeps_one_effect_of_a_replay_inside_it(
    clock: FrozenClock, name: str
) -> None:
    operation = OPERATIONS[name]
    brand = await make_brand()
    member = await funded_member(brand)
    before = await balances(member)

    async with in_transaction() as outer:
        first = await operation.call(brand, member, outer)
        inside = await balances(member)
        again = await operation.call(brand, member, outer)

    assert again.id == first.id  # type: ignore[attr-defined]
    assert await entries_under("op") == 1
    assert await balances(member) != before
    assert await balances(member) == inside
    # and a replay after the commit, outside any transaction, answers the same entry
    assert (await operation.call(brand, member, None)).id == first.id  # type: ignore[attr-defined]


@each_operation
async def test_a_refused_replay_leaves_the_outer_transaction_usable(
    clock: FrozenClock, name: str
) -> None:
    operation = OPERATIONS[name]
    brand = await make_brand()
    member = await funded_member(brand)

    async with in_transaction() as outer:
        await operation.call(brand, member, outer)
        with pytest.raises(Conflict) as error:
            await operation.other(brand, member, outer)
        # the caller goes on and commits the rest of its work
        await points.earn_points(
            brand_id=brand.id, member_id=member.id, amount=1, key="after", connection=outer
        )

    assert error.value.code == operation.reused_code
    assert await entries_under("op") == 1
    assert await PointsEntry.exists(key="after")


async def test_inside_a_transaction_a_service_joins_it_without_being_told(
    clock: FrozenClock,
) -> None:
    # Tortoise keeps the open transaction in a context variable: a service called inside
    # `in_transaction()` without connection= becomes a savepoint of it all the same.
    brand = await make_brand()
    member = await make_member(brand=brand)

    with pytest.raises(Abandon):
        async with in_transaction():
            await points.earn_points(brand_id=brand.id, member_id=member.id, amount=5, key="op")
            await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=5, key="op")
            raise Abandon

    assert await balances(member) == (0, 0, 0, 0)
    assert await entries_under("op") == 0


async def test_a_refused_spend_rolls_back_its_savepoint_only(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    async with in_transaction() as outer:
        await points.earn_points(
            brand_id=brand.id, member_id=member.id, amount=5, key="before", connection=outer
        )
        with pytest.raises(Conflict) as error:
            await points.spend_points(
                brand_id=brand.id,
                member_id=member.id,
                amount=6,
                key="too-much",
                reason="r",
                actor="t",
                connection=outer,
            )
        await points.earn_points(
            brand_id=brand.id, member_id=member.id, amount=1, key="after", connection=outer
        )

    assert error.value.code == "points.insufficient"
    assert not await PointsEntry.exists(key="too-much")
    assert (await Member.get(id=member.id)).points_balance == 6


async def _wait_for_a_lock_wait(settings: Settings) -> None:
    """On PostgreSQL, until some session waits for a lock; SQLite queues whole transactions."""
    if not settings.uses_postgres:
        return
    db = connections.get("default")
    for _ in range(200):
        rows = await db.execute_query_dict("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")
        if rows[0]["n"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second transaction never waited for the member row")


async def test_two_notifications_with_one_key_in_their_own_transactions_credit_once(
    clock: FrozenClock, settings: Settings
) -> None:
    # given two deliveries of one payment notification, each in its own transaction
    brand = await make_brand()
    member = await make_member(brand=brand)
    first_credited = asyncio.Event()
    release_first = asyncio.Event()

    async def deliver(name: str, *, hold: bool) -> PointsEntry:
        async with in_transaction() as outer:
            entry = await points.earn_points(
                brand_id=brand.id, member_id=member.id, amount=30, key="pay:7", connection=outer
            )
            await points.earn_points(
                brand_id=brand.id,
                member_id=member.id,
                amount=1,
                key=f"pay:7:{name}",
                connection=outer,
            )
            if hold:
                first_credited.set()
                await release_first.wait()
        return entry

    # when the second arrives while the first has credited but not committed
    first = asyncio.create_task(deliver("first", hold=True))
    await first_credited.wait()
    second = asyncio.create_task(deliver("second", hold=False))
    await _wait_for_a_lock_wait(settings)
    release_first.set()
    one, two = await asyncio.gather(first, second)

    # then the payment is credited once, and the second transaction still committed its own work
    assert one.id == two.id
    assert await PointsEntry.filter(key="pay:7").count() == 1
    assert await PointsEntry.filter(key__startswith="pay:7:").count() == 2
    assert (await Member.get(id=member.id)).points_balance == 32
    assert (await PointsEntry.get(key="pay:7")).kind == PointsEntryKind.EARN
