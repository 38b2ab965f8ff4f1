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


POINTS_MALL_RESUME = "coupons.points_mall_resume"


@job(POINTS_MALL_RESUME, timeout_s=300)
async def resume_points_mall_exchanges() -> dict[str, int]:
    """Finish coupon exchanges a crash left between the points spent and the coupon issued."""
    from api.coupons import points_mall

    return {"exchanges_resumed": await points_mall.resume_exchanges()}
