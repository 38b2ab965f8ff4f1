"""After-sale: a refund request approved by the store or head office gives the money back
through the payments service, and with it the units, the points used and, last, the coupons."""

from __future__ import annotations

import asyncio

from api.coupons.models import Coupon, CouponState
from api.mall import orders, paying
from api.mall.models import MallOrder, OrderState, Sku
from api.member_center import wallet
from api.member_center.models import Member
from api.org.models import StaffRole
from api.payments.models import PaymentRefund
from tests.factories import make_staff, make_store, member_token, staff_token
from tests.support.api import Api

from .orders_support import coupon_for, delivery, rich_member
from .support import make_shelf


async def _paid_order(**settings: object):  # type: ignore[no-untyped-def]
    shelf = await make_shelf(points_frozen_days=0, **settings)
    member = await rich_member(shelf)
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member.id, principal_fen=20_000, key="seed"
    )
    coupon = await coupon_for(shelf, member)
    order = await orders.create_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        request_key="r",
        request=delivery(shelf, coupon_ids=(coupon.id,), points_to_use=5_000),
    )
    await paying.pay_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        order_id=order.id,
        provider="wallet",
        client_ip="127.0.0.1",
    )
    hq = staff_token(await make_staff(brand=shelf.brand, role=StaffRole.HQ_ADMIN))
    return shelf, member, coupon, order, hq


async def test_a_partial_then_a_full_refund_give_back_money_units_points_and_coupons(
    api: Api,
) -> None:
    shelf, member, coupon, order, hq = await _paid_order()
    token = member_token(member)
    assert (await Member.get(id=member.id)).points_balance == 5_000 + 74

    asked = await api.post(
        f"/mall/orders/{order.id}/refund",
        {"lines": [{"sku_id": shelf.socks.id, "quantity": 1}], "reason": "too small"},
        token=token,
    )
    approved = await api.post(f"/admin/mall-refunds/{asked.json['id']}/approve", token=hq)
    mid_points = (await Member.get(id=member.id)).points_balance
    mid_coupon = (await Coupon.get(id=coupon.id)).state
    rest = await api.post(
        f"/mall/orders/{order.id}/refund", {"reason": "changed mind"}, token=token
    )
    await api.post(f"/admin/mall-refunds/{rest.json['id']}/approve", token=hq)

    # the socks line pays 2 982 and used 2 015 points for 3 units: one unit is a third of each
    assert (asked.status, asked.json["amount_fen"], asked.json["points"]) == (201, 994, 671)
    assert approved.status == 200 and approved.json["state"] == "refunded", approved
    # 671 used points back, 9 of the 74 earned taken back (74 × 994 / 7 400)
    assert mid_points == 5_074 + 671 - 9
    assert mid_coupon is CouponState.USED
    assert (rest.json["amount_fen"], rest.json["points"]) == (7_400 - 994, 5_000 - 671)
    assert (await MallOrder.get(id=order.id)).state is OrderState.REFUNDED
    assert (await Member.get(id=member.id)).points_balance == 10_000
    assert (await Coupon.get(id=coupon.id)).state is CouponState.AVAILABLE
    assert [s.stock for s in await Sku.all().order_by("id")] == [50, 50]
    balance = await wallet.wallet_balance(brand_id=shelf.brand.id, member_id=member.id)
    assert balance.total_fen == 20_000


async def test_an_approval_twice_at_once_refunds_once(api: Api) -> None:
    _, member, _, order, hq = await _paid_order()
    asked = await api.post(
        f"/mall/orders/{order.id}/refund", {"reason": "x"}, token=member_token(member)
    )
    path = f"/admin/mall-refunds/{asked.json['id']}/approve"

    answers = await asyncio.gather(*(api.post(path, token=hq) for _ in range(5)))

    assert {a.status for a in answers} == {200}, answers
    assert await PaymentRefund.all().count() == 1
    assert (await Member.get(id=member.id)).points_balance == 10_000
    assert [s.stock for s in await Sku.all().order_by("id")] == [50, 50]


async def test_a_rejected_request_frees_its_units_and_more_than_bought_is_refused(
    api: Api,
) -> None:
    shelf, member, _, order, hq = await _paid_order()
    token = member_token(member)
    path = f"/mall/orders/{order.id}/refund"
    socks = {"reason": "x", "lines": [{"sku_id": shelf.socks.id, "quantity": 3}]}

    first = await api.post(path, socks, token=token)
    again = await api.post(path, socks, token=token)
    rejected = await api.post(f"/admin/mall-refunds/{first.json['id']}/reject", token=hq)
    after = await api.post(path, socks, token=token)
    too_many = await api.post(
        path, {"reason": "x", "lines": [{"sku_id": shelf.shirt.id, "quantity": 2}]}, token=token
    )
    no_reason = await api.post(path, {"reason": ""}, token=token)

    assert first.status == 201 and after.status == 201
    assert (again.status, again.error_code) == (409, "mall_refund.too_many")
    assert rejected.json["state"] == "rejected"
    assert (too_many.status, too_many.error_code) == (409, "mall_refund.too_many")
    assert (no_reason.status, no_reason.error_code) == (422, "request.invalid")
    assert await PaymentRefund.all().count() == 0


async def test_a_store_manager_does_not_decide_a_delivery_from_head_office(api: Api) -> None:
    shelf, member, _, order, _ = await _paid_order()
    store = await make_store(brand=shelf.brand)
    manager = staff_token(
        await make_staff(brand=shelf.brand, role=StaffRole.STORE_MANAGER, store=store)
    )
    asked = await api.post(
        f"/mall/orders/{order.id}/refund", {"reason": "x"}, token=member_token(member)
    )

    refused = await api.post(f"/admin/mall-refunds/{asked.json['id']}/approve", token=manager)

    assert (refused.status, refused.error_code) == (404, "mall_refund.not_found")
    assert await PaymentRefund.all().count() == 0
