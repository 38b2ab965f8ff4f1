"""Coupon schedules: expiry every few minutes, so a coupon leaves the wallet soon after its window."""

from __future__ import annotations

from typing import Any

from api.core import outbox
from api.core.queue import job, schedule
from api.coupons import campaigns, expiry, rewards
from config.settings import Settings

COUPONS_EXPIRE = "coupons.expire"


@job(COUPONS_EXPIRE, timeout_s=600)
async def expire_coupons() -> dict[str, int]:
    """Expire every available coupon past its window, in every brand (safe to run twice)."""
    return {"coupons_expired": await expiry.expire_coupons()}


def register(settings: Settings) -> None:
    """Cron times are Asia/Shanghai."""
    schedule(COUPONS_EXPIRE, cron="*/10 * * * *")
    # The coupon domain's outbox topics (defined below): the new member's gift, the payment reward.
    for topic, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(topic, handler)


@job(campaigns.ISSUE_JOB, timeout_s=3600)
async def issue_to_members(*, issue_id: int) -> dict[str, Any]:
    """Run one admin issue (queued by the API); a rerun issues nobody a second coupon."""
    return await campaigns.run_issue(issue_id=issue_id)


OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    rewards.NEW_MEMBER_TOPIC: rewards.give_new_member_gift,
    rewards.PAYMENT_REWARD_TOPIC: rewards.give_payment_reward,
}
