"""The member-center jobs the worker schedules call the services and are safe to rerun."""

from __future__ import annotations

from datetime import timedelta

from api.core.clock import FrozenClock
from api.member_center import points
from api.member_center.models import Member
from tests.factories import make_brand, make_member
from workers import member_center


async def test_nightly_expiry_job_expires_due_lots_once(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    await points.earn_points(
        brand_id=brand.id,
        member_id=member.id,
        amount=40,
        key="t:earn",
        expires_at=clock.now() + timedelta(days=1),
    )
    clock.advance(days=2)

    first = await member_center.expire_points()
    second = await member_center.expire_points()

    assert first == {"lots_expired": 1} and second == {"lots_expired": 0}
    assert (await Member.get(id=member.id)).points_balance == 0


async def test_requalification_job_runs_for_every_active_brand(clock: FrozenClock) -> None:
    brand = await make_brand(code="tea")
    await make_member(brand=brand)

    results = await member_center.requalify_levels()

    assert set(results) == {"tea"}
