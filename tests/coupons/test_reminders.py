"""A coupon about to expire is reminded of once, through the outbox, whatever runs the job."""

from __future__ import annotations

import asyncio

import pytest

from api.core import outbox
from api.core.clock import FrozenClock
from api.core.models import OutboxMessage
from api.coupons import expiry
from api.coupons.issuing import issue_coupon
from api.coupons.models import Coupon, CouponState
from api.member_center.models import IdentityKind, MemberIdentity
from api.org.models import Brand
from sandbox.state import new_openid
from tests.factories import make_brand, make_member, make_wechat_app
from tests.support.player import Player

from .support import active_template


async def _coupon(brand: Brand, *, days: int, member_id: int | None = None) -> Coupon:
    """A coupon of a fresh template that expires `days` days from now."""
    template = await active_template(brand, valid_days=days)
    member_id = member_id or (await make_member(brand=brand)).id
    issued = await issue_coupon(
        brand_id=brand.id, template_id=template.id, member_id=member_id, source="admin", key="k"
    )
    return issued.coupon


async def _reminders() -> list[int]:
    rows = await OutboxMessage.filter(topic=expiry.REMINDER_TOPIC).order_by("id")
    return [int(row.payload["coupon_id"]) for row in rows]


async def test_coupons_expiring_within_the_brands_days_are_reminded_once(
    clock: FrozenClock,
) -> None:
    brand = await make_brand()
    soon = await _coupon(brand, days=2)
    later = await _coupon(brand, days=10)
    used = await _coupon(brand, days=1)
    await Coupon.filter(id=used.id).update(state=CouponState.USED, used_at=clock.now())

    first = await expiry.queue_expiry_reminders()
    second = await expiry.queue_expiry_reminders()
    clock.advance(days=7, hours=1)  # `later` now has 3 days less an hour to go
    third = await expiry.queue_expiry_reminders()

    assert (first, second, third) == (1, 0, 1)
    assert await _reminders() == [soon.id, later.id]
    assert (await Coupon.get(id=soon.id)).reminded_at is not None
    assert (await Coupon.get(id=used.id)).reminded_at is None


async def test_twenty_runs_at_once_queue_one_reminder_per_coupon() -> None:
    brand = await make_brand()
    coupons = [await _coupon(brand, days=1) for _ in range(5)]

    counts = await asyncio.gather(*(expiry.queue_expiry_reminders() for _ in range(20)))

    assert sum(counts) == 5
    assert sorted(await _reminders()) == sorted(c.id for c in coupons)


@pytest.mark.parametrize(("days", "expected"), [(0, 0), (3, 1), (6, 2)])
async def test_the_brand_chooses_how_many_days_ahead(days: int, expected: int) -> None:
    brand = await make_brand(settings={"coupon_expiry_reminder_days": days})
    await _coupon(brand, days=2)
    await _coupon(brand, days=5)
    await _coupon(brand, days=9)

    assert await expiry.queue_expiry_reminders() == expected
    assert len(await _reminders()) == expected


async def test_expired_and_foreign_coupons_are_not_reminded(clock: FrozenClock) -> None:
    brand = await make_brand()
    gone = await _coupon(brand, days=1)
    clock.advance(days=1, seconds=1)

    assert await expiry.queue_expiry_reminders() == 0
    assert await _reminders() == []
    assert (await Coupon.get(id=gone.id)).reminded_at is None


@pytest.mark.usefixtures("live_url")
async def test_the_reminder_reaches_the_member_in_the_mini_program(player: Player) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member = await make_member(brand=brand)
    openid = new_openid()
    await MemberIdentity.create(
        brand_id=brand.id,
        member_id=member.id,
        kind=IdentityKind.WECHAT_OPENID,
        app_id=app.appid,
        value=openid,
    )
    coupon = await _coupon(brand, days=2, member_id=member.id)
    silent = await _coupon(brand, days=2)  # no OpenID: nothing is sent, nothing fails

    await expiry.queue_expiry_reminders()
    outbox.register_handler(expiry.REMINDER_TOPIC, expiry.send_expiry_reminder)
    report = await outbox.deliver_due()
    await outbox.deliver_due()

    sent = [m for m in await player.sent(app.appid) if m["kind"] == "subscribe"]
    assert report.sent == 2 and report.dead == 0
    assert len(sent) == 1 and sent[0]["touser"] == openid
    assert sent[0]["payload"]["data"]["character_string3"] == {"value": coupon.code}
    assert silent.id in await _reminders()


@pytest.mark.usefixtures("live_url")
async def test_a_coupon_used_before_delivery_is_not_reminded(
    player: Player, clock: FrozenClock
) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member = await make_member(brand=brand)
    await MemberIdentity.create(
        brand_id=brand.id,
        member_id=member.id,
        kind=IdentityKind.WECHAT_OPENID,
        app_id=app.appid,
        value=new_openid(),
    )
    coupon = await _coupon(brand, days=1, member_id=member.id)
    await expiry.queue_expiry_reminders()
    await Coupon.filter(id=coupon.id).update(state=CouponState.USED, used_at=clock.now())

    outbox.register_handler(expiry.REMINDER_TOPIC, expiry.send_expiry_reminder)
    report = await outbox.deliver_due()

    assert report.sent == 1
    assert [m for m in await player.sent(app.appid) if m["kind"] == "subscribe"] == []
