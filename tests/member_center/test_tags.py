"""Tags: head office's groups and tags, tagging by head office, and guides tagging face to face."""

from __future__ import annotations

import asyncio

from api.core.clock import FrozenClock
from api.member_center import tags
from api.member_center.models import Member, MemberStatus, MemberTag, Tag, TagKind
from api.org.actor import Actor
from api.org.models import Brand, Staff, StaffRole, Store
from api.org.scope import StoreScope
from tests.factories import make_brand, make_member, make_staff, make_store, staff_token
from tests.support.api import Api


async def make_tag(
    brand: Brand, name: str, kind: TagKind = TagKind.MANUAL, **fields: object
) -> Tag:
    return await Tag.create(brand_id=brand.id, name=name, kind=kind, **fields)


async def store_member(brand: Brand, store: Store, **fields: object) -> Member:
    return await make_member(brand=brand, home_store_id=store.id, **fields)


async def carried(member: Member) -> list[str]:
    rows = (
        await MemberTag.filter(member_id=member.id)
        .order_by("tag__name")
        .values_list("tag__name", flat=True)
    )
    return list(rows)


async def guide_of(brand: Brand, store: Store) -> Staff:
    return await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G1")


# ---------------------------------------------------------------- groups and tags


async def test_head_office_manages_groups_and_tags(api: Api, clock: FrozenClock) -> None:
    # given head office of a brand
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand))

    # when they create a group and two tags in it
    group = await api.post("/admin/tag-groups", json={"name": "偏好"}, token=token)
    manual = await api.post(
        "/admin/tags", json={"name": "爱喝拿铁", "group_id": group.json["id"]}, token=token
    )
    guide = await api.post("/admin/tags", json={"name": "熟客", "kind": "guide"}, token=token)

    # then they are listed
    assert group.status == 201, group
    assert manual.status == 201, manual
    assert manual.json["kind"] == "manual" and manual.json["group_id"] == group.json["id"]
    assert guide.json["kind"] == "guide" and guide.json["active"] is True
    groups = await api.get("/admin/tag-groups", token=token)
    assert [g["name"] for g in groups.json["items"]] == ["偏好"]
    listed = await api.get("/admin/tags", token=token)
    assert {t["name"] for t in listed.json["items"]} == {"爱喝拿铁", "熟客"}
    only_guide = await api.get("/admin/tags", token=token, params={"kind": "guide"})
    assert [t["name"] for t in only_guide.json["items"]] == ["熟客"]


async def test_tag_rules(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    other = await make_brand()
    token = staff_token(await make_staff(brand=brand))
    foreign_group = await tags.create_tag_group(brand_id=other.id, name="外")
    await api.post("/admin/tags", json={"name": "VIP"}, token=token)

    auto = await api.post("/admin/tags", json={"name": "沉睡", "kind": "auto"}, token=token)
    duplicate = await api.post("/admin/tags", json={"name": "VIP"}, token=token)
    foreign = await api.post(
        "/admin/tags", json={"name": "X", "group_id": foreign_group.id}, token=token
    )
    blank = await api.post("/admin/tags", json={"name": "  "}, token=token)
    dup_group = await api.post("/admin/tag-groups", json={"name": "g"}, token=token)
    dup_group_again = await api.post("/admin/tag-groups", json={"name": "g"}, token=token)

    assert (auto.status, auto.error_code) == (422, "tag.kind_reserved")
    assert (duplicate.status, duplicate.error_code) == (409, "tag.name_taken")
    assert (foreign.status, foreign.error_code) == (422, "tag.unknown_group")
    assert blank.status == 422
    assert dup_group.status == 201
    assert (dup_group_again.status, dup_group_again.error_code) == (409, "tag_group.name_taken")


async def test_rename_and_deactivate_a_tag(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    other = await make_brand()
    token = staff_token(await make_staff(brand=brand))
    tag = await make_tag(brand, "old")
    foreign = await make_tag(other, "theirs")

    renamed = await api.patch(f"/admin/tags/{tag.id}", json={"name": "new"}, token=token)
    off = await api.patch(f"/admin/tags/{tag.id}", json={"active": False}, token=token)
    not_ours = await api.patch(f"/admin/tags/{foreign.id}", json={"name": "mine"}, token=token)

    assert renamed.json["name"] == "new"
    assert off.json["active"] is False and off.json["name"] == "new"
    assert (not_ours.status, not_ours.error_code) == (404, "tag.not_found")
    assert (await Tag.get(id=foreign.id)).name == "theirs"


async def test_only_head_office_manages_tags(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)

    answer = await api.post("/admin/tags", json={"name": "x"}, token=staff_token(manager))

    assert answer.status == 403
    assert not await Tag.exists(brand_id=brand.id)


# ---------------------------------------------------------------- head office tagging


async def test_head_office_tags_and_untags_a_member(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    token = staff_token(admin)
    vip, regular = await make_tag(brand, "VIP"), await make_tag(brand, "常客", TagKind.GUIDE)
    member = await make_member(brand=brand)

    first = await api.post(
        f"/admin/members/{member.id}/tags", json={"tag_ids": [vip.id, regular.id]}, token=token
    )
    again = await api.post(
        f"/admin/members/{member.id}/tags", json={"tag_ids": [vip.id]}, token=token
    )

    assert first.status == 200, first
    assert [t["name"] for t in again.json["tags"]] == ["VIP", "常客"]
    assert await MemberTag.filter(member_id=member.id).count() == 2
    row = await MemberTag.get(member_id=member.id, tag_id=vip.id)
    assert row.tagged_by == f"staff:{admin.id}"

    removed = await api.delete(f"/admin/members/{member.id}/tags/{vip.id}", token=token)
    removed_again = await api.delete(f"/admin/members/{member.id}/tags/{vip.id}", token=token)
    assert [t["name"] for t in removed.json["tags"]] == ["常客"]
    assert removed_again.status == 200
    assert await carried(member) == ["常客"]


async def test_head_office_tagging_refuses_bad_tags_and_members(
    api: Api, clock: FrozenClock
) -> None:
    brand = await make_brand()
    other = await make_brand()
    token = staff_token(await make_staff(brand=brand))
    auto = await make_tag(brand, "auto", TagKind.AUTO)
    inactive = await make_tag(brand, "off", active=False)
    vip = await make_tag(brand, "VIP")
    foreign_tag = await make_tag(other, "theirs")
    member = await make_member(brand=brand)
    foreign_member = await make_member(brand=other)
    merged = await make_member(brand=brand, status=MemberStatus.MERGED)

    def tag(member_id: int, tag_ids: list[object]):  # type: ignore[no-untyped-def]
        return api.post(f"/admin/members/{member_id}/tags", json={"tag_ids": tag_ids}, token=token)

    answers = {
        "auto": await tag(member.id, [auto.id]),
        "inactive": await tag(member.id, [inactive.id]),
        "foreign_tag": await tag(member.id, [foreign_tag.id]),
        "foreign_member": await tag(foreign_member.id, [vip.id]),
        "merged": await tag(merged.id, [vip.id]),
        "empty": await tag(member.id, []),
        "not_ints": await tag(member.id, ["a"]),
    }

    assert (answers["auto"].status, answers["auto"].error_code) == (422, "tag.kind_not_allowed")
    assert (answers["inactive"].status, answers["inactive"].error_code) == (422, "tag.unknown")
    assert (answers["foreign_tag"].status, answers["foreign_tag"].error_code) == (
        422,
        "tag.unknown",
    )
    assert (answers["foreign_member"].status, answers["foreign_member"].error_code) == (
        404,
        "member.not_found",
    )
    assert answers["merged"].status == 404
    assert answers["empty"].status == 422
    assert answers["not_ints"].status == 422
    assert await MemberTag.all().count() == 0


# ---------------------------------------------------------------- guides face to face


async def test_guide_tags_a_member_of_their_store(api: Api, clock: FrozenClock) -> None:
    # given a guide, a guide tag and a member of the guide's store
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await guide_of(brand, store)
    regular = await make_tag(brand, "熟客", TagKind.GUIDE)
    member = await store_member(brand, store)

    # when the guide tags them twice
    first = await api.post(
        f"/staff/members/{member.id}/tags", json={"tag_ids": [regular.id]}, token=staff_token(guide)
    )
    second = await api.post(
        f"/staff/members/{member.id}/tags", json={"tag_ids": [regular.id]}, token=staff_token(guide)
    )

    # then the member carries the tag once, set by that guide
    assert first.status == 200, first
    assert second.status == 200
    assert [t["name"] for t in second.json["tags"]] == ["熟客"]
    [row] = await MemberTag.filter(member_id=member.id)
    assert row.tagged_by == f"staff:{guide.id}"


async def test_concurrent_guide_tagging_keeps_one_row(clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await guide_of(brand, store)
    regular = await make_tag(brand, "熟客", TagKind.GUIDE)
    member = await store_member(brand, store)

    await asyncio.gather(
        *(
            tags.guide_tag_member(
                brand_id=brand.id,
                scope=StoreScope.stores(store.id),
                actor=Actor.of(guide).audit_name,
                member_id=member.id,
                tag_ids=[regular.id],
            )
            for _ in range(10)
        )
    )

    assert await MemberTag.filter(member_id=member.id).count() == 1


async def test_guide_tagging_rules(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    other = await make_brand()
    store, other_store = await make_store(brand=brand), await make_store(brand=brand)
    guide = await guide_of(brand, store)
    token = staff_token(guide)
    guide_tag = await make_tag(brand, "熟客", TagKind.GUIDE)
    manual = await make_tag(brand, "VIP")
    mine = await store_member(brand, store)
    theirs = await store_member(brand, other_store)
    unbound = await make_member(brand=brand)
    foreign = await make_member(brand=other)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)

    def tag(member_id: int, tag_ids: list[int], as_token: str = token):  # type: ignore[no-untyped-def]
        return api.post(
            f"/staff/members/{member_id}/tags", json={"tag_ids": tag_ids}, token=as_token
        )

    other_store_answer = await tag(theirs.id, [guide_tag.id])
    unbound_answer = await tag(unbound.id, [guide_tag.id])
    foreign_answer = await tag(foreign.id, [guide_tag.id])
    unknown_answer = await tag(999_999, [guide_tag.id])
    manual_answer = await tag(mine.id, [manual.id])
    cashier_answer = await tag(mine.id, [guide_tag.id], staff_token(cashier))

    assert (other_store_answer.status, other_store_answer.error_code) == (
        403,
        "member.not_in_your_store",
    )
    assert unbound_answer.status == 403
    assert (foreign_answer.status, foreign_answer.error_code) == (404, "member.not_found")
    assert unknown_answer.status == 404
    assert (manual_answer.status, manual_answer.error_code) == (422, "tag.kind_not_allowed")
    assert cashier_answer.status == 403
    assert await MemberTag.all().count() == 0
