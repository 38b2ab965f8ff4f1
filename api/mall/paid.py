"""A mall order's payment was paid: the order is paid and uses its coupons (called by
`api.payments.effects.on_paid` inside the paid transaction, and for an order that owes
nothing). A pickup order is ready at its store with a 6-digit pickup code. A guide's order
(the size missing in store) queues the brand's compensation coupon for the member."""

from __future__ import annotations

import secrets
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.core import outbox
from api.core.ports import clock
from api.coupons import wallet as coupon_wallet
from api.coupons.models import Channel
from api.coupons.rewards import compensate
from api.org.models import Brand

from .models import Fulfilment, MallOrder, OrderState

_CODE_ATTEMPTS = 20
COMPENSATION_TOPIC = "mall.o2o_compensation"


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
    if moved and order.created_by_staff_id is not None:
        brand = await Brand.get(id=order.brand_id, using_db=db)
        template_id = brand.setting("o2o_compensation_template_id")
        if template_id:
            await outbox.enqueue(
                topic=COMPENSATION_TOPIC,
                brand_id=order.brand_id,
                dedupe_key=f"{COMPENSATION_TOPIC}:{order.id}",
                payload={
                    "brand_id": order.brand_id,
                    "member_id": order.member_id,
                    "order_id": order.id,
                    "template_id": int(template_id),  # type: ignore[call-overload]
                },
                connection=db,
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


async def give_o2o_compensation(payload: dict[str, Any]) -> None:
    """Outbox handler: the compensation coupon of a paid guide's order, once per order."""
    await compensate(
        brand_id=int(payload["brand_id"]),
        member_id=int(payload["member_id"]),
        template_id=int(payload["template_id"]),
        key=f"mall_o2o:{payload['order_id']}",
        reason=f"mall order {payload['order_id']} delivered for a size missing in store",
    )
