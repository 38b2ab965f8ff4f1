"""Members with points and coupons, and orders made through the service, for the order tests."""

from __future__ import annotations

from typing import Any

from api.coupons.issuing import issue_coupon
from api.coupons.models import Coupon
from api.mall.models import Fulfilment
from api.mall.orders import OrderRequest
from api.member_center.models import Member
from api.member_center.points import earn_points
from tests.coupons.support import active_template

from .support import Shelf, gold_member

ADDRESS = {"name": "张三", "phone": "13800000000", "city": "上海", "detail": "人民路 1 号"}


async def rich_member(shelf: Shelf, *, points: int = 10_000) -> Member:
    member = await gold_member(shelf)
    if points:
        await earn_points(
            brand_id=shelf.brand.id, member_id=member.id, amount=points, key="seed", reason="seed"
        )
    return member


async def coupon_for(shelf: Shelf, member: Member, **template: Any) -> Coupon:
    values: dict[str, Any] = {"stacks_with_level_discount": True, "total_stock": 1_000}
    values.update(template)
    made = await active_template(shelf.brand, **values)
    issued = await issue_coupon(
        brand_id=shelf.brand.id,
        template_id=made.id,
        member_id=member.id,
        source="claim",
        key=f"test:{member.id}:{made.id}",
    )
    return issued.coupon


def delivery(shelf: Shelf, **fields: Any) -> OrderRequest:
    values: dict[str, Any] = {
        "fulfilment": Fulfilment.DELIVERY,
        "items": [(shelf.shirt.id, 1), (shelf.socks.id, 3)],
        "address": ADDRESS,
    }
    values.update(fields)
    return OrderRequest(**values)
