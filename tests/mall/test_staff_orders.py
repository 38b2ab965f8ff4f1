"""The size is missing in store: the guide orders it for the member, delivered from central
stock; the member pays in the mini-program and gets the brand's compensation coupon, and the
guide is credited."""

from __future__ import annotations

from api.core import outbox
from api.coupons.models import Coupon, CouponSource
from api.mall.models import MallOrder
from api.mall.paid import COMPENSATION_TOPIC, give_o2o_compensation
from api.member_center import wallet
from api.org.models import Brand, StaffRole
from tests.coupons.support import active_template
from tests.factories import make_staff, make_store, member_token, staff_token
from tests.support.api import Api

from .orders_support import ADDRESS, rich_member
from .support import make_shelf


async def test_a_guides_order_is_credited_to_them_and_paying_it_gives_the_coupon_once(
    api: Api,
) -> None:
    outbox.register_handler(COMPENSATION_TOPIC, give_o2o_compensation)
    shelf = await make_shelf(points_frozen_days=0)
    template = await active_template(shelf.brand, value_fen=500, threshold_fen=0)
    await Brand.filter(id=shelf.brand.id).update(
        settings={**shelf.brand.settings, "o2o_compensation_template_id": template.id}
    )
    store = await make_store(brand=shelf.brand)
    guide = await make_staff(brand=shelf.brand, role=StaffRole.GUIDE, store=store)
    member = await rich_member(shelf, points=0)
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member.id, principal_fen=20_000, key="seed"
    )
    body = {
        "member_id": member.id,
        "items": [{"sku_id": shelf.shirt.id, "quantity": 1}],
        "address": ADDRESS,
    }
    headers = {"Idempotency-Key": "o2o"}

    created = await api.post("/staff/orders", body, token=staff_token(guide), headers=headers)
    again = await api.post("/staff/orders", body, token=staff_token(guide), headers=headers)
    seen = await api.get("/mall/orders", token=member_token(member))
    paid = await api.post(
        f"/mall/orders/{created.json['id']}/pay", {"provider": "wallet"}, token=member_token(member)
    )
    await outbox.deliver_due()
    await outbox.deliver_due()
    figures = await api.get("/staff/me/performance", token=staff_token(guide))

    assert created.status == 201, created
    assert again.json["id"] == created.json["id"]
    assert created.json["amounts"]["payable_fen"] == 9_000  # gold's 8 000 and the 1 000 fee
    assert [o["id"] for o in seen.json["items"]] == [created.json["id"]]
    assert paid.json["state"] == "paid"
    order = await MallOrder.get(id=created.json["id"])
    assert (order.guide_id, order.attributed_store_id, order.created_by_staff_id) == (
        guide.id,
        store.id,
        guide.id,
    )
    coupons = await Coupon.filter(member_id=member.id, source=CouponSource.COMPENSATION)
    assert [c.template_id for c in coupons] == [template.id]
    assert (figures.json["attributed_sales_fen"], figures.json["attributed_orders"]) == (9_000, 1)


async def test_only_a_stores_guide_or_manager_orders_for_a_member_of_the_brand(api: Api) -> None:
    shelf = await make_shelf()
    store = await make_store(brand=shelf.brand)
    cashier = await make_staff(brand=shelf.brand, role=StaffRole.CASHIER, store=store)
    guide = await make_staff(brand=shelf.brand, role=StaffRole.GUIDE, store=store)
    other = await make_shelf()
    stranger = await rich_member(other, points=0)
    body = {
        "member_id": stranger.id,
        "items": [{"sku_id": shelf.shirt.id, "quantity": 1}],
        "address": ADDRESS,
    }
    headers = {"Idempotency-Key": "x"}

    refused = await api.post("/staff/orders", body, token=staff_token(cashier), headers=headers)
    foreign = await api.post("/staff/orders", body, token=staff_token(guide), headers=headers)

    assert refused.status == 403
    assert (foreign.status, foreign.error_code) == (404, "member.not_found")
    assert await MallOrder.all().count() == 0
