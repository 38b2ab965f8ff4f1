"""A mall order's payment was paid: the order is paid and uses its coupons (called by
`api.payments.effects.on_paid` inside the paid transaction, and for an order that owes
nothing). A pickup order is ready at its store with a 6-digit pickup code."""

from __future__ import annotations

import secrets

from tortoise.backends.base.client import BaseDBAsyncClient

from api.core.ports import clock
from api.coupons import wallet as coupon_wallet
from api.coupons.models import Channel

from .models import Fulfilment, MallOrder, OrderState

_CODE_ATTEMPTS = 20


async def _pickup_code(db: BaseDBAsyncClient, order: MallOrder) -> str:
    """Six digits no other order waiting at the same store holds."""
    code = ""
    for _ in range(_CODE_ATTEMPTS):
        code = f"{secrets.randbelow(10**6):06d}"
        taken = (
            await MallOrder.filter(
                brand_id=order.brand_id,
                store_id=order.store_id,
                pickup_code=code,
                state=OrderState.READY_FOR_PICKUP,
            )
            .using_db(db)
            .exists()
        )
        if not taken:
            break
    return code


async def mark_order_paid(db: BaseDBAsyncClient, *, order_id: int, payment_id: int | None) -> bool:
    """`pending_payment` → paid (delivery) or ready_for_pickup, once, and its coupons used."""
    order = await MallOrder.filter(id=order_id).using_db(db).first()
    if order is None:
        return False
    pickup = order.fulfilment is Fulfilment.PICKUP
    moved = await (
        MallOrder.filter(id=order.id, state=OrderState.PENDING_PAYMENT)
        .using_db(db)
        .update(
            state=OrderState.READY_FOR_PICKUP if pickup else OrderState.PAID,
            paid_at=clock().now(),
            payment_id=payment_id,
            pickup_code=await _pickup_code(db, order) if pickup else None,
        )
    )
    if moved:
        await coupon_wallet.use_order_coupons(
            brand_id=order.brand_id,
            order_ref=f"mall:{order.id}",
            store_id=order.store_id,  # None: online, delivered from central stock
            staff_id=None,
            channel=Channel.MALL,
        )
    return bool(moved)
