"""Write-off at the counter: staff of a store take a coupon by its code (the member shows the QR
or reads the code out), for a gift handed over or money taken off at the counter.

The same service answers the till's `POST /pos/coupons/redeem` and the official account's staff
menu. The coupon must be valid in that store and channel `till` (the counter is the store's),
available and within its window. One guarded update (`available → used`) writes it off: of any
number of write-offs of one coupon at once exactly one wins. The same staff member writing the
same coupon off at the same store again is answered the first write-off, unchanged (a retry
after a lost answer); anyone else is refused `coupon.already_used`.

What it takes off (recorded for settlement): with a till order named, the coupon is priced on
that order (its threshold checked against the order's amount, as at the till); without one,
a cash-off coupon records its value, a percent-off or free-delivery one 0 (no amount is
known), a gift 0 (the gift itself is what was given).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.core import ports
from api.core.errors import Conflict, NotFound
from api.org.scope import StoreScope
from api.org.stores import get_store
from api.payments.error_codes import PosOrderErrorCode
from api.payments.models import PosOrder

from . import pricing
from .error_codes import CouponErrorCode
from .issuing import is_coupon_code
from .models import Channel, Coupon, CouponKind, CouponState, CouponTemplate

MESSAGES = {
    CouponErrorCode.NOT_VALID_IN_STORE: "This coupon cannot be used in this store.",
    CouponErrorCode.CHANNEL_NOT_ALLOWED: "This coupon cannot be used in stores.",
    CouponErrorCode.BELOW_THRESHOLD: "The order does not reach this coupon's threshold.",
    CouponErrorCode.EXPIRED: "This coupon has expired.",
    CouponErrorCode.NOT_STARTED: "This coupon is not valid yet.",
    CouponErrorCode.ALREADY_USED: "This coupon was already used.",
    CouponErrorCode.LOCKED_BY_ANOTHER_ORDER: "This coupon is held by an order.",
    CouponErrorCode.NOT_AVAILABLE: "This coupon cannot be used.",
}


@dataclass(frozen=True)
class Redeemed:
    """A coupon written off, and whether this call wrote it off or repeated a write-off."""

    coupon: Coupon
    template: CouponTemplate
    replayed: bool


def counter_ref(*, store_id: int, staff_id: int, order_id: int | None) -> str:
    """How a write-off at the counter names itself on the coupon."""
    return f"counter:{store_id}:{staff_id}:{order_id or '-'}"


def _refuse(reason: str) -> Conflict:
    return Conflict(reason, MESSAGES.get(CouponErrorCode(reason), "This coupon cannot be used."))


def _same_write_off(coupon: Coupon, *, store_id: int, staff_id: int) -> bool:
    return (
        coupon.state is CouponState.USED
        and coupon.used_channel == Channel.TILL.value
        and coupon.used_store_id == store_id
        and coupon.used_staff_id == staff_id
        and (coupon.order_ref or "").startswith("counter:")
    )


async def _find(brand_id: int, code: str) -> Coupon:
    code = code.strip().upper()
    coupon = None
    if is_coupon_code(code):
        coupon = (
            await Coupon.filter(code=code, brand_id=brand_id).prefetch_related("template").first()
        )
    if coupon is None:
        raise NotFound(CouponErrorCode.NOT_FOUND, "No such coupon.")
    return coupon


async def redeem_at_counter(
    *,
    brand_id: int,
    scope: StoreScope,
    staff_id: int,
    store_id: int,
    code: str,
    order_id: int | None = None,
) -> Redeemed:
    """Write a coupon off at a store in scope by its code, once (see the module doc).

    404 `coupon.not_found`, `store.not_found`, `pos_order.not_found`; 409
    `coupon.not_valid_in_store`, `coupon.channel_not_allowed`, `coupon.expired`,
    `coupon.not_started`, `coupon.already_used`, `coupon.locked_by_another_order`,
    `coupon.not_available`, `coupon.below_threshold` (with an order).
    """
    store = await get_store(brand_id=brand_id, scope=scope, store_id=store_id)
    coupon = await _find(brand_id, code)
    template = coupon.template
    order = None
    if order_id is not None:
        order = await PosOrder.get_or_none(id=order_id, brand_id=brand_id, store_id=store.id)
        if order is None:
            raise NotFound(PosOrderErrorCode.NOT_FOUND, "No such order at this store.")
    if _same_write_off(coupon, store_id=store.id, staff_id=staff_id):
        return Redeemed(coupon, template, replayed=True)
    now = ports.clock().now()
    reason = pricing.usable_reason(
        coupon, template, store_id=store.id, channel=Channel.TILL, now=now
    )
    if reason is not None:
        raise _refuse(reason)
    discount = await _discount(coupon, template, order, store_id=store.id)
    written_off = await Coupon.filter(
        id=coupon.id,
        state=CouponState.AVAILABLE,
        valid_from__lte=now,
        valid_until__gt=now,
    ).update(
        state=CouponState.USED,
        order_ref=counter_ref(store_id=store.id, staff_id=staff_id, order_id=order_id),
        used_at=now,
        used_store_id=store.id,
        used_staff_id=staff_id,
        used_channel=Channel.TILL.value,
        discount_fen=discount,
    )
    current = await Coupon.get(id=coupon.id)
    if written_off:
        return Redeemed(current, template, replayed=False)
    if _same_write_off(current, store_id=store.id, staff_id=staff_id):
        return Redeemed(current, template, replayed=True)
    raise _refuse(
        pricing.usable_reason(current, template, store_id=store.id, channel=Channel.TILL, now=now)
        or CouponErrorCode.NOT_AVAILABLE
    )


async def _discount(
    coupon: Coupon, template: CouponTemplate, order: PosOrder | None, *, store_id: int
) -> int:
    if order is None:
        return (template.value_fen or 0) if template.kind is CouponKind.CASH_OFF else 0
    priced = pricing.price_coupons(
        coupons=[(coupon.id, coupon, template)],
        store_id=store_id,
        channel=Channel.TILL,
        amount_fen=order.amount_fen,
        discount_pct=order.discount_pct,
        now=ports.clock().now(),
    )
    line = priced.lines[0]
    if line.reason is not None:
        raise _refuse(line.reason)
    return line.discount_fen
