"""Guide attribution: an order is credited to the guide of the share link it came through
(`guide_code`, an active guide of the brand), else to the member's own guide and store (their
current relation); a guide's figures count paid orders less what was refunded of them."""

from __future__ import annotations

from datetime import datetime

from api.member_center.models import MemberRelation
from api.org.models import Staff, StaffRole, Status

from .models import MallOrder, MallRefund, OrderState, RefundRequestState

PAID_STATES = (
    OrderState.PAID,
    OrderState.SHIPPED,
    OrderState.DELIVERED,
    OrderState.READY_FOR_PICKUP,
    OrderState.PICKED_UP,
    OrderState.COMPLETED,
    OrderState.REFUNDED,
)


async def attribute_order(
    *, brand_id: int, member_id: int, guide_code: str
) -> tuple[int | None, int | None]:
    """(guide id, store id) an order is credited to (see the module doc)."""
    if guide_code:
        guide = await Staff.filter(
            brand_id=brand_id, guide_code=guide_code, role=StaffRole.GUIDE, status=Status.ACTIVE
        ).first()
        if guide is not None:
            return guide.id, guide.store_id
    relation = await MemberRelation.filter(
        brand_id=brand_id, member_id=member_id, ended_at__isnull=True
    ).first()
    if relation is None:
        return None, None
    return relation.guide_id, relation.store_id


async def attributed_mall_sales(
    *, brand_id: int, guide_id: int | None, store_id: int | None, since: datetime | None
) -> tuple[int, int]:
    """Paid fen less refunds, and paid orders, credited to a guide (or a store) since then."""
    orders = MallOrder.filter(brand_id=brand_id, state__in=PAID_STATES)
    if guide_id is not None:
        orders = orders.filter(guide_id=guide_id)
    else:
        orders = orders.filter(attributed_store_id=store_id)
    if since is not None:
        orders = orders.filter(paid_at__gte=since)
    rows = await orders.values("id", "payable_fen")
    refunded = await MallRefund.filter(
        order_id__in=[row["id"] for row in rows], state=RefundRequestState.REFUNDED
    ).values("amount_fen")
    paid_fen = sum(int(row["payable_fen"]) for row in rows)
    return paid_fen - sum(int(row["amount_fen"]) for row in refunded), len(rows)
