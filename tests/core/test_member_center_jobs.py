"""The member-center jobs the worker schedules call the services and are safe to rerun."""

from __future__ import annotations

from datetime import timedelta

from api.core.clock import FrozenClock
from api.member_center import levels, points
from api.member_center.models import GrowthEntry, GrowthEntryKind, Member
from api.org.models import Status
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


async def test_requalification_job_runs_for_active_brands_only(clock: FrozenClock) -> None:
    # given an active and a disabled brand, each with a ladder and a member with growth
    members = {}
    for code, status in (("tea", Status.ACTIVE), ("closed", Status.DISABLED)):
        brand = await make_brand(code=code, status=status)
        await levels.create_level(brand_id=brand.id, name="普卡", rank=0, growth_threshold=0)
        member = await make_member(brand=brand)
        await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=10, key="g")
        members[code] = member

    # when the new year's job runs
    results = await member_center.requalify_levels()

    # then the active brand's member is requalified and the disabled brand's is left alone
    assert results == {"tea": {"kept": 1, "upgraded": 0, "downgraded": 0, "skipped": 0}}
    for code, requalified in (("tea", True), ("closed", False)):
        fresh = await Member.get(id=members[code].id)
        assert (fresh.year_growth == 0) is requalified
        assert (
            await GrowthEntry.exists(member_id=fresh.id, kind=GrowthEntryKind.REQUALIFY)
        ) is requalified
