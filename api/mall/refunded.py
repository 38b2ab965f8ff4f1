"""A mall refund's money went back (called by `api.payments.refunds` inside the transaction
that marks the payment's refund succeeded): its units go back to stock, the points the order
used come back in its share, and the order's last refund returns its coupons, once."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from api.core.ports import clock
from api.coupons import wallet as coupon_wallet
from api.member_center.points import earn_points

from .models import (
    MallOrder,
    MallOrderLine,
    MallRefund,
    OrderState,
    RefundRequestState,
    Sku,
    StoreStock,
)


async def on_refund_succeeded(db: BaseDBAsyncClient, *, out_refund_no: str) -> bool:
    """`approved` → `refunded` and what it gives back, once; False when not a mall refund."""
    refund = await MallRefund.filter(out_refund_no=out_refund_no).using_db(db).first()
    if refund is None:
        return False
    moved = await (
        MallRefund.filter(id=refund.id, state=RefundRequestState.APPROVED)
        .using_db(db)
        .update(state=RefundRequestState.REFUNDED, refunded_at=clock().now())
    )
    if not moved:
        return False
    order = await MallOrder.get(id=refund.order_id, using_db=db)
    quantities = {int(r["line_id"]): int(r["quantity"]) for r in refund.lines}
    lines = await MallOrderLine.filter(id__in=list(quantities)).using_db(db).order_by("sku_id")
    for line in lines:
        if order.store_id is None:
            rows = Sku.filter(id=line.sku_id)
        else:
            rows = StoreStock.filter(sku_id=line.sku_id, store_id=order.store_id)  # type: ignore[assignment]
        await rows.using_db(db).update(stock=F("stock") + quantities[line.id])
    if refund.points:
        await earn_points(
            brand_id=refund.brand_id,
            member_id=order.member_id,
            amount=refund.points,
            key=f"mall_refund:{refund.id}",
            reason=f"mall order {order.id} refunded",
            actor="system",
            connection=db,
        )
    if refund.closes_order:
        await coupon_wallet.return_order_coupons(
            brand_id=refund.brand_id, order_ref=f"mall:{order.id}", connection=db
        )
        await MallOrder.filter(id=order.id).using_db(db).update(state=OrderState.REFUNDED)
    return True
