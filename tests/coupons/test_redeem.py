"""Write-off at the counter: staff of a store where the coupon is valid take it by its code,
once, recording who and where; anything else is refused with a stable code and changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from api.coupons import redeem, wallet
from api.coupons.models import Coupon, CouponKind, CouponState
from api.member_center.models import Member
from api.org.models import Brand, StaffRole, Store
from api.org.scope import StoreScope
from api.payments.models import PosOrder
from tests.factories import make_brand, make_member, make_staff, make_store, staff_token
from tests.support.api import Answer, Api

from .support import active_template


async def _coupon(brand: Brand, member: Member, **template_fields: Any) -> Coupon:
    template = await active_template(brand, **template_fields)
    issued = await wallet.claim_coupon(
        brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
    )
    return issued.coupon


async def _redeem(api: Api, token: str, code: str, store: Store, **fields: Any) -> Answer:
    return await api.post(
        "/pos/coupons/redeem", {"coupon_code": code, "store_id": store.id, **fields}, token=token
    )


async def _shop() -> tuple[Brand, Store, Store, Member]:
    brand = await make_brand()
    store = await make_store(brand=brand)
    other = await make_store(brand=brand)
    return brand, store, other, await make_member(brand=brand)


async def _cashier(brand: Brand, store: Store, role: StaffRole = StaffRole.CASHIER) -> str:
    return staff_token(await make_staff(brand=brand, role=role, store=store))


async def test_a_cashier_writes_a_coupon_off_once_and_a_retry_answers_the_same(api: Api) -> None:
    # given a cash-off coupon valid in the cashier's store
    brand, store, _, member = await _shop()
    coupon = await _coupon(brand, member, store_ids=[store.id])
    staff = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    token = staff_token(staff)

    # when the cashier writes it off, and the till retries (lower case, as typed)
    first = await _redeem(api, token, coupon.code, store)
    retry = await _redeem(api, token, coupon.code.lower(), store)

    # then it is used once, with the store, the cashier and its value recorded
    assert first.status == 200, first
    assert retry.status == 200 and retry.json == first.json
    assert first.json["state"] == "used"
    assert (first.json["store_id"], first.json["staff_id"], first.json["channel"]) == (
        store.id,
        staff.id,
        "till",
    )
    used = await Coupon.get(id=coupon.id)
    assert (used.state, used.used_store_id, used.used_staff_id) == (
        CouponState.USED,
        store.id,
        staff.id,
    )
    assert (used.used_channel, used.discount_fen) == ("till", 1_000)
    assert first.json["used_at"] == retry.json["used_at"]


async def test_guides_managers_and_head_office_write_off_a_gift(api: Api) -> None:
    brand, store, _, member = await _shop()
    gifts = [
        await _coupon(brand, member, kind=CouponKind.GIFT, value_fen=None, gift_name="咖啡")
        for _ in range(3)
    ]
    tokens = [
        await _cashier(brand, store, StaffRole.GUIDE),
        await _cashier(brand, store, StaffRole.STORE_MANAGER),
        staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)),
    ]

    answers = [await _redeem(api, tok, c.code, store) for tok, c in zip(tokens, gifts, strict=True)]

    assert [a.status for a in answers] == [200, 200, 200], answers
    assert {(a.json["gift_name"], a.json["discount_fen"]) for a in answers} == {("咖啡", 0)}


async def test_the_counter_refuses_with_stable_codes_and_changes_nothing(api: Api) -> None:
    # given coupons the counter must refuse, one of each kind
    brand, store, other_store, member = await _shop()
    token = await _cashier(brand, store)
    elsewhere = await _coupon(brand, member, store_ids=[other_store.id])
    online = await _coupon(brand, member, channels=["mall"])
    expired = await _coupon(brand, member)
    await Coupon.filter(id=expired.id).update(valid_until=datetime.now(UTC) - timedelta(seconds=1))
    starts = datetime.now(UTC) + timedelta(days=2)
    later = await _coupon(
        brand, member, valid_days=None, valid_from=starts, valid_until=starts + timedelta(days=5)
    )
    used = await _coupon(brand, member)
    assert (await _redeem(api, await _cashier(brand, store), used.code, store)).status == 200
    foreign_brand = await make_brand()
    foreign = await _coupon(foreign_brand, await make_member(brand=foreign_brand))
    held = await _coupon(brand, member)
    await wallet.lock_coupon(brand_id=brand.id, coupon_id=held.id, order_ref="pos:1")
    before = sorted(await Coupon.all().values_list("id", "state", "used_at"))

    # when the cashier tries each
    answers = [
        await _redeem(api, token, elsewhere.code, store),
        await _redeem(api, token, online.code, store),
        await _redeem(api, token, expired.code, store),
        await _redeem(api, token, later.code, store),
        await _redeem(api, token, used.code, store),
        await _redeem(api, token, foreign.code, store),
        await _redeem(api, token, "CAAAAAAAAAAA", store),
        await _redeem(api, token, "681234567890123456", store),
        await _redeem(api, token, held.code, store),
        await _redeem(api, token, elsewhere.code, other_store),  # not the cashier's store
        await _redeem(api, token, elsewhere.code, other_store, order_id=1),
        await api.post("/pos/coupons/redeem", {"coupon_code": elsewhere.code}, token=token),
    ]

    # then each is refused with its code and no coupon moved
    assert [(a.status, a.error_code) for a in answers] == [
        (409, "coupon.not_valid_in_store"),
        (409, "coupon.channel_not_allowed"),
        (409, "coupon.expired"),
        (409, "coupon.not_started"),
        (409, "coupon.already_used"),
        (404, "coupon.not_found"),
        (404, "coupon.not_found"),
        (404, "coupon.not_found"),
        (409, "coupon.locked_by_another_order"),
        (404, "store.not_found"),
        (404, "store.not_found"),
        (422, "request.invalid"),
    ]
    assert sorted(await Coupon.all().values_list("id", "state", "used_at")) == before


async def test_20_write_offs_of_one_coupon_at_once_one_wins(api: Api) -> None:
    brand, store, _, member = await _shop()
    coupon = await _coupon(brand, member)
    tokens = [await _cashier(brand, store) for _ in range(20)]

    answers = await asyncio.gather(*(_redeem(api, tok, coupon.code, store) for tok in tokens))

    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [409] * 19, statuses
    assert {a.error_code for a in answers if a.status == 409} == {"coupon.already_used"}
    winner = next(a for a in answers if a.status == 200)
    used = await Coupon.get(id=coupon.id)
    assert used.used_staff_id == winner.json["staff_id"]


async def test_one_cashier_retrying_20_times_at_once_writes_it_off_once(api: Api) -> None:
    brand, store, _, member = await _shop()
    coupon = await _coupon(brand, member)
    token = await _cashier(brand, store)

    answers = await asyncio.gather(*(_redeem(api, token, coupon.code, store) for _ in range(20)))

    assert [a.status for a in answers] == [200] * 20
    assert len({a.json["used_at"] for a in answers}) == 1
    assert await Coupon.filter(state=CouponState.USED).count() == 1


async def test_against_a_till_order_the_coupon_is_priced_on_it(api: Api) -> None:
    brand, store, _, member = await _shop()
    staff = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    token = staff_token(staff)
    percent = await _coupon(
        brand,
        member,
        kind=CouponKind.PERCENT_OFF,
        value_fen=None,
        percent_off=20,
        cap_fen=3_000,
        threshold_fen=5_000,
    )
    small = await _coupon(brand, member, threshold_fen=10_000)

    async def order(amount_fen: int) -> int:
        created = await PosOrder.create(
            brand_id=brand.id,
            store_id=store.id,
            staff_id=staff.id,
            amount_fen=amount_fen,
            payable_fen=amount_fen,
            created_at=datetime.now(UTC),
        )
        return created.id

    priced = await _redeem(api, token, percent.code, store, order_id=await order(8_000))
    below = await _redeem(api, token, small.code, store, order_id=await order(9_999))
    missing = await _redeem(api, token, small.code, store, order_id=2_147_483_647)

    assert priced.status == 200, priced
    assert priced.json["discount_fen"] == 1_600
    assert (below.status, below.error_code) == (409, "coupon.below_threshold")
    assert (missing.status, missing.error_code) == (404, "pos_order.not_found")
    assert (await Coupon.get(id=small.id)).state == CouponState.AVAILABLE


async def test_the_staff_menu_calls_the_same_service(api: Api) -> None:
    brand, store, _, member = await _shop()
    staff = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store)
    coupon = await _coupon(brand, member)

    done = await redeem.redeem_at_counter(
        brand_id=brand.id,
        scope=StoreScope.stores(store.id),
        staff_id=staff.id,
        store_id=store.id,
        code=coupon.code,
    )
    again = await redeem.redeem_at_counter(
        brand_id=brand.id,
        scope=StoreScope.stores(store.id),
        staff_id=staff.id,
        store_id=store.id,
        code=coupon.code,
    )

    assert (done.replayed, again.replayed) == (False, True)
    assert done.coupon.used_at == again.coupon.used_at
