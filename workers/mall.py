"""Mall jobs: closing unpaid orders past their brand's timeout, giving their stock, coupons and
points back."""

from __future__ import annotations

from api.core import outbox
from api.core.queue import job, schedule
from api.mall import orders, paid, shipping_upload
from config.settings import Settings

MALL_CLOSE_UNPAID = "mall.close_unpaid"


@job(MALL_CLOSE_UNPAID, timeout_s=300)
async def close_unpaid_orders() -> dict[str, int]:
    """Close unpaid orders past their brand's timeout (safe to run twice)."""
    return {"orders_closed": await orders.close_expired_orders()}


# The mall's outbox topics: the compensation coupon of a paid guide's order, the upload of a
# WeChat Pay order's shipping to WeChat.
OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    paid.COMPENSATION_TOPIC: paid.give_o2o_compensation,
    shipping_upload.UPLOAD_TOPIC: shipping_upload.upload_shipping,
}


def register(settings: Settings) -> None:
    """Every minute: an order is closed within a minute of its timeout."""
    schedule(MALL_CLOSE_UNPAID, cron="* * * * *")
    for topic, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(topic, handler)
