"""The points ledger: earn, spend, adjust, expire, merge — idempotent, concurrent-safe, brand-scoped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from api.core.clock import SHANGHAI, FrozenClock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.member_center import points
from api.member_center.models import Member, PointsEntry, PointsEntryKind, PointsLot
from api.org.models import Brand, StaffRole
from tests.factories import make_brand, make_member, make_staff, member_token, staff_token
from tests.support.api import Api


async def assert_ledger_consistent(member: Member) -> int:
    """Balance == sum of entries == sum of lots' remaining; nothing negative."""
    fresh = await Member.get(id=member.id)
    deltas = await PointsEntry.filter(member_id=member.id).values_list("delta", flat=True)
    lots = await PointsLot.filter(member_id=member.id).values_list("remaining", flat=True)
    assert fresh.points_balance >= 0
    assert all(remaining >= 0 for remaining in lots)
    assert sum(deltas) == fresh.points_balance
    assert sum(lots) == fresh.points_balance
    last = await PointsEntry.filter(member_id=member.id).order_by("-id").first()
    if last is not None:
        assert last.balance_after == fresh.points_balance
    return fresh.points_balance


async def member_with_points(brand: Brand, amount: int, **earn: object) -> Member:
    member = await make_member(brand=brand)
    if amount:
        await points.earn_points(
            brand_id=brand.id, member_id=member.id, amount=amount, key=f"seed:{member.id}", **earn
        )
    return member


# ---------------------------------------------------------------- earn / replay


async def test_earn_replay_with_same_key_is_one_entry(clock: FrozenClock) -> None:
    # given a member
    brand = await make_brand()
    member = await make_member(brand=brand)

    # when the same earn arrives twice
    first = await points.earn_points(
        brand_id=brand.id, member_id=member.id, amount=30, key="order:1:earn"
    )
    second = await points.earn_points(
        brand_id=brand.id, member_id=member.id, amount=30, key="order:1:earn"
    )

    # then one entry, one lot, balance 30
    assert second.id == first.id
    assert await PointsEntry.filter(member_id=member.id).count() == 1
    assert await PointsLot.filter(member_id=member.id).count() == 1
    assert await assert_ledger_consistent(member) == 30


async def test_spend_replay_returns_first_result(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10)

    first = await points.spend_points(
        brand_id=brand.id, member_id=member.id, amount=4, key="k1", reason="r", actor="member"
    )
    again = await points.spend_points(
        brand_id=brand.id, member_id=member.id, amount=4, key="k1", reason="r", actor="member"
    )

    assert again.id == first.id and again.balance_after == 6
    assert await assert_ledger_consistent(member) == 6


async def test_concurrent_replays_of_one_key_make_one_entry(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    results = await asyncio.gather(
        *(
            points.earn_points(brand_id=brand.id, member_id=member.id, amount=5, key="same")
            for _ in range(20)
        )
    )

    assert len({entry.id for entry in results}) == 1
    assert await assert_ledger_consistent(member) == 5


async def test_key_reused_for_another_member_is_refused(clock: FrozenClock) -> None:
    brand = await make_brand()
    alice = await make_member(brand=brand)
    bob = await make_member(brand=brand)
    await points.earn_points(brand_id=brand.id, member_id=alice.id, amount=5, key="dup")

    with pytest.raises(Conflict) as error:
        await points.earn_points(brand_id=brand.id, member_id=bob.id, amount=5, key="dup")

    assert error.value.code == "points.key_reused"
    assert await assert_ledger_consistent(bob) == 0


async def test_earn_expires_at_end_of_following_year_in_shanghai(clock: FrozenClock) -> None:
    # given 2024-12-31 20:00 UTC, already 2025-01-01 04:00 in Shanghai
    clock.set(datetime(2024, 12, 31, 20, 0, tzinfo=UTC))
    brand = await make_brand()
    member = await member_with_points(brand, 10)

    lot = await PointsLot.get(member_id=member.id)

    # then the points count as earned in 2025 and last through 2026
    assert lot.expires_at == datetime(2027, 1, 1, tzinfo=SHANGHAI)


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None])
async def test_bad_amounts_are_refused_and_change_nothing(clock: FrozenClock, amount) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10)

    with pytest.raises(InvalidInput):
        await points.earn_points(brand_id=brand.id, member_id=member.id, amount=amount, key="x")
    with pytest.raises(InvalidInput):
        await points.spend_points(
            brand_id=brand.id, member_id=member.id, amount=amount, key="y", reason="", actor="t"
        )

    assert await assert_ledger_consistent(member) == 10


async def test_member_of_another_brand_is_not_found(clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    member_b = await member_with_points(brand_b, 10)

    with pytest.raises(NotFound):
        await points.spend_points(
            brand_id=brand_a.id, member_id=member_b.id, amount=1, key="x", reason="", actor="t"
        )
    with pytest.raises(NotFound):
        await points.points_summary(brand_id=brand_a.id, member_id=member_b.id)

    assert await assert_ledger_consistent(member_b) == 10


# ---------------------------------------------------------------- spend


async def test_spend_more_than_available_is_refused(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10)

    with pytest.raises(Conflict) as error:
        await points.spend_points(
            brand_id=brand.id, member_id=member.id, amount=11, key="s", reason="", actor="t"
        )

    assert error.value.code == "points.insufficient"
    assert not await PointsEntry.exists(key="s")
    assert await assert_ledger_consistent(member) == 10


async def test_fifty_concurrent_spends_exactly_ten_win(clock: FrozenClock) -> None:
    # given 10 points
    brand = await make_brand()
    member = await member_with_points(brand, 10)

    # when 50 spends of 1 point race
    results = await asyncio.gather(
        *(
            points.spend_points(
                brand_id=brand.id,
                member_id=member.id,
                amount=1,
                key=f"spend:{n}",
                reason="race",
                actor="test",
            )
            for n in range(50)
        ),
        return_exceptions=True,
    )

    # then exactly 10 succeed, the rest are 409, and the ledger still adds up at 0
    won = [r for r in results if isinstance(r, PointsEntry)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 10
    assert len(lost) == 40
    assert all(error.code == "points.insufficient" for error in lost)
    assert await assert_ledger_consistent(member) == 0


async def test_spend_drains_oldest_expiring_lots_first(clock: FrozenClock) -> None:
    # given three lots: one expiring latest, one earliest, one in between
    clock.set(datetime(2025, 3, 1, tzinfo=UTC))
    brand = await make_brand()
    member = await make_member(brand=brand)
    for key, amount, expires in [
        ("late", 10, datetime(2027, 1, 1, tzinfo=UTC)),
        ("early", 10, datetime(2025, 6, 1, tzinfo=UTC)),
        ("middle", 10, datetime(2026, 1, 1, tzinfo=UTC)),
    ]:
        await points.earn_points(
            brand_id=brand.id, member_id=member.id, amount=amount, key=key, expires_at=expires
        )

    # when 15 points are spent
    await points.spend_points(
        brand_id=brand.id, member_id=member.id, amount=15, key="s", reason="", actor="t"
    )

    # then the earliest lot is empty and the middle one half used; the latest is untouched
    remaining = {
        lot.expires_at: lot.remaining for lot in await PointsLot.filter(member_id=member.id)
    }
    assert remaining == {
        datetime(2025, 6, 1, tzinfo=UTC): 0,
        datetime(2026, 1, 1, tzinfo=UTC): 5,
        datetime(2027, 1, 1, tzinfo=UTC): 10,
    }
    assert await assert_ledger_consistent(member) == 15


async def test_frozen_points_are_not_spendable_until_available(clock: FrozenClock) -> None:
    # given 20 purchase points frozen for the brand's 7 days and 5 free points
    brand = await make_brand(settings={"points_frozen_days": 7})
    member = await make_member(brand=brand)
    await points.earn_points(
        brand_id=brand.id, member_id=member.id, amount=20, key="order:1", frozen=True
    )
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=5, key="gift")

    summary = await points.points_summary(brand_id=brand.id, member_id=member.id)
    assert (summary.balance, summary.available, summary.frozen) == (25, 5, 20)

    # when spending 10 now → refused
    with pytest.raises(Conflict):
        await points.spend_points(
            brand_id=brand.id, member_id=member.id, amount=10, key="s1", reason="", actor="t"
        )
    assert await assert_ledger_consistent(member) == 25

    # when the freeze has passed → allowed
    clock.advance(days=7, seconds=1)
    await points.spend_points(
        brand_id=brand.id, member_id=member.id, amount=10, key="s2", reason="", actor="t"
    )
    summary = await points.points_summary(brand_id=brand.id, member_id=member.id)
    assert (summary.balance, summary.available, summary.frozen) == (15, 15, 0)
    assert await assert_ledger_consistent(member) == 15


# ---------------------------------------------------------------- expiry


async def test_expiry_sweeps_old_lots_and_keeps_new_ones(clock: FrozenClock) -> None:
    # given 30 points earned in 2023 (expire at the end of 2024), 20 of them spent,
    # and 40 points earned in 2024 (expire at the end of 2025)
    clock.set(datetime(2023, 6, 1, 4, tzinfo=UTC))
    brand = await make_brand()
    member = await make_member(brand=brand)
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=30, key="y2023")
    clock.set(datetime(2024, 6, 1, 4, tzinfo=UTC))
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=40, key="y2024")
    await points.spend_points(
        brand_id=brand.id, member_id=member.id, amount=20, key="s", reason="", actor="t"
    )

    # when the sweep runs just before and just after midnight 2025-01-01 in Shanghai
    assert await points.expire_points(now=datetime(2024, 12, 31, 15, 59, tzinfo=UTC)) == 0
    clock.set(datetime(2024, 12, 31, 16, 0, tzinfo=UTC))
    expired = await points.expire_points(brand_id=brand.id)
    again = await points.expire_points(brand_id=brand.id)

    # then only the 10 left in the 2023 lot expire, once
    assert (expired, again) == (1, 0)
    entry = await PointsEntry.get(member_id=member.id, kind=PointsEntryKind.EXPIRE)
    assert entry.delta == -10
    assert entry.key.endswith(":expire")
    assert await assert_ledger_consistent(member) == 40


async def test_concurrent_sweeps_expire_each_lot_once(clock: FrozenClock) -> None:
    brand = await make_brand()
    members = [await member_with_points(brand, 7) for _ in range(3)]
    clock.advance(days=800)

    counts = await asyncio.gather(*(points.expire_points(brand_id=brand.id) for _ in range(5)))

    assert sum(counts) == 3
    for member in members:
        assert await assert_ledger_consistent(member) == 0


async def test_expired_but_unswept_points_are_not_spendable(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10)
    clock.advance(days=800)

    with pytest.raises(Conflict):
        await points.spend_points(
            brand_id=brand.id, member_id=member.id, amount=1, key="s", reason="", actor="t"
        )

    assert (await points.points_summary(brand_id=brand.id, member_id=member.id)).available == 0


# ---------------------------------------------------------------- adjust


async def test_adjust_requires_reason_and_nonzero_delta(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10)

    for delta, reason in [(5, ""), (5, "   "), (0, "fix")]:
        with pytest.raises(InvalidInput):
            await points.adjust_points(
                brand_id=brand.id,
                member_id=member.id,
                delta=delta,
                key="a",
                reason=reason,
                actor="t",
            )

    assert await assert_ledger_consistent(member) == 10


async def test_negative_adjust_can_take_frozen_points_but_never_below_zero(
    clock: FrozenClock,
) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10, frozen=3)

    with pytest.raises(Conflict):
        await points.adjust_points(
            brand_id=brand.id, member_id=member.id, delta=-11, key="a1", reason="fix", actor="t"
        )
    await points.adjust_points(
        brand_id=brand.id, member_id=member.id, delta=-10, key="a2", reason="fix", actor="t"
    )

    assert await assert_ledger_consistent(member) == 0


# ---------------------------------------------------------------- merge


async def test_merge_moves_lots_with_their_expiry(clock: FrozenClock) -> None:
    brand = await make_brand()
    loser = await member_with_points(brand, 12, frozen=5)
    survivor = await member_with_points(brand, 3)

    async with in_transaction() as connection:
        moved = await points.move_points_for_merge(
            brand_id=brand.id,
            loser_id=loser.id,
            survivor_id=survivor.id,
            key_prefix="merge:1",
            connection=connection,
        )
    async with in_transaction() as connection:
        replay = await points.move_points_for_merge(
            brand_id=brand.id,
            loser_id=loser.id,
            survivor_id=survivor.id,
            key_prefix="merge:1",
            connection=connection,
        )

    assert (moved, replay) == (12, 12)
    assert await assert_ledger_consistent(loser) == 0
    assert await assert_ledger_consistent(survivor) == 15
    summary = await points.points_summary(brand_id=brand.id, member_id=survivor.id)
    assert summary.frozen == 12  # the merge did not release frozen points


# ---------------------------------------------------------------- HTTP


async def test_member_reads_own_entries_newest_first(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    for n in range(3):
        await points.earn_points(brand_id=brand.id, member_id=member.id, amount=n + 1, key=f"e{n}")

    first = await api.get("/me/points/entries", token=member_token(member), params={"limit": 2})
    assert first.status == 200, first
    assert [item["delta"] for item in first.json["items"]] == [3, 2]
    second = await api.get(
        "/me/points/entries",
        token=member_token(member),
        params={"limit": 2, "cursor": first.json["next_cursor"]},
    )
    assert [item["delta"] for item in second.json["items"]] == [1]
    assert second.json["next_cursor"] is None


async def test_member_sees_only_own_brand_entries(api: Api, clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    member_a = await make_member(brand=brand_a)
    member_b = await member_with_points(brand_b, 10)

    answer = await api.get("/me/points/entries", token=member_token(member_a))

    assert answer.status == 200
    assert answer.json["items"] == []
    assert await assert_ledger_consistent(member_b) == 10


async def test_member_points_summary(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await member_with_points(brand, 10, frozen=2)

    answer = await api.get("/me/points", token=member_token(member))

    assert answer.status == 200, answer
    assert answer.json["balance"] == 10
    assert answer.json["frozen"] == 10
    assert answer.json["available"] == 0


async def test_hq_admin_adjusts_points_with_reason(api: Api, clock: FrozenClock) -> None:
    # given an hq admin and a member with 10 points
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    member = await member_with_points(brand, 10)
    path = f"/admin/members/{member.id}/points-adjustments"
    headers = {"Idempotency-Key": "ticket-42"}

    # when they add 5 with a reason, twice with the same Idempotency-Key
    first = await api.post(
        path, {"delta": 5, "reason": "goodwill"}, token=staff_token(admin), headers=headers
    )
    second = await api.post(
        path, {"delta": 5, "reason": "goodwill"}, token=staff_token(admin), headers=headers
    )

    # then one adjustment of 5 is recorded
    assert first.status == 201, first
    assert first.json["delta"] == 5
    assert first.json["balance_after"] == 15
    assert first.json["actor"] == f"staff:{admin.id}"
    assert second.json["id"] == first.json["id"]
    assert await assert_ledger_consistent(member) == 15


async def test_an_idempotency_key_resent_with_another_delta_is_409(
    api: Api, clock: FrozenClock
) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    member = await member_with_points(brand, 10)
    path = f"/admin/members/{member.id}/points-adjustments"
    headers = {"Idempotency-Key": "ticket-43"}

    first = await api.post(
        path, {"delta": 5, "reason": "goodwill"}, token=staff_token(admin), headers=headers
    )
    other = await api.post(
        path, {"delta": 50, "reason": "goodwill"}, token=staff_token(admin), headers=headers
    )

    assert first.status == 201, first
    assert (other.status, other.error_code) == (409, "points.key_reused")
    assert await assert_ledger_consistent(member) == 15


@pytest.mark.parametrize(
    "payload",
    [
        {"delta": 5},
        {"delta": 5, "reason": ""},
        {"delta": 0, "reason": "x"},
        {"delta": "5", "reason": "x"},
        {"delta": 1.5, "reason": "x"},
        {"reason": "x"},
    ],
)
async def test_adjust_with_bad_input_is_422_and_changes_nothing(
    api: Api, clock: FrozenClock, payload: dict
) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    member = await member_with_points(brand, 10)

    answer = await api.post(
        f"/admin/members/{member.id}/points-adjustments",
        payload,
        token=staff_token(admin),
        headers={"Idempotency-Key": "k"},
    )

    assert answer.status == 422, answer
    assert "code" in answer.json["error"]
    assert await assert_ledger_consistent(member) == 10


async def test_adjust_without_idempotency_key_is_422(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    member = await member_with_points(brand, 10)

    answer = await api.post(
        f"/admin/members/{member.id}/points-adjustments",
        {"delta": 5, "reason": "x"},
        token=staff_token(admin),
    )

    assert answer.status == 422
    assert answer.error_code == "request.idempotency_key_required"
    assert await assert_ledger_consistent(member) == 10


async def test_adjust_refused_for_guide_and_member(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE)
    member = await member_with_points(brand, 10)
    path = f"/admin/members/{member.id}/points-adjustments"
    payload = {"delta": 100, "reason": "please"}
    headers = {"Idempotency-Key": "k"}

    as_guide = await api.post(path, payload, token=staff_token(guide), headers=headers)
    as_member = await api.post(path, payload, token=member_token(member), headers=headers)

    assert as_guide.status == 403
    assert as_member.status == 403
    assert await assert_ledger_consistent(member) == 10


async def test_admin_cannot_adjust_a_member_of_another_brand(api: Api, clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    admin_a = await make_staff(brand=brand_a, role=StaffRole.HQ_ADMIN)
    member_b = await member_with_points(brand_b, 10)

    answer = await api.post(
        f"/admin/members/{member_b.id}/points-adjustments",
        {"delta": 5, "reason": "x"},
        token=staff_token(admin_a),
        headers={"Idempotency-Key": "k"},
    )

    assert answer.status == 404
    assert answer.error_code == "member.not_found"
    assert await assert_ledger_consistent(member_b) == 10


def test_expiry_rule_reads_brand_setting() -> None:
    brand = Brand(settings={"points_expiry_years": 0})
    earned = datetime(2025, 5, 5, tzinfo=UTC)

    assert points.points_expiry_at(brand, earned) == datetime(2026, 1, 1, tzinfo=SHANGHAI)
    assert points.points_expiry_at(Brand(settings={"points_expiry_years": None}), earned) is None
    assert points.points_expiry_at(Brand(settings={}), earned) - timedelta(seconds=1) == datetime(
        2026, 12, 31, 23, 59, 59, tzinfo=SHANGHAI
    )
