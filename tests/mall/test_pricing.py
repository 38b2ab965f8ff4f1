"""The pricing engine against hand-computed cases: every step, per line and in all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.coupons.models import Channel, Coupon, CouponKind, CouponState, CouponTemplate
from api.mall.pricing import (
    DeliveryRule,
    LineIn,
    PointsRule,
    PricingInput,
    apportion,
    points_deduction,
    price,
    refund_share,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SHIRT = LineIn(sku_id=1, quantity=1, list_price_fen=10_000, member_price_fen=8_000, product_id=1)
SOCKS = LineIn(sku_id=2, quantity=3, list_price_fen=2_000, product_id=2, category_id=7)
DELIVERY = DeliveryRule(fee_fen=1_000, free_threshold_fen=9_900)
HALF = PointsRule(points_per_yuan=100, max_pct=50)


def _coupon(coupon_id: int, **template: Any) -> tuple[int, Coupon, CouponTemplate]:
    values: dict[str, Any] = {
        "kind": CouponKind.CASH_OFF,
        "value_fen": 1_000,
        "threshold_fen": 10_000,
        "stacks_with_level_discount": True,
        "stacks_with_coupons": True,
        "store_ids": [],
        "channels": [],
        "product_ids": [],
        "category_ids": [],
    }
    values.update(template)
    coupon = Coupon(
        id=coupon_id,
        state=CouponState.AVAILABLE,
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=1),
        order_ref=None,
    )
    return coupon_id, coupon, CouponTemplate(**values)


def _given(**fields: Any) -> PricingInput:
    values: dict[str, Any] = {"lines": [SHIRT, SOCKS], "now": NOW, "channel": Channel.MALL}
    values.update(fields)
    return PricingInput(**values)


# (case, input, per line (level, coupon, points, payable), (coupon, points, fee, payable))
CASES = [
    (
        "gold: own price + 90 % level + 10 off 100 + 5 000 points, delivery free by threshold",
        lambda: _given(
            discount_pct=90,
            coupons=[_coupon(1)],
            points_to_use=5_000,
            points_rule=HALF,
            delivery=DELIVERY,
        ),
        [(0, 597, 2_985, 4_418), (600, 403, 2_015, 2_982)],
        (1_000, 5_000, 0, 7_400),
    ),
    (
        "rounding: 100 fen off three near-equal lines, the last takes the remainder",
        lambda: _given(
            lines=[
                LineIn(sku_id=1, quantity=1, list_price_fen=333),
                LineIn(sku_id=2, quantity=1, list_price_fen=333),
                LineIn(sku_id=3, quantity=1, list_price_fen=334),
            ],
            coupons=[_coupon(1, value_fen=100, threshold_fen=0)],
            delivery=DELIVERY,
        ),
        [(0, 33, 0, 300), (0, 33, 0, 300), (0, 34, 0, 300)],
        (100, 0, 1_000, 1_900),
    ),
    (
        "level price rounded half up (1 999 at 95 %), then 15 % off",
        lambda: _given(
            lines=[LineIn(sku_id=1, quantity=1, list_price_fen=1_999)],
            discount_pct=95,
            coupons=[
                _coupon(
                    1, kind=CouponKind.PERCENT_OFF, value_fen=None, percent_off=15, threshold_fen=0
                )
            ],
        ),
        [(100, 285, 0, 1_614)],
        (285, 0, 0, 1_614),
    ),
    (
        "a coupon that does not stack with the level prices everything at list",
        lambda: _given(
            discount_pct=90,
            coupons=[_coupon(1, value_fen=2_000, stacks_with_level_discount=False)],
        ),
        [(0, 1_250, 0, 8_750), (0, 750, 0, 5_250)],
        (2_000, 0, 0, 14_000),
    ),
    (
        "a coupon for one product takes off that line only",
        lambda: _given(coupons=[_coupon(1, product_ids=[1], threshold_fen=8_000)]),
        [(0, 1_000, 0, 7_000), (0, 0, 0, 6_000)],
        (1_000, 0, 0, 13_000),
    ),
    (
        "a free-delivery coupon takes the fee off, not the goods",
        lambda: _given(
            lines=[SOCKS],
            coupons=[_coupon(1, kind=CouponKind.FREE_DELIVERY, value_fen=None, threshold_fen=0)],
            delivery=DELIVERY,
        ),
        [(0, 0, 0, 6_000)],
        (1_000, 0, 0, 6_000),
    ),
    (
        "a level with free delivery pays no fee; points capped at half the goods",
        lambda: _given(
            lines=[SOCKS],
            delivery=DeliveryRule(fee_fen=1_000, free_threshold_fen=None, free_for_level=True),
            points_to_use=100_000,
            points_rule=HALF,
        ),
        [(0, 0, 3_000, 3_000)],
        (0, 3_000, 0, 3_000),
    ),
]


@pytest.mark.parametrize(("case", "given", "lines", "totals"), CASES, ids=[c[0] for c in CASES])
def test_the_breakdown_matches_the_hand_computed_case(
    case: str, given: Any, lines: list[tuple[int, ...]], totals: tuple[int, ...]
) -> None:
    breakdown = price(given())

    assert [
        (ln.level_discount_fen, ln.coupon_fen, ln.points_fen, ln.payable_fen)
        for ln in breakdown.lines
    ] == lines
    assert (
        breakdown.coupon_discount_fen,
        breakdown.points_discount_fen,
        breakdown.delivery_fee_fen,
        breakdown.payable_fen,
    ) == totals
    assert sum(ln.payable_fen for ln in breakdown.lines) + breakdown.delivery_fee_fen == (
        breakdown.payable_fen
    )
    assert sum(ln.points for ln in breakdown.lines) == breakdown.points_used
    assert breakdown.refusal is None


@pytest.mark.parametrize(
    ("coupons", "reason"),
    [
        ([_coupon(1, product_ids=[2], threshold_fen=7_000)], "coupon.below_threshold"),
        ([_coupon(1, category_ids=[9])], "coupon.not_valid_for_products"),
        ([_coupon(1, store_ids=[5])], "coupon.not_valid_in_store"),
        ([_coupon(1, channels=["till"])], "coupon.channel_not_allowed"),
        ([_coupon(1), _coupon(2, stacks_with_coupons=False)], "coupon.does_not_stack"),
    ],
)
def test_a_coupon_that_does_not_apply_says_why(coupons: list[Any], reason: str) -> None:
    breakdown = price(_given(coupons=coupons, store_id=1))

    assert breakdown.refusal is not None and breakdown.refusal.reason == reason


def test_points_spend_only_what_the_deduction_needs() -> None:
    assert points_deduction(points=301, goods_fen=10_000, rule=PointsRule(200, 50)) == (300, 150)
    assert points_deduction(points=500, goods_fen=10_000, rule=PointsRule(100, 0)) == (0, 0)


def test_apportion_never_gives_a_line_more_than_it_has() -> None:
    assert apportion(1_000, [1_000, 1]) == [999, 1]
    assert apportion(5, [100, 1, 1]) == [4, 0, 1]
    assert apportion(3, [1, 1, 1]) == [1, 1, 1]
    assert apportion(10, [5, 1]) == [5, 1]  # more than the lines hold: all of them


def test_a_partial_refund_of_a_line_gives_back_its_share_and_all_units_give_back_all() -> None:
    line = price(
        _given(discount_pct=90, coupons=[_coupon(1)], points_to_use=5_000, points_rule=HALF)
    ).lines[1]
    steps = [(0, 1), (1, 1), (2, 1)]

    paid_back = [
        refund_share(line_fen=line.payable_fen, quantity=3, refunded_before=b, refunding=q)
        for b, q in steps
    ]
    points_back = [
        refund_share(line_fen=line.points, quantity=3, refunded_before=b, refunding=q)
        for b, q in steps
    ]

    assert line.payable_fen == 2_982 and line.points == 2_015
    assert paid_back == [994, 994, 994]
    assert points_back == [671, 672, 672]
    assert refund_share(line_fen=4_418, quantity=3, refunded_before=0, refunding=2) == 2_945
    assert refund_share(line_fen=4_418, quantity=3, refunded_before=2, refunding=5) == 1_473
