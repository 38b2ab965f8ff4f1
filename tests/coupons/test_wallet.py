"""Members claim from the coupon center, see their wallet, and orders lock, use or release."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from api.core.clock import FrozenClock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.coupons import wallet
from api.coupons.expiry import expire_coupons
from api.coupons.issuing import is_coupon_code
from api.coupons.models import Coupon, CouponState, CouponTemplate
from api.org.models import Brand
from tests.factories import make_brand, make_member, member_token
from tests.support.api import Api
from workers.coupons import expire_coupons as job

from .support import active_template


async def _claimed(brand: Brand, member_id: int, **fields: object) -> Coupon:
    template = await active_template(brand, **fields)
    issued = await wallet.claim_coupon(
        brand_id=brand.id, member_id=member_id, template_id=template.id, request_key=None
    )
    return issued.coupon


async def test_a_member_claims_from_the_center_and_sees_the_coupon_with_its_code(
    api: Api,
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = member_token(member)
    one_each = await active_template(brand, name="one each", per_member_limit=1)
    two_each = await active_template(brand, name="two each", per_member_limit=2)
    await active_template(brand, name="sold out", total_stock=1)
    await CouponTemplate.filter(name="sold out").update(issued=1)

    center = await api.get("/coupon-center", token=token)
    claimed = await api.post(f"/coupon-templates/{one_each.id}/claim", token=token)
    center_after = await api.get("/coupon-center", token=token)
    mine = await api.get("/me/coupons", token=token)
    used = await api.get("/me/coupons?status=used", token=token)

    assert [o["name"] for o in center.json["items"]] == ["two each", "one each"]
    assert claimed.status == 201, claimed
    assert claimed.json["template_id"] == one_each.id and claimed.json["state"] == "available"
    assert is_coupon_code(claimed.json["code"])
    assert claimed.json["qr_svg"].startswith("<svg")
    assert [(o["template_id"], o["claimable"]) for o in center_after.json["items"]] == [
        (two_each.id, 2)
    ]
    assert [c["code"] for c in mine.json["items"]] == [claimed.json["code"]]
    assert mine.json["items"][0]["value_fen"] == 1_000
    assert used.json["items"] == []


async def test_claim_refusals_answer_409_with_stable_codes(api: Api) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = member_token(member)
    template = await active_template(brand, total_stock=1, per_member_limit=1)
    draft = await active_template(brand)
    await CouponTemplate.filter(id=draft.id).update(state="paused")
    rival = await make_member(brand=brand)

    first = await api.post(f"/coupon-templates/{template.id}/claim", token=token)
    again = await api.post(f"/coupon-templates/{template.id}/claim", token=token)
    sold_out = await api.post(f"/coupon-templates/{template.id}/claim", token=member_token(rival))
    paused = await api.post(f"/coupon-templates/{draft.id}/claim", token=token)
    missing = await api.post("/coupon-templates/2147483647/claim", token=token)
    too_big = await api.post("/coupon-templates/9223372036854775808/claim", token=token)
    anonymous = await api.post(f"/coupon-templates/{template.id}/claim")

    assert first.status == 201
    assert (again.status, again.error_code) == (409, "coupon.limit_reached")
    assert (sold_out.status, sold_out.error_code) == (409, "coupon.out_of_stock")
    assert (paused.status, paused.error_code) == (409, "coupon.template_not_active")
    assert (missing.status, missing.error_code) == (404, "coupon_template.not_found")
    assert too_big.status == 404
    assert anonymous.status == 401
    assert await Coupon.all().count() == 1


async def test_a_claim_retried_with_its_idempotency_key_answers_the_first_coupon(
    api: Api,
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = member_token(member)
    template = await active_template(brand, per_member_limit=3)
    headers = {"Idempotency-Key": "tap-1"}

    first = await api.post(f"/coupon-templates/{template.id}/claim", token=token, headers=headers)
    retry = await api.post(f"/coupon-templates/{template.id}/claim", token=token, headers=headers)
    bad_key = await api.post(
        f"/coupon-templates/{template.id}/claim",
        token=token,
        headers={"Idempotency-Key": "x" * 300},
    )

    assert first.status == 201 and retry.status == 201
    assert retry.json["id"] == first.json["id"]
    assert bad_key.status == 422
    assert await Coupon.all().count() == 1


async def test_the_wallet_refuses_bad_filters(api: Api) -> None:
    brand = await make_brand()
    token = member_token(await make_member(brand=brand))

    status = await api.get("/me/coupons?status=lost", token=token)
    limit = await api.get("/me/coupons?limit=1000", token=token)
    cursor = await api.get("/me/coupons?cursor=nonsense", token=token)
    unknown = await api.get("/me/coupons?colour=red", token=token)

    assert [a.status for a in (status, limit, cursor, unknown)] == [422] * 4
    assert cursor.error_code == "request.invalid_cursor"


async def test_twenty_orders_locking_one_coupon_at_once_one_wins() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    coupon = await _claimed(brand, member.id)

    results = await asyncio.gather(
        *(
            wallet.lock_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref=f"order-{n}")
            for n in range(20)
        ),
        return_exceptions=True,
    )

    won = [r for r in results if isinstance(r, Coupon)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 19
    assert {r.code for r in lost} == {"coupon.locked_by_another_order"}
    stored = await Coupon.get(id=coupon.id)
    assert stored.state == CouponState.LOCKED and stored.order_ref == won[0].order_ref


async def test_twenty_orders_using_one_coupon_at_once_use_it_once() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    coupon = await _claimed(brand, member.id)
    await wallet.lock_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="order-1")

    results = await asyncio.gather(
        *(
            wallet.use_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref=f"order-{n % 2}")
            for n in range(20)
        ),
        return_exceptions=True,
    )

    used = [r for r in results if isinstance(r, Coupon)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(used) == 10 and {c.order_ref for c in used} == {"order-1"}
    assert {r.code for r in refused} == {"coupon.already_used"}
    stored = await Coupon.get(id=coupon.id)
    assert stored.state == CouponState.USED and stored.used_at is not None


async def test_lock_release_and_use(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    other = await make_member(brand=brand)
    coupon = await _claimed(brand, member.id)

    locked = await wallet.lock_coupon(
        brand_id=brand.id, coupon_id=coupon.id, order_ref="A", member_id=member.id
    )
    relocked = await wallet.lock_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="A")
    with pytest.raises(Conflict) as not_held:
        await wallet.use_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="B")
    released = await wallet.release_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="A")
    released_again = await wallet.release_coupon(
        brand_id=brand.id, coupon_id=coupon.id, order_ref="A"
    )
    await wallet.lock_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="B")
    used = await wallet.use_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="B")
    used_again = await wallet.use_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="B")
    with pytest.raises(Conflict) as after_use:
        await wallet.lock_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="C")
    with pytest.raises(NotFound):
        await wallet.lock_coupon(
            brand_id=brand.id, coupon_id=coupon.id, order_ref="D", member_id=other.id
        )
    with pytest.raises(InvalidInput):
        await wallet.lock_coupon(brand_id=brand.id, coupon_id=coupon.id, order_ref="")
    with pytest.raises(NotFound):
        await wallet.lock_coupon(brand_id=brand.id, coupon_id=2_147_483_647, order_ref="E")

    assert (locked.state, relocked.state) == (CouponState.LOCKED, CouponState.LOCKED)
    assert not_held.value.code == "coupon.not_locked"
    assert released.state == CouponState.AVAILABLE and released.order_ref is None
    assert released_again.state == CouponState.AVAILABLE
    assert used.state == CouponState.USED and used_again.id == used.id
    assert after_use.value.code == "coupon.already_used"


async def test_a_coupon_outside_its_window_cannot_be_locked(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    now = clock.now()
    later = await _claimed(
        brand,
        member.id,
        valid_days=None,
        valid_from=now + timedelta(days=1),
        valid_until=now + timedelta(days=2),
    )
    soon = await _claimed(brand, member.id, valid_days=1)

    with pytest.raises(Conflict) as not_started:
        await wallet.lock_coupon(brand_id=brand.id, coupon_id=later.id, order_ref="A")
    clock.advance(days=1, seconds=1)
    with pytest.raises(Conflict) as expired:
        await wallet.lock_coupon(brand_id=brand.id, coupon_id=soon.id, order_ref="A")

    assert not_started.value.code == "coupon.not_started"
    assert expired.value.code == "coupon.expired"


async def test_expiry_sweeps_coupons_past_their_window_once(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = member_token(member)
    short = await _claimed(brand, member.id, valid_days=1)
    long = await _claimed(brand, member.id, valid_days=30)
    held = await _claimed(brand, member.id, valid_days=1)
    await wallet.lock_coupon(brand_id=brand.id, coupon_id=held.id, order_ref="order")
    clock.advance(days=2)

    before_sweep = await api.get("/me/coupons?status=expired", token=token)
    swept = await expire_coupons()
    swept_again = await expire_coupons()
    available = await api.get("/me/coupons", token=token)
    expired = await api.get("/me/coupons?status=expired", token=token)
    released = await wallet.release_coupon(brand_id=brand.id, coupon_id=held.id, order_ref="order")

    assert [(c["id"], c["state"]) for c in before_sweep.json["items"]] == [(short.id, "expired")]
    assert (swept, swept_again) == (1, 0)
    assert [c["id"] for c in available.json["items"]] == [long.id]
    assert [(c["id"], c["state"]) for c in expired.json["items"]] == [(short.id, "expired")]
    assert released.state == CouponState.EXPIRED


async def test_the_worker_job_expires_coupons(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    await _claimed(brand, member.id, valid_days=1)
    clock.advance(days=2)

    result = await job()

    assert result == {"coupons_expired": 1}
