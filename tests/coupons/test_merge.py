"""A member merge gives the loser's coupons to the survivor, and the limits follow them."""

from __future__ import annotations

import pytest

from api.core.errors import Conflict
from api.coupons import issuing
from api.coupons.issuing import issue_coupon, redis_cache
from api.coupons.models import Coupon, CouponState
from api.member_center.merge import merge_members
from api.org.models import Brand
from api.wiring import registrations, wire
from tests.factories import make_brand, make_member

from .support import active_template


async def _claim(brand: Brand, template_id: int, member_id: int, key: str) -> Coupon:
    issued = await issue_coupon(
        brand_id=brand.id, template_id=template_id, member_id=member_id, source="claim", key=key
    )
    return issued.coupon


async def test_a_merge_moves_every_coupon_and_the_survivor_holds_the_limit() -> None:
    wire()
    brand = await make_brand()
    template = await active_template(brand, per_member_limit=2, per_member_daily_limit=2)
    other = await active_template(brand, name="另一张")
    survivor = await make_member(brand=brand)
    loser = await make_member(brand=brand)
    kept = await _claim(brand, template.id, survivor.id, "s1")
    moved = await _claim(brand, template.id, loser.id, "l1")
    used = await _claim(brand, other.id, loser.id, "l2")
    await Coupon.filter(id=used.id).update(state=CouponState.USED)

    await merge_members(
        brand_id=brand.id, survivor_id=survivor.id, loser_id=loser.id, reason="test"
    )

    mine = await Coupon.filter(member_id=survivor.id).order_by("id")
    assert [(c.id, c.code, c.state) for c in mine] == [
        (kept.id, kept.code, CouponState.AVAILABLE),
        (moved.id, moved.code, CouponState.AVAILABLE),
        (used.id, used.code, CouponState.USED),
    ]
    assert await Coupon.filter(member_id=loser.id).count() == 0
    # The survivor now holds two of the template: the limit stops a third, on either path.
    with pytest.raises(Conflict) as refused:
        await _claim(brand, template.id, survivor.id, "s2")
    assert refused.value.code == "coupon.limit_reached"
    assert await Coupon.filter(template_id=template.id).count() == 2
    cache = redis_cache()
    if cache is not None:
        assert await cache.get(issuing.member_key(template.id, survivor.id)) == "2"
        assert await cache.get(issuing.member_key(template.id, loser.id)) is None
        reconciled = await issuing.reconcile_stock(brand_id=brand.id, template_id=template.id)
        assert not reconciled.drifted, reconciled


async def test_the_coupon_merge_step_is_wired() -> None:
    wire()

    assert "api.coupons.merging.move_coupons_for_merge" in registrations()["merge_steps"]
