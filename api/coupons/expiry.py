"""Expiry: coupons past their window leave the wallet's available list for good."""

from __future__ import annotations

from datetime import datetime

from api.core import ports

from .models import Coupon, CouponState


async def expire_coupons(now: datetime | None = None) -> int:
    """Mark every available coupon whose window has closed expired; how many (safe to rerun).

    A locked coupon is left to its order, which uses or releases it (release expires it then).
    """
    moment = now or ports.clock().now()
    return await Coupon.filter(state=CouponState.AVAILABLE, valid_until__lte=moment).update(
        state=CouponState.EXPIRED
    )
