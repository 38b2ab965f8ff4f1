"""Head office's member search: every filter, paging, store-manager scoping, brand isolation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api.core.clock import SHANGHAI, FrozenClock
from api.member_center import points, relations
from api.member_center.models import Level, Member, MemberStatus, MemberTag, Tag, TagKind
from api.org.models import Brand, Staff, StaffRole
from tests.factories import make_brand, make_member, make_staff, make_store, staff_token
from tests.support.api import Api


async def search(api: Api, staff: Staff, **params: Any) -> list[str]:
    """The nicknames a search answers with, newest first; asserts a 200."""
    answer = await api.get("/admin/members", token=staff_token(staff), params=params or None)
    assert answer.status == 200, answer
    return [item["nickname"] for item in answer.json["items"]]


async def tag(member: Member, *tags: Tag) -> None:
    for t in tags:
        await MemberTag.create(brand_id=member.brand_id, member_id=member.id, tag_id=t.id)


def shanghai(year: int, month: int, day: int, hour: int) -> datetime:
    """A UTC moment given as Shanghai wall time."""
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


async def test_list_shows_live_members_newest_first(api: Api, clock: FrozenClock) -> None:
    # given members in every state
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    await make_member(brand=brand, nickname="visitor", status=MemberStatus.VISITOR)
    member = await make_member(brand=brand, nickname="member", phone_masked="138****5678")
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=40, key="t:earn")
    await make_member(brand=brand, nickname="merged", status=MemberStatus.MERGED)
    await make_member(brand=brand, nickname="erased", status=MemberStatus.ERASED)

    # when head office lists them
    answer = await api.get("/admin/members", token=staff_token(admin))

    # then merged and erased members are never listed, and items carry the summary fields
    assert [i["nickname"] for i in answer.json["items"]] == ["member", "visitor"]
    item = answer.json["items"][0]
    assert set(item) == {
        "id",
        "member_no",
        "nickname",
        "status",
        "phone_masked",
        "level_id",
        "home_store_id",
        "guide_id",
        "points_balance",
        "registered_at",
        "tags",
    }
    assert (item["phone_masked"], item["points_balance"], item["tags"]) == ("138****5678", 40, [])
    assert answer.json["next_cursor"] is None


async def test_each_filter_narrows_the_list(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store_a, guide_code="G")
    gold = await Level.create(brand_id=brand.id, name="金卡", rank=1)
    vip = await Tag.create(brand_id=brand.id, name="VIP")
    latte = await Tag.create(brand_id=brand.id, name="拿铁", kind=TagKind.GUIDE)

    alice = await make_member(
        brand=brand,
        nickname="Alice",
        member_no="M000000000001",
        level_id=gold.id,
        registered_at=shanghai(2025, 3, 1, 0),  # 1 March, 00:00 in Shanghai = 28 Feb in UTC
    )
    bob = await make_member(brand=brand, nickname="Bob", registered_at=shanghai(2025, 3, 31, 23))
    await make_member(brand=brand, nickname="Carol", status=MemberStatus.VISITOR)
    await relations.apply_scene(brand_id=brand.id, member_id=alice.id, scene="g=G")
    await relations.apply_scene(
        brand_id=brand.id, member_id=bob.id, scene=relations.store_scene(store_b)
    )
    await tag(alice, vip, latte)
    await tag(bob, vip)

    assert await search(api, admin) == ["Carol", "Bob", "Alice"]
    assert await search(api, admin, tag_ids=f"{vip.id}") == ["Bob", "Alice"]
    assert await search(api, admin, tag_ids=f"{vip.id},{latte.id}") == ["Alice"]
    assert await search(api, admin, level_id=gold.id) == ["Alice"]
    assert await search(api, admin, store_id=store_b.id) == ["Bob"]
    assert await search(api, admin, guide_id=guide.id) == ["Alice"]
    assert await search(api, admin, status="visitor") == ["Carol"]
    assert await search(api, admin, status="member") == ["Bob", "Alice"]
    assert await search(api, admin, registered_from="2025-03-01") == ["Bob", "Alice"]
    assert await search(api, admin, registered_from="2025-03-02") == ["Bob"]
    assert await search(api, admin, registered_to="2025-02-28") == []
    assert await search(api, admin, registered_to="2025-03-31") == ["Bob", "Alice"]
    assert await search(api, admin, registered_to="2025-03-30") == ["Alice"]
    assert await search(api, admin, q="M000000000001") == ["Alice"]
    assert await search(api, admin, q="M0000") == []  # member numbers match exactly
    assert await search(api, admin, q="aro") == ["Carol"]
    assert await search(api, admin, q="ali", store_id=store_b.id) == []

    answer = await api.get("/admin/members", token=staff_token(admin), params={"q": "Alice"})
    assert sorted(answer.json["items"][0]["tags"]) == ["VIP", "拿铁"]


async def test_pages_walk_every_member_once(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    for i in range(7):
        await make_member(brand=brand, nickname=f"m{i}")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        answer = await api.get("/admin/members", token=staff_token(admin), params=params)
        seen += [item["nickname"] for item in answer.json["items"]]
        cursor = answer.json["next_cursor"]
        pages += 1
        if cursor is None:
            break

    assert pages == 3
    assert seen == [f"m{i}" for i in reversed(range(7))]


async def test_store_manager_sees_only_their_store(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store_a)
    ours = await make_member(brand=brand, nickname="ours", home_store_id=store_a.id)
    theirs = await make_member(brand=brand, nickname="theirs", home_store_id=store_b.id)
    await make_member(brand=brand, nickname="nobody's")

    assert await search(api, manager) == ["ours"]
    assert await search(api, manager, store_id=store_b.id) == []
    mine = await api.get(f"/admin/members/{ours.id}", token=staff_token(manager))
    other = await api.get(f"/admin/members/{theirs.id}", token=staff_token(manager))
    assert mine.status == 200
    assert (other.status, other.error_code) == (404, "member.not_found")


async def test_guides_and_cashiers_may_not_search(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store)

    answer = await api.get("/admin/members", token=staff_token(guide))

    assert answer.status == 403


async def test_brands_never_see_each_other(api: Api, clock: FrozenClock) -> None:
    brand: Brand = await make_brand()
    other = await make_brand()
    admin = await make_staff(brand=brand)
    await make_member(brand=brand, nickname="ours")
    foreign = await make_member(brand=other, nickname="theirs", member_no="MX1")
    foreign_tag = await Tag.create(brand_id=other.id, name="t")
    await tag(foreign, foreign_tag)

    assert await search(api, admin) == ["ours"]
    assert await search(api, admin, q="MX1") == []
    assert await search(api, admin, tag_ids=str(foreign_tag.id)) == []
    answer = await api.get(f"/admin/members/{foreign.id}", token=staff_token(admin))
    assert (answer.status, answer.error_code) == (404, "member.not_found")


async def test_member_page_carries_relation_history(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand(settings={"attribution_policy": "last_touch"})
    admin = await make_staff(brand=brand)
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    member = await make_member(brand=brand, nickname="m")
    token = staff_token(admin)  # before the clock moves: tokens are checked against real time
    await relations.apply_scene(
        brand_id=brand.id, member_id=member.id, scene=relations.store_scene(store_a)
    )
    clock.advance(minutes=1)
    await relations.apply_scene(
        brand_id=brand.id, member_id=member.id, scene=relations.store_scene(store_b)
    )

    answer = await api.get(f"/admin/members/{member.id}", token=token)

    assert answer.status == 200, answer
    assert answer.json["home_store_id"] == store_b.id
    history = answer.json["relations"]
    assert [(r["store_id"], r["ended_at"] is None) for r in history] == [
        (store_b.id, True),
        (store_a.id, False),
    ]
    assert history[0]["source"] == "store_qr"


@pytest.mark.parametrize(
    "params",
    [
        {"registered_from": "2025-13-01"},
        {"registered_to": "yesterday"},
        {"tag_ids": "1,x"},
        {"tag_ids": "0"},
        {"level_id": "gold"},
        {"store_id": "1.5"},
        {"guide_id": "-1"},
        {"status": "merged"},
        {"limit": "101"},
        {"limit": "0"},
        {"cursor": "not-a-cursor"},
        {"colour": "blue"},
    ],
)
async def test_bad_filters_answer_422(api: Api, clock: FrozenClock, params: dict[str, str]) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)

    answer = await api.get("/admin/members", token=staff_token(admin), params=params)

    assert answer.status == 422, answer
    assert answer.error_code in ("request.invalid", "request.invalid_cursor")
    assert "message" in answer.json["error"]
