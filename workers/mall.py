"""Mall jobs: closing unpaid orders past their brand's timeout, giving their stock, coupons and
points back."""

from __future__ import annotations

from api.core.queue import job, schedule
from api.mall import orders
from config.settings import Settings

MALL_CLOSE_UNPAID = "mall.close_unpaid"


@job(MALL_CLOSE_UNPAID, timeout_s=300)
async def close_unpaid_orders() -> dict[str, int]:
    """Close unpaid orders past their brand's timeout (safe to run twice)."""
    return {"orders_closed": await orders.close_expired_orders()}


def register(settings: Settings) -> None:
    """Every minute: an order is closed within a minute of its timeout."""
    schedule(MALL_CLOSE_UNPAID, cron="* * * * *")
