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
    register_reminders(settings)


# Expiry reminders ------------------------------------------------------------------------------

COUPONS_REMIND = "coupons.remind_expiry"


@job(COUPONS_REMIND, timeout_s=600)
async def remind_expiring_coupons() -> dict[str, int]:
    """Queue the reminders of coupons expiring soon, in every brand (safe to run twice)."""
    return {"reminders_queued": await expiry.queue_expiry_reminders()}


def register_reminders(settings: Settings) -> None:
    """Hourly, so a coupon is reminded of within the hour it enters its brand's window."""
    expiry.register_reminder_handler()
    schedule(COUPONS_REMIND, cron="17 * * * *")
