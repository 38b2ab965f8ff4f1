"""The sales report: paid mall and till sales by day, store, channel and guide."""

from __future__ import annotations

from datetime import timedelta

from api.core.clock import FrozenClock, to_shanghai
from api.mall import orders, paying
from api.member_center import wallet
from api.org.models import StaffRole
from api.payments.models import PosOrder, PosOrderState
from tests.factories import make_staff, make_store, staff_token
from tests.support.api import Api

from .orders_support import delivery, rich_member
from .support import make_shelf


async def test_the_report_adds_mall_and_till_sales_and_a_manager_sees_their_store(
    api: Api, clock: FrozenClock
) -> None:
    shelf = await make_shelf(points_frozen_days=0)
    store = await make_store(brand=shelf.brand)
    guide = await make_staff(brand=shelf.brand, role=StaffRole.GUIDE, store=store, guide_code="G9")
    hq = staff_token(await make_staff(brand=shelf.brand, role=StaffRole.HQ_ADMIN))
    manager = staff_token(
        await make_staff(brand=shelf.brand, role=StaffRole.STORE_MANAGER, store=store)
    )
    member = await rich_member(shelf, points=0)
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member.id, principal_fen=50_000, key="seed"
    )
    for key, guide_code in (("a", "G9"), ("b", "")):
        order = await orders.create_order(
            brand_id=shelf.brand.id,
            member_id=member.id,
            request_key=key,
            request=delivery(shelf, items=[(shelf.shirt.id, 1)], guide_code=guide_code),
        )
        await paying.pay_order(
            brand_id=shelf.brand.id,
            member_id=member.id,
            order_id=order.id,
            provider="wallet",
            client_ip="127.0.0.1",
        )
    now = clock.now()
    # A cash-free visitor's sale at the till, as the till records it once paid.
    await PosOrder.create(
        brand_id=shelf.brand.id,
        store_id=store.id,
        staff_id=guide.id,
        amount_fen=3_000,
        payable_fen=3_000,
        state=PosOrderState.PAID,
        created_at=now,
        paid_at=now,
    )
    today = to_shanghai(now).date()
    span = {"since": today.isoformat(), "until": (today + timedelta(days=1)).isoformat()}

    everything = await api.get("/admin/reports/sales", token=hq, params=span)
    theirs = await api.get("/admin/reports/sales", token=manager, params=span)
    as_csv = await api.get("/admin/reports/sales", token=hq, params={**span, "format": "csv"})
    backwards = await api.get(
        "/admin/reports/sales", token=hq, params={"since": span["until"], "until": span["since"]}
    )

    report = everything.json
    assert (report["orders"], report["amount_fen"], report["average_order_fen"]) == (
        3,
        9_000 + 9_000 + 3_000,
        7_000,
    )
    assert (report["member_orders"], report["member_amount_fen"]) == (2, 18_000)
    assert report["member_share_pct"] == round(100 * 18_000 / 21_000, 2)
    assert {c["channel"]: c["amount_fen"] for c in report["channels"]} == {
        "mall": 18_000,
        "till": 3_000,
    }
    assert {g["guide_id"]: g["orders"] for g in report["guides"]} == {None: 2, guide.id: 1}
    assert {s["store_id"]: s["amount_fen"] for s in report["stores"]} == {
        None: 9_000,
        store.id: 12_000,
    }
    assert (theirs.json["orders"], theirs.json["amount_fen"]) == (2, 12_000)
    assert "channel,mall,2,18000" in as_csv.text
    assert (backwards.status, backwards.error_code) == (422, "request.invalid")
