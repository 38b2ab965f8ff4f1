"""The one pricing engine of the mall (and of the till, one line): pure functions, no I/O.

`price(PricingInput)` takes the lines as the catalogue prices them, the member's level
discount, the chosen coupons with their templates, the points the member wants to use and the
brand's rules, and answers a `Breakdown`: per line and for the order, what each step took off.
The steps, in order:

1. Member price / level discount. A SKU with its own price for the member's level is sold at
   that price; the lines without one are priced at the level's `discount_pct` together (the
   sum at the discount, rounded half up to a whole fen, as the till has always done), the
   discount apportioned over them.
2. Coupons, by the coupon domain's rules (`api.coupons.pricing`: `usable_reason` for the
   member, window, store and channel; `coupon_discount` for what one takes off; one coupon, or
   several only when all stack with other coupons; a coupon that does not stack with the level
   discount prices the order at list prices instead). A template's `product_ids` /
   `category_ids` (empty: every line) narrow the lines it applies to: its threshold is reached
   on, and its discount apportioned over, those lines only (`coupon.not_valid_for_products`
   when none). A free-delivery coupon takes off the delivery fee, not the goods.
3. Delivery fee (delivery only): free for a level with `free_delivery`, or when the goods after
   coupons reach the brand's threshold; else the brand's fee.
4. Points: `points_per_yuan` points take off one yuan, at most `max_pct` % of the goods after
   coupons; only the points the deduction needs are spent.

Every discount is apportioned to lines in whole fen, by weight (each line its floor share, the
last line the remainder, spilling onto the largest lines if the last cannot take it), so the
lines always sum to the order's totals. `refund_share` gives the part of a line a partial
refund pays back, so refunding all of a line's units in any steps pays back exactly its
payable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from api.coupons.error_codes import CouponErrorCode
from api.coupons.models import Channel, Coupon, CouponKind, CouponTemplate
from api.coupons.pricing import coupon_discount, level_price, usable_reason


@dataclass(frozen=True)
class LineIn:
    """One SKU of an order, as the catalogue prices it."""

    sku_id: int
    quantity: int
    list_price_fen: int  # per unit
    member_price_fen: int | None = None  # per unit, the level's own price
    product_id: int = 0
    category_id: int | None = None


@dataclass(frozen=True)
class PointsRule:
    """`points_per_yuan` points take one yuan off, at most `max_pct` % of the goods."""

    points_per_yuan: int = 100
    max_pct: int = 0


@dataclass(frozen=True)
class DeliveryRule:
    """The delivery fee, waived for a level with free delivery or from a threshold."""

    fee_fen: int = 0
    free_threshold_fen: int | None = None
    free_for_level: bool = False


@dataclass(frozen=True)
class PricingInput:
    lines: Sequence[LineIn]
    store_id: int = 0
    channel: Channel = Channel.MALL
    now: datetime | None = None
    discount_pct: int = 100
    coupons: Sequence[tuple[int, Coupon | None, CouponTemplate | None]] = ()
    order_ref: str | None = None
    points_to_use: int = 0
    points_rule: PointsRule = field(default_factory=PointsRule)
    delivery: DeliveryRule | None = None  # None: nothing delivered (pickup, the till)


@dataclass(frozen=True)
class LineOut:
    sku_id: int
    quantity: int
    list_fen: int
    member_price_fen: int  # the line at the level's own price, or at list
    level_discount_fen: int
    coupon_fen: int
    points_fen: int
    points: int
    payable_fen: int


@dataclass(frozen=True)
class CouponOut:
    coupon_id: int
    reason: str | None  # a CouponErrorCode when it does not apply
    discount_fen: int = 0

    @property
    def eligible(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Breakdown:
    lines: list[LineOut]
    coupons: list[CouponOut]
    list_fen: int
    member_price_discount_fen: int
    level_discount_fen: int
    level_applied: bool
    coupon_discount_fen: int  # on the goods and on the delivery fee
    points_used: int
    points_discount_fen: int
    delivery_fee_fen: int  # charged, after a free-delivery coupon
    payable_fen: int

    @property
    def refusal(self) -> CouponOut | None:
        return next((c for c in self.coupons if not c.eligible), None)


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` fen over lines by weight: floor shares, the last line the remainder (what
    it cannot take goes to the largest lines), never more than a line's weight."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    total = min(total, whole)
    shares = [total * w // whole for w in weights[:-1]]
    shares.append(total - sum(shares))
    excess = shares[-1] - weights[-1]
    if excess > 0:
        shares[-1] = weights[-1]
        for index in sorted(range(len(weights) - 1), key=lambda i: -weights[i]):
            room = weights[index] - shares[index]
            moved = min(room, excess)
            shares[index] += moved
            excess -= moved
            if not excess:
                break
    return shares


def _applies(template: CouponTemplate, line: LineIn, channel: Channel) -> bool:
    if channel is not Channel.MALL:
        return True  # the till has no products: a template's lists are the mall's
    if template.product_ids and line.product_id in template.product_ids:
        return True
    if template.category_ids and line.category_id in template.category_ids:
        return True
    return not template.product_ids and not template.category_ids


def points_deduction(*, points: int, goods_fen: int, rule: PointsRule) -> tuple[int, int]:
    """(points spent, fen taken off) for up to `points` on `goods_fen` under the brand's rule."""
    if points <= 0 or rule.points_per_yuan <= 0 or rule.max_pct <= 0 or goods_fen <= 0:
        return 0, 0
    cap_fen = goods_fen * min(100, rule.max_pct) // 100
    fen = min(points * 100 // rule.points_per_yuan, cap_fen)
    # Only the points this deduction needs (a point worth less than a fen rounds up).
    return (fen * rule.points_per_yuan + 99) // 100, fen


def price(given: PricingInput) -> Breakdown:
    """Price an order: the breakdown of every step, per line and in all (see the module doc)."""
    lines = list(given.lines)
    chosen = list(given.coupons)
    level_applied = all(t is None or t.stacks_with_level_discount for _, _, t in chosen)
    list_fens = [ln.list_price_fen * ln.quantity for ln in lines]
    # 1. member price / level discount
    if level_applied:
        member = [
            (ln.member_price_fen if ln.member_price_fen is not None else ln.list_price_fen)
            * ln.quantity
            for ln in lines
        ]
        plain = [i for i, ln in enumerate(lines) if ln.member_price_fen is None]
        plain_fen = sum(list_fens[i] for i in plain)
        level_total = plain_fen - level_price(plain_fen, given.discount_pct)
        level = [0] * len(lines)
        for i, share in zip(
            plain, apportion(level_total, [list_fens[i] for i in plain]), strict=True
        ):
            level[i] = share
    else:
        member, level = list(list_fens), [0] * len(lines)
    after_level = [m - lv for m, lv in zip(member, level, strict=True)]
    # 2. coupons on the goods
    now = given.now
    several = len(chosen) > 1
    stack_ok = not several or all(t is not None and t.stacks_with_coupons for _, _, t in chosen)
    coupon_share = [0] * len(lines)
    outcomes: dict[int, CouponOut] = {}
    delivery_coupons: list[int] = []
    for position, (coupon_id, coupon, template) in enumerate(chosen):
        if coupon is None or template is None:
            outcomes[position] = CouponOut(coupon_id, CouponErrorCode.NOT_FOUND)
            continue
        reason = (
            usable_reason(
                coupon,
                template,
                store_id=given.store_id,
                channel=given.channel,
                now=now,
                order_ref=given.order_ref,
            )
            if now is not None
            else None
        )
        eligible = [i for i, ln in enumerate(lines) if _applies(template, ln, given.channel)]
        if reason is None and not eligible:
            reason = CouponErrorCode.NOT_VALID_FOR_PRODUCTS
        base = sum(after_level[i] for i in eligible)
        if reason is None and base < template.threshold_fen:
            reason = CouponErrorCode.BELOW_THRESHOLD
        if reason is None and not stack_ok:
            reason = CouponErrorCode.DOES_NOT_STACK
        if reason is not None:
            outcomes[position] = CouponOut(coupon_id, reason)
            continue
        if template.kind is CouponKind.FREE_DELIVERY:
            delivery_coupons.append(position)
            continue
        left = [after_level[i] - coupon_share[i] for i in eligible]
        off = min(sum(left), coupon_discount(template, base, delivery_fee_fen=0))
        for i, share in zip(eligible, apportion(off, left), strict=True):
            coupon_share[i] += share
        outcomes[position] = CouponOut(coupon_id, None, off)
    goods = [a - c for a, c in zip(after_level, coupon_share, strict=True)]
    goods_fen = sum(goods)
    # 3. delivery fee, then the free-delivery coupons take it off
    fee = 0
    rule = given.delivery
    if rule is not None and not rule.free_for_level:
        reached = rule.free_threshold_fen is not None and goods_fen >= rule.free_threshold_fen
        fee = 0 if reached else rule.fee_fen
    for position in delivery_coupons:
        coupon_id = chosen[position][0]
        template = chosen[position][2]
        assert template is not None
        off = coupon_discount(template, 0, delivery_fee_fen=fee)
        fee -= off
        outcomes[position] = CouponOut(coupon_id, None, off)
    # 4. points
    points, points_fen = points_deduction(
        points=given.points_to_use, goods_fen=goods_fen, rule=given.points_rule
    )
    points_share = apportion(points_fen, goods)
    points_each = apportion(points, points_share) if points_fen else [0] * len(lines)
    out_lines = [
        LineOut(
            sku_id=ln.sku_id,
            quantity=ln.quantity,
            list_fen=list_fens[i],
            member_price_fen=member[i],
            level_discount_fen=level[i],
            coupon_fen=coupon_share[i],
            points_fen=points_share[i],
            points=points_each[i],
            payable_fen=goods[i] - points_share[i],
        )
        for i, ln in enumerate(lines)
    ]
    coupons_out = [outcomes[p] for p in range(len(chosen))]
    return Breakdown(
        lines=out_lines,
        coupons=coupons_out,
        list_fen=sum(list_fens),
        member_price_discount_fen=sum(list_fens) - sum(member),
        level_discount_fen=sum(level),
        level_applied=level_applied,
        coupon_discount_fen=sum(c.discount_fen for c in coupons_out),
        points_used=points,
        points_discount_fen=points_fen,
        delivery_fee_fen=fee,
        payable_fen=goods_fen - points_fen + fee,
    )


def refund_share(*, line_fen: int, quantity: int, refunded_before: int, refunding: int) -> int:
    """What refunding `refunding` more units of a line gives back of `line_fen` (its payable,
    or its points), when `refunded_before` units were refunded already: all the units in any
    steps give back exactly `line_fen`."""
    if quantity <= 0 or refunding <= 0:
        return 0
    done = min(quantity, refunded_before)
    upto = min(quantity, done + refunding)
    return line_fen * upto // quantity - line_fen * done // quantity
