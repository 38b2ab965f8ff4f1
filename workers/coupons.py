"""Coupon jobs: expiry every few minutes (a coupon leaves the wallet soon after its window),
expiry reminders hourly, admin issues, the points mall's resume sweep, and the outbox handlers
of the gifts, rewards and reminders."""

from __future__ import annotations

from typing import Any

from api.core import outbox
from api.core.queue import job, schedule
from api.coupons import campaigns, expiry, points_mall, rewards
from config.settings import Settings

COUPONS_EXPIRE = "coupons.expire"
COUPONS_REMIND = "coupons.remind_expiry"
POINTS_MALL_RESUME = "coupons.points_mall_resume"


@job(COUPONS_EXPIRE, timeout_s=600)
async def expire_coupons() -> dict[str, int]:
    """Expire every available coupon past its window, in every brand (safe to run twice)."""
    return {"coupons_expired": await expiry.expire_coupons()}


@job(COUPONS_REMIND, timeout_s=600)
async def remind_expiring_coupons() -> dict[str, int]:
    """Queue the reminders of coupons expiring soon, in every brand (safe to run twice)."""
    return {"reminders_queued": await expiry.queue_expiry_reminders()}


@job(campaigns.ISSUE_JOB, timeout_s=3600)
async def issue_to_members(*, issue_id: int) -> dict[str, Any]:
    """Run one admin issue (queued by the API); a rerun issues nobody a second coupon."""
    return await campaigns.run_issue(issue_id=issue_id)


@job(POINTS_MALL_RESUME, timeout_s=300)
async def resume_points_mall_exchanges() -> dict[str, int]:
    """Finish coupon exchanges a crash left between the points spent and the coupon issued."""
    return {"exchanges_resumed": await points_mall.resume_exchanges()}


# The coupon domain's outbox topics: the new member's gift, the payment reward, the reminder.
OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    rewards.NEW_MEMBER_TOPIC: rewards.give_new_member_gift,
    rewards.PAYMENT_REWARD_TOPIC: rewards.give_payment_reward,
    expiry.REMINDER_TOPIC: expiry.send_expiry_reminder,
}


def register(settings: Settings) -> None:
    """Cron times are Asia/Shanghai; reminders hourly, so a coupon is reminded of within the
    hour it enters its brand's reminder window."""
    schedule(COUPONS_EXPIRE, cron="*/10 * * * *")
    schedule(COUPONS_REMIND, cron="17 * * * *")
    schedule(POINTS_MALL_RESUME, cron="*/5 * * * *")
    for topic, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(topic, handler)
