"""A pickup order is handed over at its store, by that store's staff, once; for a WeChat Pay order
that queues the upload of the pickup to WeChat (see `shipping_upload`)."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from api.core.errors import Conflict, NotFound
from api.core.ports import clock
from api.org.models import Status, Store
from api.org.scope import StoreScope
from api.org.stores import get_store

from . import shipping_upload
from .error_codes import PickupErrorCode
from .models import MallOrder, OrderState


async def pickup_stores(*, brand_id: int) -> list[Store]:
    """The brand's active stores, where a pickup order may be collected, by city and name."""
    return await Store.filter(brand_id=brand_id, status=Status.ACTIVE).order_by(
        "city", "name", "id"
    )


async def verify_pickup(
    *, brand_id: int, scope: StoreScope, store_id: int, pickup_code: str, staff_id: int
) -> MallOrder:
    """Hand a paid pickup order over at its store: `ready_for_pickup` → `picked_up`, once.

    404 `store.not_found` (not the caller's store), `pickup.not_found`; 409
    `pickup.wrong_store` (`details.store_id`), `pickup.already_picked_up`.
    """
    await get_store(brand_id=brand_id, scope=scope, store_id=store_id)
    code = "".join(pickup_code.split())
    candidates = (
        await MallOrder.filter(
            brand_id=brand_id,
            pickup_code=code,
            state__in=(OrderState.READY_FOR_PICKUP, OrderState.PICKED_UP),
        ).order_by("-id")
        if len(code) == 6 and code.isdigit()
        else []
    )
    if not candidates:
        raise NotFound(PickupErrorCode.NOT_FOUND, "No order waits with this pickup code.")
    here = [o for o in candidates if o.store_id == store_id]
    if not here:
        raise Conflict(
            PickupErrorCode.WRONG_STORE,
            "This order is picked up at another store.",
            details={"store_id": candidates[0].store_id},
        )
    waiting = [o for o in here if o.state is OrderState.READY_FOR_PICKUP]
    order = waiting[0] if waiting else here[0]
    async with in_transaction() as db:
        moved = await (
            MallOrder.filter(id=order.id, state=OrderState.READY_FOR_PICKUP)
            .using_db(db)
            .update(
                state=OrderState.PICKED_UP, picked_up_at=clock().now(), picked_up_staff_id=staff_id
            )
        )
        if moved:
            await shipping_upload.queue_upload(db, order=order, kind=OrderState.PICKED_UP.value)
    order = await MallOrder.get(id=order.id)
    if not moved:
        raise Conflict(
            PickupErrorCode.ALREADY_PICKED_UP,
            "This order was already picked up.",
            details={"picked_up_at": order.picked_up_at and order.picked_up_at.isoformat()},
        )
    return order
