"""A paid delivery is shipped, delivered and completed by head office or its store, once each."""

from __future__ import annotations

from api.core.models import AuditLog
from api.mall import orders, paying
from api.mall.models import MallOrder, OrderState
from api.member_center import wallet
from api.org.models import StaffRole
from tests.factories import make_staff, make_store, staff_token
from tests.support.api import Api

from .orders_support import delivery, rich_member
from .support import make_shelf


async def test_a_delivery_moves_paid_shipped_delivered_completed_and_nothing_else(
    api: Api,
) -> None:
    shelf = await make_shelf(points_frozen_days=0)
    member = await rich_member(shelf, points=0)
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member.id, principal_fen=20_000, key="seed"
    )
    order = await orders.create_order(
        brand_id=shelf.brand.id, member_id=member.id, request_key="d", request=delivery(shelf)
    )
    hq = staff_token(await make_staff(brand=shelf.brand, role=StaffRole.HQ_ADMIN))
    manager = staff_token(
        await make_staff(
            brand=shelf.brand,
            role=StaffRole.STORE_MANAGER,
            store=await make_store(brand=shelf.brand),
        )
    )
    path = f"/admin/mall-orders/{order.id}/advance"
    ship = {"to": "shipped", "carrier": "SF", "tracking_no": "SF123"}

    unpaid = await api.post(path, ship, token=hq)
    await paying.pay_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        order_id=order.id,
        provider="wallet",
        client_ip="127.0.0.1",
    )
    early = await api.post(path, {"to": "completed"}, token=hq)
    not_theirs = await api.post(path, ship, token=manager)
    no_tracking = await api.post(path, {"to": "shipped"}, token=hq)
    shipped = await api.post(path, ship, token=hq)
    again = await api.post(path, ship, token=hq)
    delivered = await api.post(path, {"to": "delivered"}, token=hq)
    completed = await api.post(path, {"to": "completed"}, token=hq)

    assert (unpaid.status, unpaid.error_code) == (409, "mall_order.invalid_transition")
    assert (early.status, early.error_code) == (409, "mall_order.invalid_transition")
    assert (not_theirs.status, not_theirs.error_code) == (404, "mall_order.not_found")
    assert (no_tracking.status, no_tracking.error_code) == (422, "request.invalid")
    assert shipped.json["shipping"] == {"carrier": "SF", "tracking_no": "SF123"}
    assert again.status == 200 and again.json["state"] == "shipped"
    assert (delivered.json["state"], completed.json["state"]) == ("delivered", "completed")
    assert (await MallOrder.get(id=order.id)).state is OrderState.COMPLETED
    actions = await AuditLog.filter(target=f"mall_order:{order.id}").order_by("id")
    assert [a.action for a in actions] == [
        "mall_order.shipped",
        "mall_order.delivered",
        "mall_order.completed",
    ]
