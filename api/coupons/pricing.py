"""What a member's coupons take off an order: the one pricing rule of the till and the mall.

`price_order` is given the order as the channel knows it (brand, store, channel, member, list
amount, the member's level discount, the delivery fee) and the coupons the member chose, and
answers per coupon whether it applies (or the stable code saying why not) and what it takes
off, and the payable.

The rule, in order:

- Level discount. The list amount at the level's discount is the base (rounded half up to a
  whole fen, as the till always has). A coupon that does not stack with the level discount
  (`stacks_with_level_discount` false) prices on the list amount instead, and then the whole
  order does: the member gets the coupon OR the level discount, as the chosen coupons say —
  not whichever is cheaper. The till shows both amounts, so leaving the coupon out is the
  member's choice.
- Eligibility, per coupon: the member's own, available (not used, not held by another order,
  within its window), valid in this store (`store_ids` empty: every store) and channel,
  and the base reaches its `threshold_fen`.
- Stacking: one coupon always; several only when every one of them stacks with other coupons
  (`stacks_with_coupons`). Otherwise every one of them is refused `coupon.does_not_stack`.
- Discount, per coupon, on the base: `cash_off` its value; `percent_off` the base less the base
  at (100 − percent) %, rounded half up as the level price is (so 15 % off 999 fen takes off
  150, the payable 849), at most `cap_fen`; `free_delivery` the delivery fee (the mall's; 0 at
  the till); `gift` nothing (the gift is handed over, recorded on the coupon's use). The
  coupons together never take off more than the base: the payable is never below 0, the last
  coupons' discounts cut to what is left.

The product and category lists of a template apply to the mall's lines; the till has no
products, so at the till a template's product and category lists are not looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from api.core import ports

from .error_codes import CouponErrorCode
from .models import Channel, Coupon, CouponKind, CouponState, CouponTemplate

MAX_COUPONS = 5


@dataclass(frozen=True)
class CouponLine:
    """One chosen coupon: whether it applies, why not, and what it takes off."""

    coupon_id: int
    coupon: Coupon | None
    template: CouponTemplate | None
    reason: str | None  # a CouponErrorCode when it does not apply
    discount_fen: int = 0

    @property
    def eligible(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Priced:
    """An order priced with its coupons."""

    amount_fen: int  # the list amount
    level_fen: int  # the list amount at the member's level discount
    base_fen: int  # what the coupons priced on: level_fen, or the list amount
    level_applied: bool
    lines: list[CouponLine]
    coupon_discount_fen: int
    payable_fen: int

    @property
    def all_eligible(self) -> bool:
        return all(line.eligible for line in self.lines)

    @property
    def refusal(self) -> CouponLine | None:
        return next((line for line in self.lines if not line.eligible), None)


def level_price(amount_fen: int, discount_pct: int) -> int:
    """The amount at a discount (95: pays 95 %), rounded half up to a whole fen."""
    pct = min(100, max(0, discount_pct))
    return (amount_fen * pct + 50) // 100


def coupon_discount(template: CouponTemplate, base_fen: int, *, delivery_fee_fen: int) -> int:
    """What one coupon of this template takes off `base_fen` (threshold not checked here)."""
    if template.kind is CouponKind.CASH_OFF:
        return min(base_fen, template.value_fen or 0)
    if template.kind is CouponKind.PERCENT_OFF:
        off = base_fen - level_price(base_fen, 100 - (template.percent_off or 0))
        return off if template.cap_fen is None else min(off, template.cap_fen)
    if template.kind is CouponKind.FREE_DELIVERY:
        return max(0, delivery_fee_fen)
    return 0  # a gift takes nothing off


def _availability(coupon: Coupon, *, order_ref: str | None, now: datetime) -> str | None:
    if coupon.state is CouponState.USED:
        return CouponErrorCode.ALREADY_USED
    if coupon.state is CouponState.LOCKED and coupon.order_ref != order_ref:
        return CouponErrorCode.LOCKED_BY_ANOTHER_ORDER
    if coupon.state is CouponState.REVOKED:
        return CouponErrorCode.NOT_AVAILABLE
    if coupon.state is CouponState.EXPIRED or coupon.valid_until <= now:
        return CouponErrorCode.EXPIRED
    if coupon.valid_from > now:
        return CouponErrorCode.NOT_STARTED
    return None


def usable_reason(
    coupon: Coupon,
    template: CouponTemplate,
    *,
    store_id: int,
    channel: Channel,
    now: datetime,
    order_ref: str | None = None,
) -> str | None:
    """Why this coupon cannot be used in this store and channel now (None: it can)."""
    reason = _availability(coupon, order_ref=order_ref, now=now)
    if reason is not None:
        return reason
    if template.store_ids and store_id not in template.store_ids:
        return CouponErrorCode.NOT_VALID_IN_STORE
    if template.channels and channel.value not in template.channels:
        return CouponErrorCode.CHANNEL_NOT_ALLOWED
    return None


def price_coupons(
    *,
    coupons: Sequence[tuple[int, Coupon | None, CouponTemplate | None]],
    store_id: int,
    channel: Channel,
    amount_fen: int,
    discount_pct: int = 100,
    delivery_fee_fen: int = 0,
    order_ref: str | None = None,
    now: datetime,
) -> Priced:
    """Price an order with the coupons chosen (id, the coupon and its template, or None when
    it is not the member's); see the module doc for the rule."""
    level_fen = level_price(amount_fen, discount_pct)
    chosen = [(cid, c, t) for cid, c, t in coupons]
    level_applied = all(t is None or t.stacks_with_level_discount for _, _, t in chosen)
    base = level_fen if level_applied else amount_fen
    several = len(chosen) > 1
    stack_ok = not several or all(t is not None and t.stacks_with_coupons for _, _, t in chosen)
    lines: list[CouponLine] = []
    left = base
    for coupon_id, coupon, template in chosen:
        if coupon is None or template is None:
            lines.append(CouponLine(coupon_id, None, None, CouponErrorCode.NOT_FOUND))
            continue
        reason = usable_reason(
            coupon, template, store_id=store_id, channel=channel, now=now, order_ref=order_ref
        )
        if reason is None and base < template.threshold_fen:
            reason = CouponErrorCode.BELOW_THRESHOLD
        if reason is None and not stack_ok:
            reason = CouponErrorCode.DOES_NOT_STACK
        if reason is not None:
            lines.append(CouponLine(coupon_id, coupon, template, reason))
            continue
        fee = delivery_fee_fen if channel is Channel.MALL else 0
        off = min(left, coupon_discount(template, base, delivery_fee_fen=fee))
        left -= off
        lines.append(CouponLine(coupon_id, coupon, template, None, off))
    taken = sum(line.discount_fen for line in lines)
    return Priced(
        amount_fen=amount_fen,
        level_fen=level_fen,
        base_fen=base,
        level_applied=level_applied,
        lines=lines,
        coupon_discount_fen=taken,
        payable_fen=base - taken,
    )


async def price_order(
    *,
    brand_id: int,
    store_id: int,
    channel: Channel,
    member_id: int | None,
    amount_fen: int,
    discount_pct: int = 100,
    coupon_ids: Sequence[int] = (),
    delivery_fee_fen: int = 0,
    order_ref: str | None = None,
) -> Priced:
    """Price an order for the member with the coupons they chose (see the module doc).

    A coupon that is not the member's (or no member is known) is refused `coupon.not_found`;
    each line says whether it applies or the stable code why not. Nothing is changed.
    """
    rows: dict[int, Coupon] = {}
    if coupon_ids and member_id is not None:
        found = await Coupon.filter(
            id__in=list(coupon_ids), brand_id=brand_id, member_id=member_id
        ).prefetch_related("template")
        rows = {c.id: c for c in found}
    chosen = [
        (cid, rows.get(cid), rows[cid].template if cid in rows else None) for cid in coupon_ids
    ]
    return price_coupons(
        coupons=chosen,
        store_id=store_id,
        channel=channel,
        amount_fen=amount_fen,
        discount_pct=discount_pct,
        delivery_fee_fen=delivery_fee_fen,
        order_ref=order_ref,
        now=ports.clock().now(),
    )


async def usable_coupons(
    *, brand_id: int, member_id: int, store_id: int | None, channel: Channel, limit: int = 50
) -> list[Coupon]:
    """The member's coupons usable now in this store (None: any store) and channel, soonest
    expiring first, with their templates."""
    now = ports.clock().now()
    coupons = (
        await Coupon.filter(
            brand_id=brand_id,
            member_id=member_id,
            state=CouponState.AVAILABLE,
            valid_from__lte=now,
            valid_until__gt=now,
        )
        .order_by("valid_until", "id")
        .limit(200)
        .prefetch_related("template")
    )
    usable = []
    for coupon in coupons:
        template = coupon.template
        if store_id is not None and template.store_ids and store_id not in template.store_ids:
            continue
        if template.channels and channel.value not in template.channels:
            continue
        usable.append(coupon)
    return usable[:limit]
