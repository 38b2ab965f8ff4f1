"""Coupons at the till: priced by one rule, held by the order that chose them, used when it is
paid, given back when nothing is charged, returned when its payment is refunded in full."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.core.clock import FrozenClock
from api.coupons import wallet
from api.coupons.models import (
    Channel,
    Coupon,
    CouponKind,
    CouponState,
    CouponTemplate,
    OrderCoupon,
)
from api.coupons.pricing import price_coupons
from api.member_center.models import Member
from api.payments import member_code_pay, till
from api.payments.models import Payment, PaymentState, PosOrder, PosOrderState
from config.settings import Settings
from tests.factories import make_member
from tests.payments.till_support import Till, funded_member, make_till, member_code, pay
from tests.support.api import Answer, Api
from tests.support.player import Player

from .support import active_template

pytestmark = pytest.mark.usefixtures("live_url")

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


async def _coupon(till: Till, member: Member, **template_fields: Any) -> Coupon:
    template = await active_template(till.chain.brand, **template_fields)
    issued = await wallet.claim_coupon(
        brand_id=till.brand_id, member_id=member.id, template_id=template.id, request_key=None
    )
    return issued.coupon


async def _order(
    api: Api, till: Till, member: Member, amount_fen: int, *coupons: Coupon, **fields: Any
) -> Answer:
    token = fields.pop("token", till.direct_cashier)
    payload = {
        "store_id": fields.pop("store_id", till.chain.direct_store_id),
        "amount_fen": amount_fen,
        "member_code": await member_code(api, member),
        "coupon_ids": [c.id for c in coupons],
        **fields,
    }
    return await api.post("/pos/orders", payload, token=token)


async def _state(coupon: Coupon) -> tuple[CouponState, str | None]:
    fresh = await Coupon.get(id=coupon.id)
    return fresh.state, fresh.order_ref


# --- the pricing rule -------------------------------------------------------------------------


def _template(**fields: Any) -> CouponTemplate:
    values: dict[str, Any] = {
        "id": 1,
        "brand_id": 1,
        "name": "t",
        "kind": CouponKind.CASH_OFF,
        "value_fen": 1_000,
        "threshold_fen": 0,
        "total_stock": 10,
        "store_ids": [],
        "channels": ["till", "mall"],
        "stacks_with_level_discount": True,
        "stacks_with_coupons": False,
    }
    values.update(fields)
    return CouponTemplate(**values)


def _priced_coupon(coupon_id: int, template: CouponTemplate, **fields: Any) -> Coupon:
    values: dict[str, Any] = {
        "id": coupon_id,
        "brand_id": 1,
        "member_id": 1,
        "template_id": template.id,
        "code": f"C{coupon_id:011d}",
        "key": str(coupon_id),
        "source": "claim",
        "state": CouponState.AVAILABLE,
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=1),
    }
    values.update(fields)
    return Coupon(**values)


def _price(
    *templates: CouponTemplate, amount: int, pct: int = 100, channel: Channel = Channel.TILL
) -> tuple[list[tuple[str | None, int]], int, bool]:
    chosen = [(i, _priced_coupon(i, t), t) for i, t in enumerate(templates, start=1)]
    priced = price_coupons(
        coupons=chosen,
        store_id=5,
        channel=channel,
        amount_fen=amount,
        discount_pct=pct,
        delivery_fee_fen=800,
        now=NOW,
    )
    lines = [(line.reason, line.discount_fen) for line in priced.lines]
    return lines, priced.payable_fen, priced.level_applied


def test_cash_off_applies_from_its_threshold_and_never_below_zero() -> None:
    ten_off_100 = _template(value_fen=1_000, threshold_fen=10_000)
    ten_off_any = _template(value_fen=1_000)

    assert _price(ten_off_100, amount=10_000) == ([(None, 1_000)], 9_000, True)
    assert _price(ten_off_100, amount=9_999) == ([("coupon.below_threshold", 0)], 9_999, True)
    assert _price(ten_off_any, amount=600) == ([(None, 600)], 0, True)


def test_percent_off_rounds_the_payable_half_up_and_is_capped() -> None:
    fifteen = _template(kind=CouponKind.PERCENT_OFF, value_fen=None, percent_off=15)
    capped = _template(kind=CouponKind.PERCENT_OFF, value_fen=None, percent_off=50, cap_fen=2_000)

    # 85 % of 999 is 849.15: pays 849, 150 off
    assert _price(fifteen, amount=999) == ([(None, 150)], 849, True)
    assert _price(capped, amount=10_000) == ([(None, 2_000)], 8_000, True)


def test_free_delivery_takes_the_delivery_fee_in_the_mall_only_and_a_gift_nothing() -> None:
    delivery = _template(kind=CouponKind.FREE_DELIVERY, value_fen=None)
    gift = _template(kind=CouponKind.GIFT, value_fen=None, gift_name="咖啡")

    assert _price(delivery, amount=5_000, channel=Channel.MALL) == ([(None, 800)], 4_200, True)
    assert _price(delivery, amount=5_000) == ([(None, 0)], 5_000, True)
    assert _price(gift, amount=5_000) == ([(None, 0)], 5_000, True)


def test_a_coupon_not_stacking_with_the_level_prices_the_order_on_its_list_amount() -> None:
    stacks = _template(value_fen=1_000, stacks_with_level_discount=True)
    alone = _template(value_fen=1_000, stacks_with_level_discount=False)

    # the level (90 %) and the coupon: 9 000 - 1 000; without the level: 10 000 - 1 000
    assert _price(stacks, amount=10_000, pct=90) == ([(None, 1_000)], 8_000, True)
    assert _price(alone, amount=10_000, pct=90) == ([(None, 1_000)], 9_000, False)
    # the threshold is checked against what the coupon prices on
    high = _template(value_fen=1_000, threshold_fen=10_000)
    assert _price(high, amount=10_000, pct=90)[0] == [("coupon.below_threshold", 0)]


def test_two_coupons_only_when_both_stack_with_coupons() -> None:
    a = _template(id=1, value_fen=1_000, stacks_with_coupons=True)
    b = _template(id=2, value_fen=500, stacks_with_coupons=True)
    lone = _template(id=3, value_fen=500, stacks_with_coupons=False)

    assert _price(a, b, amount=10_000) == ([(None, 1_000), (None, 500)], 8_500, True)
    assert _price(a, lone, amount=10_000) == (
        [("coupon.does_not_stack", 0), ("coupon.does_not_stack", 0)],
        10_000,
        True,
    )
    # together they never take off more than the order
    assert _price(a, b, amount=1_200) == ([(None, 1_000), (None, 200)], 0, True)


def test_store_channel_and_window_are_checked_per_coupon() -> None:
    elsewhere = _template(store_ids=[6, 7])
    mall_only = _template(channels=["mall"])
    later = _template()
    chosen = [
        (1, _priced_coupon(1, elsewhere), elsewhere),
        (2, _priced_coupon(2, mall_only), mall_only),
        (3, _priced_coupon(3, later, valid_from=NOW + timedelta(hours=1)), later),
        (4, _priced_coupon(4, later, valid_until=NOW), later),
        (5, _priced_coupon(5, later, state=CouponState.USED), later),
        (6, None, None),
    ]

    priced = price_coupons(coupons=chosen, store_id=5, channel=Channel.TILL, amount_fen=1, now=NOW)

    assert [line.reason for line in priced.lines] == [
        "coupon.not_valid_in_store",
        "coupon.channel_not_allowed",
        "coupon.not_started",
        "coupon.expired",
        "coupon.already_used",
        "coupon.not_found",
    ]
    assert priced.payable_fen == 1


# --- ringing up with coupons ------------------------------------------------------------------


async def test_an_order_with_a_coupon_holds_it_and_paying_uses_it_where_and_by_whom(
    api: Api, player: Player
) -> None:
    # given a gold member (95 %) with a coupon that stacks with the level
    t = await make_till()
    member = await funded_member(t, discount_pct=95)
    coupon = await _coupon(t, member, value_fen=1_000, stacks_with_level_discount=True)

    # when the cashier rings up 120 yuan with it and the payer's code pays
    ordered = await _order(api, t, member, 12_000, coupon)
    held = await _state(coupon)
    paid = await pay(
        api,
        t.direct_cashier,
        ordered.json["id"],
        "alipay_code",
        await player.payment_code("alipay"),
    )

    # then the order took off the level and the coupon, and the coupon is used, recorded
    assert ordered.status == 201, ordered
    body = ordered.json
    assert (body["discount_pct"], body["payable_fen"], body["discount_fen"]) == (95, 10_400, 1_600)
    assert body["coupons"] == [{"coupon_id": coupon.id, "discount_fen": 1_000}]
    assert body["coupon_discount_fen"] == 1_000
    assert held == (CouponState.LOCKED, f"pos:{body['id']}")
    assert paid.status == 200, paid
    assert (await Payment.get(id=paid.json["payment_id"])).amount_fen == 10_400
    used = await Coupon.get(id=coupon.id)
    assert used.state == CouponState.USED and used.used_at is not None
    assert (used.used_store_id, used.used_channel, used.discount_fen) == (
        t.chain.direct_store_id,
        "till",
        1_000,
    )
    assert used.used_staff_id == (await PosOrder.get(id=body["id"])).staff_id


async def test_a_coupon_not_stacking_with_the_level_drops_the_level_discount(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, discount_pct=90)
    coupon = await _coupon(t, member, value_fen=1_500, stacks_with_level_discount=False)

    ordered = await _order(api, t, member, 10_000, coupon)

    assert ordered.status == 201, ordered
    assert (ordered.json["discount_pct"], ordered.json["payable_fen"]) == (100, 8_500)


async def test_two_coupons_stack_only_when_both_allow_it(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t)
    a = await _coupon(t, member, value_fen=1_000, threshold_fen=0, stacks_with_coupons=True)
    b = await _coupon(t, member, value_fen=500, threshold_fen=0, stacks_with_coupons=True)
    lone = await _coupon(t, member, value_fen=500, threshold_fen=0)

    both = await _order(api, t, member, 5_000, a, b)
    refused = await _order(api, t, member, 5_000, lone, await _coupon(t, member, threshold_fen=0))

    assert both.status == 201, both
    assert both.json["payable_fen"] == 3_500
    assert (refused.status, refused.error_code) == (409, "coupon.does_not_stack")
    assert await _state(lone) == (CouponState.AVAILABLE, None)


async def test_coupons_refused_at_the_till_change_nothing(api: Api) -> None:
    # given coupons the till must refuse, one of each kind
    t = await make_till()
    member = await funded_member(t)
    other = await make_member(brand=t.chain.brand)
    franchise_only = await _coupon(t, member, store_ids=[t.chain.franchise_store_id])
    mall_only = await _coupon(t, member, channels=["mall"])
    above = await _coupon(t, member, threshold_fen=50_000, value_fen=1_000)
    theirs = await _coupon(t, other)
    fine = await _coupon(t, member)
    code = await member_code(api, member)

    # when the cashier rings each of them up
    answers = [
        await _order(api, t, member, 20_000, franchise_only),
        await _order(api, t, member, 20_000, mall_only),
        await _order(api, t, member, 20_000, above),
        await _order(api, t, member, 20_000, theirs),
        await _order(api, t, member, 20_000, fine, fine),
        await api.post(
            "/pos/orders",
            {"store_id": t.chain.direct_store_id, "amount_fen": 20_000, "coupon_ids": [fine.id]},
            token=t.direct_cashier,
        ),
        await api.post(
            "/pos/orders",
            {
                "store_id": t.chain.direct_store_id,
                "amount_fen": 20_000,
                "member_code": code,
                "coupon_ids": [0],
            },
            token=t.direct_cashier,
        ),
    ]

    # then each is refused with its code, and no order is kept, no coupon held
    assert [(a.status, a.error_code) for a in answers] == [
        (409, "coupon.not_valid_in_store"),
        (409, "coupon.channel_not_allowed"),
        (409, "coupon.below_threshold"),
        (404, "coupon.not_found"),
        (422, "coupon.listed_twice"),
        (422, "coupon.member_required"),
        (422, "request.invalid"),
    ]
    assert await PosOrder.all().count() == 0
    assert await OrderCoupon.all().count() == 0
    assert await Coupon.filter(state=CouponState.AVAILABLE).count() == 5
    # and the franchise store's own till takes the franchise coupon
    there = await _order(
        api,
        t,
        member,
        20_000,
        franchise_only,
        store_id=t.chain.franchise_store_id,
        token=t.franchise_cashier,
    )
    assert there.status == 201, there


async def test_20_orders_choosing_one_coupon_at_once_one_holds_it(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    codes = [await member_code(api, member) for _ in range(20)]

    answers = await asyncio.gather(
        *(
            api.post(
                "/pos/orders",
                {
                    "store_id": t.chain.direct_store_id,
                    "amount_fen": 20_000,
                    "member_code": code,
                    "coupon_ids": [coupon.id],
                },
                token=t.direct_cashier,
            )
            for code in codes
        )
    )

    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [409] * 19, statuses
    assert {a.error_code for a in answers if a.status == 409} == {"coupon.locked_by_another_order"}
    winner = next(a for a in answers if a.status == 201)
    assert await PosOrder.all().count() == 1
    assert await OrderCoupon.all().count() == 1
    assert await _state(coupon) == (CouponState.LOCKED, f"pos:{winner.json['id']}")


# --- released, used, returned -----------------------------------------------------------------


async def test_cancelling_the_order_gives_the_coupon_back_once(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    ordered = await _order(api, t, member, 20_000, coupon)

    cancel = [
        await api.post(f"/pos/orders/{ordered.json['id']}/cancel", token=t.direct_cashier)
        for _ in range(2)
    ]
    again = await _order(api, t, member, 20_000, coupon)

    assert [c.status for c in cancel] == [200, 200]
    assert cancel[0].json["state"] == "cancelled"
    assert again.status == 201, again
    assert await _state(coupon) == (CouponState.LOCKED, f"pos:{again.json['id']}")


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
async def test_a_declined_code_gives_the_coupon_back_and_the_next_attempt_holds_it_again(
    api: Api, player: Player, provider: str
) -> None:
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]

    declined = await pay(
        api,
        t.direct_cashier,
        order_id,
        f"{provider}_code",
        await player.payment_code(provider, behaviour="fail"),
    )
    between = await _state(coupon)
    paid = await pay(
        api, t.direct_cashier, order_id, f"{provider}_code", await player.payment_code(provider)
    )

    assert (declined.status, declined.error_code) == (409, "pos_order.payment_failed")
    assert between == (CouponState.AVAILABLE, None)
    assert paid.status == 200, paid
    assert paid.json["payable_fen"] == 19_000
    assert await _state(coupon) == (CouponState.USED, f"pos:{order_id}")


async def test_a_coupon_used_elsewhere_between_attempts_stops_the_next_one(
    api: Api, player: Player
) -> None:
    # given an order whose first attempt was declined, so its coupon went back
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]
    await pay(
        api,
        t.direct_cashier,
        order_id,
        "wechat_code",
        await player.payment_code("wechat", behaviour="fail"),
    )
    # and another order used it meanwhile
    rival = await _order(api, t, member, 20_000, coupon)
    await pay(
        api, t.direct_cashier, rival.json["id"], "wechat_code", await player.payment_code("wechat")
    )

    # when the first order is paid again
    answer = await pay(
        api, t.direct_cashier, order_id, "wechat_code", await player.payment_code("wechat")
    )

    # then nothing is charged: the order stays open, the coupon stays the rival's
    assert (answer.status, answer.error_code) == (409, "coupon.already_used"), answer
    order = await PosOrder.get(id=order_id)
    assert (order.state, order.last_error) == (PosOrderState.OPEN, "coupon.already_used")
    assert await Payment.filter(state=PaymentState.PAID).count() == 1
    assert await _state(coupon) == (CouponState.USED, f"pos:{rival.json['id']}")


async def test_a_reversed_payment_gives_the_coupon_back(
    api: Api, player: Player, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "till_code_wait_s", 1.0)
    monkeypatch.setattr(settings, "till_code_poll_s", 0.1)
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]
    stuck = await player.payment_code("wechat", behaviour="userpaying", confirm_after_s=None)

    answer = await pay(api, t.direct_cashier, order_id, "wechat_code", stuck)

    assert (answer.status, answer.error_code) == (409, "pos_order.payer_timeout")
    assert await _state(coupon) == (CouponState.AVAILABLE, None)


async def test_an_unconfirmed_member_code_payment_that_expires_gives_the_coupon_back(
    api: Api, clock: FrozenClock
) -> None:
    t = await make_till(settings={"member_code_pay_confirm_above_fen": 0})
    member = await funded_member(t, wallet_fen=50_000)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]
    waiting = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member)
    )
    held = await _state(coupon)
    clock.advance(minutes=31)

    closed = await member_code_pay.close_unconfirmed()

    assert waiting.status == 202, waiting
    assert held == (CouponState.LOCKED, f"pos:{order_id}")
    assert closed == 1
    assert await _state(coupon) == (CouponState.AVAILABLE, None)


async def test_paying_twice_with_one_key_uses_the_coupon_once(api: Api, player: Player) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=50_000)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]

    first = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member), key="k"
    )
    used_at = (await Coupon.get(id=coupon.id)).used_at
    replay = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member), key="k"
    )

    assert first.status == 200 and replay.status == 200
    assert (await Coupon.get(id=coupon.id)).used_at == used_at
    assert await Payment.filter(state=PaymentState.PAID).count() == 1


async def test_a_paid_order_whose_coupons_a_crash_left_held_uses_them_when_looked_at(
    api: Api,
) -> None:
    # given an order moved to paid by a process that died before its coupons moved
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]
    await PosOrder.filter(id=order_id).update(state=PosOrderState.PAID)

    # when the till looks at the order
    polled = await api.get(f"/pos/orders/{order_id}", token=t.direct_cashier)

    # then the coupon is used, as the paid path would have left it
    assert polled.status == 200, polled
    used = await Coupon.get(id=coupon.id)
    assert (used.state, used.used_channel, used.discount_fen) == (CouponState.USED, "till", 1_000)


async def _paid_by_wallet(api: Api, till: Till, member: Member, coupon: Coupon) -> Payment:
    order_id = (await _order(api, till, member, 20_000, coupon)).json["id"]
    paid = await pay(
        api, till.direct_cashier, order_id, "member_code", await member_code(api, member)
    )
    assert paid.status == 200, paid
    return await Payment.get(id=paid.json["payment_id"])


async def _refund(api: Api, till: Till, payment: Payment, **fields: Any) -> Answer:
    return await api.post(
        f"/admin/payments/{payment.id}/refunds",
        {"reason": "顾客退货", **fields},
        token=till.hq_admin,
    )


async def test_a_full_refund_returns_the_coupon_once_and_a_partial_one_does_not(
    api: Api,
) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=100_000)
    coupon = await _coupon(t, member)
    payment = await _paid_by_wallet(api, t, member, coupon)

    partial = await _refund(api, t, payment, amount_fen=5_000, out_refund_no="R1")
    after_partial = await _state(coupon)
    rest = await _refund(api, t, payment, out_refund_no="R2")
    again = await _refund(api, t, payment, out_refund_no="R2")

    assert partial.status == 201 and rest.status == 201, (partial, rest)
    assert again.status == 200
    assert after_partial[0] == CouponState.USED
    returned = await Coupon.get(id=coupon.id)
    assert (returned.state, returned.order_ref, returned.used_at) == (
        CouponState.AVAILABLE,
        None,
        None,
    )
    assert (returned.used_store_id, returned.discount_fen) == (None, 0)
    # and the member may use it again
    other = await _order(api, t, member, 20_000, coupon)
    assert other.status == 201, other


async def test_20_full_refunds_at_once_return_the_coupon_once(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=100_000)
    coupon = await _coupon(t, member)
    payment = await _paid_by_wallet(api, t, member, coupon)

    answers = await asyncio.gather(
        *(_refund(api, t, payment, out_refund_no=f"R{i}") for i in range(20))
    )

    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [409] * 19, statuses
    assert await _state(coupon) == (CouponState.AVAILABLE, None)
    assert (await Payment.get(id=payment.id)).state == PaymentState.REFUNDED


async def test_20_pays_at_once_charge_once_and_use_the_coupon_once(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=100_000)
    coupon = await _coupon(t, member)
    order_id = (await _order(api, t, member, 20_000, coupon)).json["id"]
    codes = [await member_code(api, member) for _ in range(20)]

    answers = await asyncio.gather(
        *(pay(api, t.direct_cashier, order_id, "member_code", code) for code in codes)
    )

    assert sorted(a.status for a in answers) == [200] + [409] * 19
    assert await Payment.filter(state=PaymentState.PAID).count() == 1
    used = await Coupon.get(id=coupon.id)
    assert (used.state, used.order_ref) == (CouponState.USED, f"pos:{order_id}")


async def test_a_coupon_whose_window_closed_comes_back_from_a_refund_expired(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=100_000)
    coupon = await _coupon(t, member)
    payment = await _paid_by_wallet(api, t, member, coupon)
    await Coupon.filter(id=coupon.id).update(valid_until=datetime.now(UTC) - timedelta(seconds=1))

    refunded = await _refund(api, t, payment)

    assert refunded.status == 201, refunded
    assert await _state(coupon) == (CouponState.EXPIRED, None)


async def test_a_bad_refund_returns_nothing(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=100_000)
    coupon = await _coupon(t, member)
    payment = await _paid_by_wallet(api, t, member, coupon)

    too_much = await _refund(api, t, payment, amount_fen=20_000)

    assert (too_much.status, too_much.error_code) == (409, "refund.exceeds")
    assert (await _state(coupon))[0] == CouponState.USED


# --- the resolve summary ----------------------------------------------------------------------


async def test_the_resolve_lists_the_coupons_usable_at_the_cashiers_store(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t)
    here = await _coupon(t, member, name="here", store_ids=[t.chain.direct_store_id])
    await _coupon(t, member, name="there", store_ids=[t.chain.franchise_store_id])
    await _coupon(t, member, name="online", channels=["mall"])
    anywhere = await _coupon(t, member, name="anywhere")
    used = await _coupon(t, member, name="used")
    await Coupon.filter(id=used.id).update(state=CouponState.USED)

    direct = await api.post(
        "/pos/member-code/resolve", {"code": await member_code(api, member)}, token=t.direct_cashier
    )
    head_office = await api.post(
        "/pos/member-code/resolve", {"code": await member_code(api, member)}, token=t.hq_admin
    )

    assert direct.status == 200, direct
    listed = direct.json["coupons"]
    assert sorted(c["code"] for c in listed) == sorted([here.code, anywhere.code])
    first = next(c for c in listed if c["code"] == here.code)
    assert (first["name"], first["kind"], first["value_fen"], first["threshold_fen"]) == (
        "here",
        "cash_off",
        1_000,
        10_000,
    )
    assert sorted(c["name"] for c in head_office.json["coupons"]) == ["anywhere", "here", "there"]


async def test_an_order_left_unpaid_past_the_payment_timeout_is_cancelled_and_its_coupon_freed(
    api: Api, clock: FrozenClock
) -> None:
    # Given an order holding a coupon, rung up and never paid nor cancelled
    t = await make_till()
    member = await funded_member(t)
    coupon = await _coupon(t, member)
    fresh = await _order(api, t, member, 20_000, coupon)
    stale_coupon = await _coupon(t, member, name="5 off 50", value_fen=500, threshold_fen=5_000)
    stale = await _order(api, t, member, 20_000, stale_coupon)
    assert fresh.status == 201 and stale.status == 201
    await PosOrder.filter(id=stale.json["id"]).update(
        created_at=clock.now() - timedelta(minutes=31)
    )

    # When the sweep runs (twice) with the brand's default 30-minute payment timeout
    swept = [await till.cancel_idle_orders(), await till.cancel_idle_orders()]

    # Then only the stale order is cancelled, and its coupon is back in the wallet
    assert swept == [1, 0]
    assert (await PosOrder.get(id=stale.json["id"])).state == PosOrderState.CANCELLED
    assert (await PosOrder.get(id=fresh.json["id"])).state == PosOrderState.OPEN
    assert await _state(stale_coupon) == (CouponState.AVAILABLE, None)
    assert await _state(coupon) == (CouponState.LOCKED, f"pos:{fresh.json['id']}")
    code = await member_code(api, member)
    paid_late = await pay(api, t.direct_cashier, stale.json["id"], "member_code", code)
    assert paid_late.status == 409 and paid_late.json["error"]["code"] == "pos_order.cancelled"
