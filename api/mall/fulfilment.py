"""Moving a paid order on: a delivery is shipped (with its carrier and tracking number), then
delivered; a delivered or picked-up order is completed. Each move is a guarded update from the
states it may come from, audited; repeating the last move answers the order as it is. Shipping
a WeChat Pay order queues the upload of its shipping to WeChat (see `shipping_upload`)."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, NotFound
from api.core.ports import clock
from api.org.scope import StoreScope

from . import shipping_upload
from .error_codes import MallOrderErrorCode
from .models import Fulfilment, MallOrder, OrderState

# The state each move reaches, and the states it may start from.
MOVES: dict[OrderState, tuple[OrderState, ...]] = {
    OrderState.SHIPPED: (OrderState.PAID,),
    OrderState.DELIVERED: (OrderState.SHIPPED,),
    OrderState.COMPLETED: (OrderState.DELIVERED, OrderState.PICKED_UP),
}


async def advance_order(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    order_id: int,
    to: OrderState,
    carrier: str = "",
    tracking_no: str = "",
) -> MallOrder:
    """Move an order to `to` (see the module doc). 404 `mall_order.not_found` (outside the
    caller's stores: a delivery from central stock is head office's); 409
    `mall_order.invalid_transition`."""
    order = await MallOrder.filter(id=order_id, brand_id=brand_id).first()
    if order is None or not scope.allows(order.store_id):
        raise NotFound(MallOrderErrorCode.NOT_FOUND, "No such order.")
    if to is OrderState.SHIPPED and order.fulfilment is not Fulfilment.DELIVERY:
        raise Conflict(MallOrderErrorCode.INVALID_TRANSITION, "A pickup order is not shipped.")
    shipping = {"carrier": carrier, "tracking_no": tracking_no} if to is OrderState.SHIPPED else {}
    async with in_transaction() as db:
        moved = await (
            MallOrder.filter(id=order.id, state__in=MOVES[to])
            .using_db(db)
            .update(
                state=to,
                **({"shipping": shipping, "shipped_at": clock().now()} if shipping else {}),
            )
        )
        if moved:
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action=f"mall_order.{to.value}",
                target=f"mall_order:{order.id}",
                details=shipping,
                connection=db,
            )
            if to is OrderState.SHIPPED:
                await shipping_upload.queue_upload(db, order=order, kind=to.value)
    order = await MallOrder.get(id=order.id)
    if not moved and order.state is not to:
        raise Conflict(
            MallOrderErrorCode.INVALID_TRANSITION,
            f"The order is {order.state.value}; it cannot become {to.value}.",
        )
    return order
