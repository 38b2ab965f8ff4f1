"""Stored value: recharge, proportional spend, refund, withdraw, merge, packages — and their HTTP."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from api.core.clock import FrozenClock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.member_center import wallet
from api.member_center.models import Member, WalletEntry, WalletEntryKind, WalletPackage
from api.org.models import Brand, StaffRole
from tests.factories import make_brand, make_member, make_staff, member_token, staff_token
from tests.support.api import Api


async def assert_wallet_consistent(member: Member) -> tuple[int, int]:
    """Each balance column equals the sum of its ledger column and is never negative."""
    fresh = await Member.get(id=member.id)
    rows = await WalletEntry.filter(member_id=member.id).values_list(
        "principal_delta_fen", "bonus_delta_fen"
    )
    assert fresh.wallet_principal_fen >= 0 and fresh.wallet_bonus_fen >= 0
    assert sum(row[0] for row in rows) == fresh.wallet_principal_fen
    assert sum(row[1] for row in rows) == fresh.wallet_bonus_fen
    last = await WalletEntry.filter(member_id=member.id).order_by("-id").first()
    if last is not None:
        assert (last.principal_after_fen, last.bonus_after_fen) == (
            fresh.wallet_principal_fen,
            fresh.wallet_bonus_fen,
        )
    return fresh.wallet_principal_fen, fresh.wallet_bonus_fen


async def member_with_wallet(brand: Brand, principal_fen: int, bonus_fen: int = 0) -> Member:
    member = await make_member(brand=brand)
    await wallet.recharge_wallet(
        brand_id=brand.id,
        member_id=member.id,
        principal_fen=principal_fen,
        bonus_fen=bonus_fen,
        key=f"recharge:{member.id}",
        reason="seed",
        actor="test",
    )
    return member


async def spend(brand: Brand, member: Member, amount_fen: int, key: str) -> WalletEntry:
    return await wallet.spend_wallet(
        brand_id=brand.id,
        member_id=member.id,
        amount_fen=amount_fen,
        key=key,
        reason="order",
        actor="test",
    )


# ---------------------------------------------------------------- recharge / spend


async def test_recharge_with_bonus_then_replay(clock: FrozenClock) -> None:
    # given a member who recharges 500 yuan with a 50 yuan bonus
    brand = await make_brand()
    member = await make_member(brand=brand)
    args = dict(
        brand_id=brand.id,
        member_id=member.id,
        principal_fen=50000,
        bonus_fen=5000,
        key="pay:1",
        reason="recharge",
        actor="test",
    )

    # when the payment notification arrives twice
    first = await wallet.recharge_wallet(**args)
    second = await wallet.recharge_wallet(**args)

    # then one credit
    assert second.id == first.id
    assert await WalletEntry.filter(member_id=member.id).count() == 1
    assert await assert_wallet_consistent(member) == (50000, 5000)


async def test_spend_splits_proportionally_principal_rounded_up(clock: FrozenClock) -> None:
    # given 500 + 50 (principal : bonus = 10 : 1)
    brand = await make_brand()
    member = await member_with_wallet(brand, 50000, 5000)

    # when 100.01 yuan is spent
    entry = await spend(brand, member, 10001, "order:1")

    # then 10001 × 10/11 = 9091.8… → principal 9092, bonus 909
    assert (entry.principal_delta_fen, entry.bonus_delta_fen) == (-9092, -909)
    assert await assert_wallet_consistent(member) == (40908, 4091)


@pytest.mark.parametrize(
    ("amount", "principal", "bonus", "expected"),
    [
        (1, 1, 1, (1, 0)),
        (3, 1, 2, (1, 2)),
        (550, 500, 50, (500, 50)),
        (7, 0, 10, (0, 7)),
        (7, 10, 0, (7, 0)),
        (10, 3, 7, (3, 7)),
    ],
)
def test_split_spend_never_exceeds_either_side(amount, principal, bonus, expected) -> None:
    assert wallet.split_spend(amount, principal, bonus) == expected


async def test_spend_more_than_total_is_refused(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_wallet(brand, 500, 50)

    with pytest.raises(Conflict) as error:
        await spend(brand, member, 551, "too-much")

    assert error.value.code == "wallet.insufficient"
    assert await assert_wallet_consistent(member) == (500, 50)


async def test_fifty_concurrent_spends_never_overdraw(clock: FrozenClock) -> None:
    # given 10 yuan + 1 yuan bonus: covers exactly 11 spends of 1 yuan
    brand = await make_brand()
    member = await member_with_wallet(brand, 1000, 100)

    results = await asyncio.gather(
        *(spend(brand, member, 100, f"race:{n}") for n in range(50)), return_exceptions=True
    )

    won = [r for r in results if isinstance(r, WalletEntry)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 11
    assert len(lost) == 39
    assert all(error.code == "wallet.insufficient" for error in lost)
    assert await assert_wallet_consistent(member) == (0, 0)


async def test_concurrent_replays_of_one_spend_take_money_once(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_wallet(brand, 1000)

    results = await asyncio.gather(*(spend(brand, member, 300, "order:9") for _ in range(20)))

    assert len({entry.id for entry in results}) == 1
    assert await assert_wallet_consistent(member) == (700, 0)


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", True, None])
async def test_bad_amounts_change_nothing(clock: FrozenClock, amount) -> None:
    brand = await make_brand()
    member = await member_with_wallet(brand, 1000)

    with pytest.raises(InvalidInput):
        await spend(brand, member, amount, "bad")
    with pytest.raises(InvalidInput):
        await wallet.recharge_wallet(
            brand_id=brand.id,
            member_id=member.id,
            principal_fen=amount,
            key="bad2",
            reason="",
            actor="t",
        )

    assert await assert_wallet_consistent(member) == (1000, 0)


async def test_spend_for_member_of_other_brand_is_not_found(clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    member_b = await member_with_wallet(brand_b, 1000)

    with pytest.raises(NotFound):
        await spend(brand_a, member_b, 100, "x")

    assert await assert_wallet_consistent(member_b) == (1000, 0)


# ---------------------------------------------------------------- refund


async def test_refund_gives_back_the_spent_parts_at_most_once(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_wallet(brand, 50000, 5000)
    await spend(brand, member, 11000, "order:1")  # 10000 principal + 1000 bonus

    partial = await wallet.refund_wallet_spend(
        brand_id=brand.id, spend_key="order:1", key="refund:1a", amount_fen=5500
    )
    replay = await wallet.refund_wallet_spend(
        brand_id=brand.id, spend_key="order:1", key="refund:1a", amount_fen=5500
    )
    rest = await wallet.refund_wallet_spend(brand_id=brand.id, spend_key="order:1", key="refund:1b")

    assert replay.id == partial.id
    assert (partial.principal_delta_fen, partial.bonus_delta_fen) == (5000, 500)
    assert (rest.principal_delta_fen, rest.bonus_delta_fen) == (5000, 500)
    with pytest.raises(Conflict) as error:
        await wallet.refund_wallet_spend(
            brand_id=brand.id, spend_key="order:1", key="refund:1c", amount_fen=1
        )
    assert error.value.code == "wallet.refund_exceeds_spend"
    assert await assert_wallet_consistent(member) == (50000, 5000)


async def test_refund_of_unknown_spend_or_other_brand_is_not_found(clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    member_b = await member_with_wallet(brand_b, 1000)
    await spend(brand_b, member_b, 100, "order:b")

    with pytest.raises(NotFound):
        await wallet.refund_wallet_spend(brand_id=brand_a.id, spend_key="order:b", key="r")

    assert await assert_wallet_consistent(member_b) == (900, 0)


# ---------------------------------------------------------------- withdraw


async def test_withdraw_pays_back_principal_and_forfeits_bonus(clock: FrozenClock) -> None:
    # given the default rule: principal only
    brand = await make_brand()
    member = await member_with_wallet(brand, 50000, 5000)
    await spend(brand, member, 11000, "order:1")

    entry = await wallet.withdraw_wallet(
        brand_id=brand.id, member_id=member.id, key="close:1", actor="member"
    )
    replay = await wallet.withdraw_wallet(
        brand_id=brand.id, member_id=member.id, key="close:1", actor="member"
    )

    # then 400 yuan is paid back and the 40 yuan bonus left is forfeited
    assert replay.id == entry.id
    assert entry.kind is WalletEntryKind.WITHDRAW
    assert (entry.principal_delta_fen, entry.bonus_delta_fen) == (-40000, 0)
    forfeit = await WalletEntry.get(key="close:1:forfeit")
    assert (forfeit.kind, forfeit.bonus_delta_fen) == (WalletEntryKind.ADJUST, -4000)
    assert await assert_wallet_consistent(member) == (0, 0)


async def test_withdraw_pays_bonus_too_when_brand_allows(clock: FrozenClock) -> None:
    brand = await make_brand(settings={"wallet_refund_principal_only": False})
    member = await member_with_wallet(brand, 500, 50)

    entry = await wallet.withdraw_wallet(
        brand_id=brand.id, member_id=member.id, key="close", actor="member"
    )

    assert (entry.principal_delta_fen, entry.bonus_delta_fen) == (-500, -50)
    assert not await WalletEntry.exists(key="close:forfeit")
    assert await assert_wallet_consistent(member) == (0, 0)


async def test_withdraw_of_empty_wallet_is_refused(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    with pytest.raises(Conflict) as error:
        await wallet.withdraw_wallet(brand_id=brand.id, member_id=member.id, key="c", actor="m")

    assert error.value.code == "wallet.empty"


# ---------------------------------------------------------------- merge


async def test_merge_moves_principal_and_bonus(clock: FrozenClock) -> None:
    brand = await make_brand()
    loser = await member_with_wallet(brand, 300, 30)
    survivor = await member_with_wallet(brand, 100)

    for _ in range(2):
        async with in_transaction() as connection:
            moved = await wallet.move_wallet_for_merge(
                brand_id=brand.id,
                loser_id=loser.id,
                survivor_id=survivor.id,
                key_prefix="merge:7",
                connection=connection,
            )

    assert (moved.principal_fen, moved.bonus_fen) == (300, 30)
    assert await assert_wallet_consistent(loser) == (0, 0)
    assert await assert_wallet_consistent(survivor) == (400, 30)


# ---------------------------------------------------------------- HTTP


async def test_member_sees_balance_and_active_packages(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_wallet(brand, 50000, 5000)
    await wallet.create_package(brand_id=brand.id, name="充500送50", pay_fen=50000, bonus_fen=5000)
    await wallet.create_package(brand_id=brand.id, name="old", pay_fen=100, active=False)
    other = await make_brand()
    await wallet.create_package(brand_id=other.id, name="other brand", pay_fen=100)

    answer = await api.get("/wallet", token=member_token(member))

    assert answer.status == 200, answer
    assert answer.json["principal_fen"] == 50000
    assert answer.json["bonus_fen"] == 5000
    assert answer.json["total_fen"] == 55000
    assert [p["name"] for p in answer.json["packages"]] == ["充500送50"]
    assert answer.json["packages"][0]["receive_fen"] == 55000


async def test_member_reads_own_wallet_entries_only(api: Api, clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    member_a = await member_with_wallet(brand_a, 1000)
    await spend(brand_a, member_a, 100, "a:1")
    member_b = await member_with_wallet(brand_b, 2000)

    mine = await api.get("/wallet/entries", token=member_token(member_a))
    theirs = await api.get("/wallet/entries", token=member_token(member_b))

    assert mine.status == 200, mine
    assert [item["amount_fen"] for item in mine.json["items"]] == [-100, 1000]
    assert [item["amount_fen"] for item in theirs.json["items"]] == [2000]


async def test_bad_cursor_is_422(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    answer = await api.get(
        "/wallet/entries", token=member_token(member), params={"cursor": "!!nope"}
    )

    assert answer.status == 422
    assert answer.error_code == "request.invalid_cursor"


async def test_hq_admin_manages_packages(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    token = staff_token(admin)

    created = await api.post(
        "/admin/wallet-packages",
        {"name": "充1000送150", "pay_fen": 100000, "bonus_fen": 15000},
        token=token,
    )
    assert created.status == 201, created
    disabled = await api.patch(
        f"/admin/wallet-packages/{created.json['id']}", {"active": False}, token=token
    )
    listed = await api.get("/admin/wallet-packages", token=token)

    assert disabled.status == 200, disabled
    assert disabled.json["active"] is False
    assert [(p["name"], p["active"]) for p in listed.json["items"]] == [("充1000送150", False)]
    assert await wallet.list_packages(brand_id=brand.id) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "pay_fen": 0},
        {"name": "x", "pay_fen": -100},
        {"name": "x", "pay_fen": "100"},
        {"name": "x", "pay_fen": 100, "bonus_fen": -1},
        {"name": "", "pay_fen": 100},
        {"pay_fen": 100},
        {"name": "x", "pay_fen": 100, "surprise": 1},
    ],
)
async def test_bad_package_input_is_422(api: Api, clock: FrozenClock, payload: dict) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)

    answer = await api.post("/admin/wallet-packages", payload, token=staff_token(admin))

    assert answer.status == 422, answer
    assert answer.error_code == "request.invalid"
    assert await WalletPackage.filter(brand_id=brand.id).count() == 0


async def test_packages_are_head_office_only_and_brand_scoped(api: Api, clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    cashier = await make_staff(brand=brand_a, role=StaffRole.CASHIER)
    admin_a = await make_staff(brand=brand_a, role=StaffRole.HQ_ADMIN)
    package_b = await wallet.create_package(brand_id=brand_b.id, name="b", pay_fen=100)

    as_cashier = await api.post(
        "/admin/wallet-packages", {"name": "x", "pay_fen": 100}, token=staff_token(cashier)
    )
    foreign = await api.patch(
        f"/admin/wallet-packages/{package_b.id}", {"active": False}, token=staff_token(admin_a)
    )

    assert as_cashier.status == 403
    assert foreign.status == 404
    assert (await WalletPackage.get(id=package_b.id)).active is True
