"""Guide attribution: a share link's guide, else the member's own guide, is credited with the
paid order the moment it is paid, and loses it on refund."""

from __future__ import annotations

from api.mall import after_sale, orders, paying
from api.mall.models import MallOrder
from api.member_center import wallet
from api.member_center.models import RelationSource
from api.member_center.relations import bind_member
from api.org.models import StaffRole
from api.org.scope import StoreScope
from tests.factories import make_staff, make_store, staff_token
from tests.support.api import Api

from .orders_support import delivery, rich_member
from .support import Shelf, make_shelf


async def _pay(shelf: Shelf, member_id: int, order_id: int) -> None:
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member_id, principal_fen=50_000, key=f"s{order_id}"
    )
    await paying.pay_order(
        brand_id=shelf.brand.id,
        member_id=member_id,
        order_id=order_id,
        provider="wallet",
        client_ip="127.0.0.1",
    )


async def test_the_share_links_guide_is_credited_when_paid_and_debited_on_refund(
    api: Api,
) -> None:
    shelf = await make_shelf(points_frozen_days=0)
    store = await make_store(brand=shelf.brand)
    sharer = await make_staff(
        brand=shelf.brand, role=StaffRole.GUIDE, store=store, guide_code="G001"
    )
    own = await make_staff(brand=shelf.brand, role=StaffRole.GUIDE, store=store, guide_code="G002")
    member = await rich_member(shelf, points=0)
    await bind_member(
        brand_id=shelf.brand.id,
        member_id=member.id,
        store_id=store.id,
        guide_id=own.id,
        source=RelationSource.GUIDE_QR,
    )
    shared = await orders.create_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        request_key="a",
        request=delivery(shelf, items=[(shelf.shirt.id, 1)], guide_code="G001"),
    )
    plain = await orders.create_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        request_key="b",
        request=delivery(shelf, items=[(shelf.socks.id, 5)]),
    )

    unpaid = await api.get("/staff/me/performance", token=staff_token(sharer))
    await _pay(shelf, member.id, shared.id)
    await _pay(shelf, member.id, plain.id)
    paid = await api.get("/staff/me/performance", token=staff_token(sharer))
    theirs = await api.get("/staff/me/performance", token=staff_token(own))
    refund = await after_sale.request_refund(
        brand_id=shelf.brand.id, member_id=member.id, order_id=shared.id, reason="x"
    )
    await after_sale.approve_refund(
        brand_id=shelf.brand.id, scope=StoreScope(None), actor="staff:1", refund_id=refund.id
    )
    refunded = await api.get("/staff/me/performance", token=staff_token(sharer))

    assert (await MallOrder.get(id=shared.id)).guide_id == sharer.id
    assert (await MallOrder.get(id=plain.id)).guide_id == own.id
    assert (unpaid.json["attributed_sales_fen"], unpaid.json["attributed_orders"]) == (0, 0)
    assert (paid.json["attributed_sales_fen"], paid.json["attributed_orders"]) == (
        9_000,
        1,
    )  # 8 000 and the 1 000 fee
    assert (theirs.json["attributed_sales_fen"], theirs.json["attributed_orders"]) == (10_000, 1)
    assert refunded.json["attributed_sales_fen"] == 0
