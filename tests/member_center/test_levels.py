"""Levels: the ladder's rules, growth lifting members at once, the yearly requalification."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from api.core.clock import FrozenClock
from api.core.errors import Conflict, InvalidInput, NotFound
from api.member_center import levels, merge, points
from api.member_center.models import GrowthEntry, GrowthEntryKind, Level, Member
from api.org.models import Brand, StaffRole
from tests.factories import make_brand, make_member, make_staff, member_token, staff_token
from tests.support.api import Api


async def make_ladder(brand: Brand) -> dict[str, Level]:
    """普卡 0 → 银卡 1000 → 金卡 5000."""
    return {
        name: await levels.create_level(
            brand_id=brand.id, name=name, rank=rank, growth_threshold=threshold
        )
        for name, rank, threshold in [("普卡", 0, 0), ("银卡", 1, 1000), ("金卡", 2, 5000)]
    }


async def level_name(member: Member) -> str | None:
    fresh = await Member.get(id=member.id)
    if fresh.level_id is None:
        return None
    return (await Level.get(id=fresh.level_id)).name


# ---------------------------------------------------------------- growth


async def test_growth_lifts_the_level_at_once(clock: FrozenClock) -> None:
    # given a ladder and a new member
    brand = await make_brand()
    await make_ladder(brand)
    member = await make_member(brand=brand)

    # when growth arrives in steps
    await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=999, key="o1")
    assert await level_name(member) == "普卡"
    entry = await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=1, key="o2")

    # then crossing 1000 makes them 银卡 straight away
    assert await level_name(member) == "银卡"
    assert (entry.growth_after, entry.year_growth_after) == (1000, 1000)
    await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=9000, key="o3")
    assert await level_name(member) == "金卡"


async def test_growth_replay_counts_once_and_is_not_points(clock: FrozenClock) -> None:
    brand = await make_brand()
    await make_ladder(brand)
    member = await make_member(brand=brand)
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=50, key="p")

    results = await asyncio.gather(
        *(
            levels.add_growth(brand_id=brand.id, member_id=member.id, amount=1500, key="order:1")
            for _ in range(10)
        )
    )

    fresh = await Member.get(id=member.id)
    assert len({entry.id for entry in results}) == 1
    assert (fresh.growth, fresh.year_growth, fresh.points_balance) == (1500, 1500, 50)
    assert await GrowthEntry.filter(member_id=member.id).count() == 1


@pytest.mark.parametrize("amount", [0, -10, 2.5, "10"])
async def test_bad_growth_is_refused_and_changes_nothing(clock: FrozenClock, amount) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    with pytest.raises(InvalidInput):
        await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=amount, key="k")

    assert (await Member.get(id=member.id)).growth == 0


async def test_growth_for_member_of_other_brand_is_not_found(clock: FrozenClock) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    member_b = await make_member(brand=brand_b)

    with pytest.raises(NotFound):
        await levels.add_growth(brand_id=brand_a.id, member_id=member_b.id, amount=5, key="k")

    assert (await Member.get(id=member_b.id)).growth == 0


async def test_a_merge_moves_growth_with_an_entry_on_each_side(clock: FrozenClock) -> None:
    # given a survivor with 10 growth and a duplicate of them with 7
    brand = await make_brand()
    survivor = await make_member(brand=brand)
    loser = await make_member(brand=brand)
    await levels.add_growth(brand_id=brand.id, member_id=survivor.id, amount=10, key="s")
    await levels.add_growth(brand_id=brand.id, member_id=loser.id, amount=7, key="l")

    # when they merge (and the merge is replayed)
    for _ in range(2):
        await merge.merge_members(
            brand_id=brand.id, survivor_id=survivor.id, loser_id=loser.id, reason="test"
        )

    # then each side's growth is still the sum of its growth ledger
    for member, growth in ((survivor, 17), (loser, 0)):
        fresh = await Member.get(id=member.id)
        deltas = await GrowthEntry.filter(member_id=member.id).values_list("delta", flat=True)
        assert (fresh.growth, fresh.year_growth, sum(deltas)) == (growth, growth, growth)
    moved_in = await GrowthEntry.get(member_id=survivor.id, kind=GrowthEntryKind.MERGE_IN)
    moved_out = await GrowthEntry.get(member_id=loser.id, kind=GrowthEntryKind.MERGE_OUT)
    assert (moved_in.delta, moved_in.growth_after, moved_in.year_growth_after) == (7, 17, 17)
    assert (moved_out.delta, moved_out.growth_after) == (-7, 0)


# ---------------------------------------------------------------- requalification


async def test_requalify_downgrades_those_short_and_resets_year_growth(clock: FrozenClock) -> None:
    # given three 金卡 members; in the new year one reaches 5000 again, one 1200, one nothing
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    brand = await make_brand()
    await make_ladder(brand)
    stays, slips, drops = [await make_member(brand=brand) for _ in range(3)]
    for member in (stays, slips, drops):
        await levels.add_growth(
            brand_id=brand.id, member_id=member.id, amount=6000, key=f"y1:{member.id}"
        )
    first = await levels.requalify_levels(
        brand_id=brand.id, now=datetime(2025, 12, 31, 16, 30, tzinfo=UTC)
    )  # already 2026 in Shanghai: everyone reached 金卡 in the year → all kept
    assert first["kept"] == 3
    await levels.add_growth(brand_id=brand.id, member_id=stays.id, amount=5000, key="y2:a")
    await levels.add_growth(brand_id=brand.id, member_id=slips.id, amount=1200, key="y2:b")

    # when the next year's requalification runs, twice
    clock.set(datetime(2027, 1, 1, 1, tzinfo=UTC))
    counts = await levels.requalify_levels(brand_id=brand.id)
    again = await levels.requalify_levels(brand_id=brand.id)

    # then 金卡 is kept by one, the others fall to what their year's growth reaches
    assert counts == {"kept": 1, "upgraded": 0, "downgraded": 2, "skipped": 0}
    assert again == {"kept": 0, "upgraded": 0, "downgraded": 0, "skipped": 3}
    assert [await level_name(m) for m in (stays, slips, drops)] == ["金卡", "银卡", "普卡"]
    fresh = [await Member.get(id=m.id) for m in (stays, slips, drops)]
    assert [m.year_growth for m in fresh] == [0, 0, 0]
    assert [m.growth for m in fresh] == [11000, 7200, 6000]


async def test_downgraded_member_is_not_lifted_back_by_lifetime_growth(
    clock: FrozenClock,
) -> None:
    brand = await make_brand()
    await make_ladder(brand)
    member = await make_member(brand=brand)
    await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=6000, key="a")
    clock.advance(days=400)
    await levels.requalify_levels(brand_id=brand.id)
    clock.advance(days=400)
    await levels.requalify_levels(brand_id=brand.id)
    assert await level_name(member) == "普卡"

    await levels.add_growth(brand_id=brand.id, member_id=member.id, amount=10, key="b")

    assert await level_name(member) == "普卡"
    progress = await levels.level_progress(brand_id=brand.id, member_id=member.id)
    assert progress.next_level is not None and progress.next_level.name == "银卡"
    assert progress.growth_to_next == 990


# ---------------------------------------------------------------- the ladder


async def test_ladder_rules(clock: FrozenClock) -> None:
    brand = await make_brand()

    with pytest.raises(Conflict) as error:
        await levels.create_level(brand_id=brand.id, name="银卡", rank=1, growth_threshold=100)
    assert error.value.code == "level.entry_level_missing"
    with pytest.raises(InvalidInput):
        await levels.create_level(brand_id=brand.id, name="普卡", rank=0, growth_threshold=10)

    ladder = await make_ladder(brand)

    with pytest.raises(Conflict) as error:
        await levels.create_level(brand_id=brand.id, name="又一个", rank=1, growth_threshold=2000)
    assert error.value.code == "level.rank_taken"
    with pytest.raises(Conflict) as error:
        await levels.create_level(brand_id=brand.id, name="钻卡", rank=3, growth_threshold=5000)
    assert error.value.code == "level.threshold_order"
    with pytest.raises(Conflict):
        await levels.update_level(
            brand_id=brand.id, level_id=ladder["银卡"].id, growth_threshold=6000
        )
    with pytest.raises(Conflict):
        await levels.update_level(brand_id=brand.id, level_id=ladder["普卡"].id, active=False)
    assert [lv.growth_threshold for lv in await levels.list_levels(brand_id=brand.id)] == [
        0,
        1000,
        5000,
    ]


async def test_admin_creates_and_edits_levels_over_http(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))

    entry = await api.post(
        "/admin/levels", {"name": "普卡", "rank": 0, "growth_threshold": 0}, token=token
    )
    silver = await api.post(
        "/admin/levels",
        {"name": "银卡", "rank": 1, "growth_threshold": 1000, "discount_pct": 95},
        token=token,
    )
    clash = await api.post(
        "/admin/levels", {"name": "x", "rank": 2, "growth_threshold": 500}, token=token
    )
    patched = await api.patch(
        f"/admin/levels/{silver.json['id']}",
        {"benefits": ["95折"], "growth_threshold": 1200},
        token=token,
    )
    listed = await api.get("/admin/levels", token=token)

    assert entry.status == 201, entry
    assert silver.status == 201, silver
    assert clash.status == 409 and clash.error_code == "level.threshold_order"
    assert patched.status == 200, patched
    assert patched.json["benefits"] == ["95折"]
    assert [(lv["name"], lv["growth_threshold"]) for lv in listed.json["items"]] == [
        ("普卡", 0),
        ("银卡", 1200),
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "rank": -1, "growth_threshold": 0},
        {"name": "x", "rank": "1", "growth_threshold": 10},
        {"name": "x", "rank": 1, "growth_threshold": -5},
        {"name": "", "rank": 0, "growth_threshold": 0},
        {"rank": 0, "growth_threshold": 0},
        {"name": "x", "rank": 0, "growth_threshold": 0, "discount_pct": 0},
    ],
)
async def test_bad_level_input_is_422(api: Api, clock: FrozenClock, payload: dict) -> None:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))

    answer = await api.post("/admin/levels", payload, token=token)

    assert answer.status == 422, answer
    assert answer.error_code == "request.invalid"
    assert await Level.filter(brand_id=brand.id).count() == 0


async def test_levels_admin_is_head_office_only_and_brand_scoped(
    api: Api, clock: FrozenClock
) -> None:
    brand_a = await make_brand()
    brand_b = await make_brand()
    ladder_b = await make_ladder(brand_b)
    manager_a = await make_staff(brand=brand_a, role=StaffRole.STORE_MANAGER)
    admin_a = await make_staff(brand=brand_a, role=StaffRole.HQ_ADMIN)
    member_a = await make_member(brand=brand_a)

    as_manager = await api.get("/admin/levels", token=staff_token(manager_a))
    as_member = await api.get("/admin/levels", token=member_token(member_a))
    listed = await api.get("/admin/levels", token=staff_token(admin_a))
    foreign = await api.patch(
        f"/admin/levels/{ladder_b['银卡'].id}", {"name": "hijacked"}, token=staff_token(admin_a)
    )

    assert (as_manager.status, as_member.status) == (403, 403)
    assert listed.json["items"] == []
    assert foreign.status == 404
    assert (await Level.get(id=ladder_b["银卡"].id)).name == "银卡"


async def test_members_see_their_brands_active_ladder(api: Api, clock: FrozenClock) -> None:
    # given two brands' ladders, one level of brand A retired, and a member of brand A
    brand_a, brand_b = await make_brand(), await make_brand()
    ladder_a = await make_ladder(brand_a)
    await make_ladder(brand_b)
    await levels.update_level(
        brand_id=brand_a.id, actor="test", level_id=ladder_a["金卡"].id, active=False
    )
    member = await make_member(brand=brand_a)
    staff = await make_staff(brand=brand_a, role=StaffRole.HQ_ADMIN)

    # when the member (and a staff member) ask for the ladder
    answer = await api.get("/levels", token=member_token(member))
    as_staff = await api.get("/levels", token=staff_token(staff))

    # then the member sees brand A's active levels, lowest first, with their thresholds
    assert answer.status == 200, answer
    assert [(step["name"], step["growth_threshold"]) for step in answer.json["items"]] == [
        ("普卡", 0),
        ("银卡", 1000),
    ]
    assert set(answer.json["items"][0]) == {
        "id", "name", "rank", "growth_threshold", "points_rate_pct", "discount_pct",
        "free_delivery", "benefits",
    }  # fmt: skip
    assert as_staff.status == 403
