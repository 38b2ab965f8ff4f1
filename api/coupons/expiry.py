"""Expiry: coupons past their window leave the wallet's available list for good, and a member
hears of a coupon a few days before it goes.

The reminder is queued through the outbox (`coupon.expiry_reminder`), one message per coupon,
in the transaction of the guarded update that sets the coupon's `reminded_at`: whichever run
sets it queues the message, every other run (a second worker, a rerun) changes nothing. The
handler sends a subscribe message through the brand's mini-program to the member's OpenID
there; a member without one (an Alipay payer) gets nothing, which is not an error.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from api.core import outbox, ports, wechat
from api.core.clock import to_shanghai
from api.member_center.welcome import mini_program_recipient
from api.org.models import Brand, Status

from .models import Coupon, CouponState

REMINDER_TOPIC = "coupon.expiry_reminder"
# The subscribe-message template a brand configured for the reminder (brand setting
# `coupon_expiry_template_id`); the sandbox accepts any id.
DEFAULT_REMINDER_TEMPLATE_ID = "memberhub-coupon-expiry"
_BATCH = 500


async def expire_coupons(now: datetime | None = None) -> int:
    """Mark every available coupon whose window has closed expired; how many (safe to rerun).

    A locked coupon is left to its order, which uses or releases it (release expires it then).
    """
    moment = now or ports.clock().now()
    return await Coupon.filter(state=CouponState.AVAILABLE, valid_until__lte=moment).update(
        state=CouponState.EXPIRED
    )


async def queue_expiry_reminders(now: datetime | None = None) -> int:
    """Queue one reminder per available coupon expiring within the brand's
    `coupon_expiry_reminder_days`; how many were queued (a rerun queues none twice)."""
    moment = now or ports.clock().now()
    queued = 0
    for brand in await Brand.filter(status=Status.ACTIVE):
        days = int(str(brand.setting("coupon_expiry_reminder_days")))
        if days <= 0:
            continue
        after_id = 0
        while True:
            rows = (
                await Coupon.filter(
                    brand_id=brand.id,
                    state=CouponState.AVAILABLE,
                    reminded_at__isnull=True,
                    valid_until__gt=moment,
                    valid_until__lte=moment + timedelta(days=days),
                    id__gt=after_id,
                )
                .order_by("id")
                .limit(_BATCH)
                .values("id")
            )
            ids = [int(row["id"]) for row in rows]
            for coupon_id in ids:
                queued += await _queue_reminder(brand.id, coupon_id, moment)
            if len(ids) < _BATCH:
                break
            after_id = ids[-1]
    return queued


async def _queue_reminder(brand_id: int, coupon_id: int, now: datetime) -> int:
    """Mark the coupon reminded and queue its message, together; 0 when another run did."""
    async with in_transaction() as db:
        marked = (
            await Coupon.filter(id=coupon_id, state=CouponState.AVAILABLE, reminded_at__isnull=True)
            .using_db(db)
            .update(reminded_at=now)
        )
        if not marked:
            return 0
        await outbox.enqueue(
            topic=REMINDER_TOPIC,
            payload={"brand_id": brand_id, "coupon_id": coupon_id},
            brand_id=brand_id,
            dedupe_key=f"{REMINDER_TOPIC}:{coupon_id}",
            connection=db,
        )
    return 1


async def send_expiry_reminder(payload: dict[str, Any]) -> None:
    """Outbox handler for `coupon.expiry_reminder`: nothing when the coupon was used meanwhile."""
    brand_id, coupon_id = int(payload["brand_id"]), int(payload["coupon_id"])
    coupon = await Coupon.get_or_none(id=coupon_id, brand_id=brand_id).prefetch_related("template")
    brand = await Brand.get_or_none(id=brand_id)
    if coupon is None or brand is None or coupon.state is not CouponState.AVAILABLE:
        return
    recipient = await mini_program_recipient(brand_id=brand_id, member_id=coupon.member_id)
    if recipient is None:
        return
    creds, openid = recipient
    until = to_shanghai(coupon.valid_until)
    await wechat.send_subscribe(
        creds,
        openid=openid,
        template_id=str(
            brand.settings.get("coupon_expiry_template_id") or DEFAULT_REMINDER_TEMPLATE_ID
        ),
        data={
            "thing1": {"value": coupon.template.name[:20]},
            "time2": {"value": f"{until:%Y-%m-%d %H:%M}"},
            "character_string3": {"value": coupon.code},
        },
        page="pages/coupons/index",
    )
