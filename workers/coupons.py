"""Coupon schedules: expiry every few minutes, so a coupon leaves the wallet soon after its window."""

from __future__ import annotations

from api.core.queue import job, schedule
from api.coupons import expiry
from config.settings import Settings

COUPONS_EXPIRE = "coupons.expire"


@job(COUPONS_EXPIRE, timeout_s=600)
async def expire_coupons() -> dict[str, int]:
    """Expire every available coupon past its window, in every brand (safe to run twice)."""
    return {"coupons_expired": await expiry.expire_coupons()}


def register(settings: Settings) -> None:
    """Cron times are Asia/Shanghai."""
    schedule(COUPONS_EXPIRE, cron="*/10 * * * *")
