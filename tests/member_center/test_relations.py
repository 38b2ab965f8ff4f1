"""Store and guide relations: scenes, attribution policies, history, reassignment, performance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from api.core.clock import FrozenClock
from api.core.models import AuditLog
from api.member_center import relations
from api.member_center.models import Member, MemberRelation, RelationSource
from api.org.models import Brand, Staff, StaffRole, Status, Store
from tests.factories import make_brand, make_member, make_staff, make_store, staff_token
from tests.support.api import Api


async def make_guide(brand: Brand, store: Store, code: str, **fields: object) -> Staff:
    return await make_staff(
        brand=brand, role=StaffRole.GUIDE, store=store, guide_code=code, **fields
    )


async def policy_brand(policy: str, **settings: object) -> Brand:
    return await make_brand(settings={"attribution_policy": policy, **settings})


async def scan(member: Member, scene: str | None) -> None:
    await relations.apply_scene(brand_id=member.brand_id, member_id=member.id, scene=scene)


async def bound(member: Member) -> tuple[int | None, int | None]:
    fresh = await Member.get(id=member.id)
    return fresh.home_store_id, fresh.guide_id


async def history(member: Member) -> list[MemberRelation]:
    return await MemberRelation.filter(member_id=member.id).order_by("id")


async def open_relations(member: Member) -> list[MemberRelation]:
    return await MemberRelation.filter(member_id=member.id, ended_at__isnull=True)


# ---------------------------------------------------------------- scenes


async def test_scene_builders_round_trip(clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand, code="SH001")
    guide = await make_guide(brand, store, "G7")

    assert relations.store_scene(store) == "s=SH001"
    assert relations.guide_scene(guide) == "g=G7"
    assert relations.parse_scene("qrscene_g=G7") == relations.Scene(kind="g", code="G7")
    assert relations.parse_scene("s%3DSH001") == relations.Scene(kind="s", code="SH001")


async def test_store_scene_binds_the_store(clock: FrozenClock) -> None:
    # given a member and a store QR code
    brand = await make_brand()
    store = await make_store(brand=brand)
    member = await make_member(brand=brand)

    # when the member opens the app from it
    await scan(member, relations.store_scene(store))

    # then the member belongs to that store, with no guide, and one history row says why
    assert await bound(member) == (store.id, None)
    [row] = await history(member)
    assert (row.store_id, row.guide_id, row.source, row.scene) == (
        store.id,
        None,
        RelationSource.STORE_QR,
        f"s={store.code}",
    )
    assert row.started_at == clock.now() and row.ended_at is None


async def test_guide_scene_binds_the_guide_and_their_store(clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await make_guide(brand, store, "G1")
    member = await make_member(brand=brand)

    await scan(member, "g=G1")

    assert await bound(member) == (store.id, guide.id)
    [row] = await history(member)
    assert row.source == RelationSource.GUIDE_QR


async def test_official_account_qrscene_prefix_is_stripped(clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await make_guide(brand, store, "G2")
    member = await make_member(brand=brand)

    await scan(member, "qrscene_g=G2")

    assert await bound(member) == (store.id, guide.id)
    assert (await history(member))[0].scene == "g=G2"


async def test_malformed_and_unknown_scenes_bind_nothing(clock: FrozenClock) -> None:
    brand = await make_brand()
    other = await make_brand()
    store = await make_store(brand=brand, code="S1")
    foreign_store = await make_store(brand=other, code="FX")
    await make_guide(other, foreign_store, "FG")
    member = await make_member(brand=brand)

    for scene in [
        None,
        "",
        "   ",
        "qrscene_",
        "s=",
        "g=",
        "x=S1",
        "S1",
        "s=NOPE",
        "g=NOPE",
        "s=FX",  # another brand's store
        "g=FG",  # another brand's guide
        "s=S1=S1",
        "s=" + "A" * 100,
        "%zz",
        12345,
        {"s": "S1"},
    ]:
        await scan(member, scene)  # type: ignore[arg-type]

    assert await bound(member) == (None, None)
    assert await history(member) == []
    assert store.id  # the brand's own store exists; only the scenes were wrong


async def test_disabled_guide_store_and_non_guides_are_ignored(clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    closed = await make_store(brand=brand, status=Status.DISABLED)
    await make_guide(brand, store, "GOFF", status=Status.DISABLED)
    await make_guide(brand, closed, "GCLOSED")
    await make_staff(brand=brand, role=StaffRole.CASHIER, store=store, guide_code="CASH")
    member = await make_member(brand=brand)

    for scene in ["g=GOFF", "g=GCLOSED", "g=CASH", relations.store_scene(closed)]:
        await scan(member, scene)

    assert await bound(member) == (None, None)
    assert await history(member) == []


# ---------------------------------------------------------------- attribution policies


async def test_first_touch_keeps_the_first_guide(clock: FrozenClock) -> None:
    # given a first-touch brand and a member bound to guide A
    brand = await policy_brand("first_touch")
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    guide_a = await make_guide(brand, store_a, "A")
    await make_guide(brand, store_b, "B")
    member = await make_member(brand=brand)
    await scan(member, "g=A")

    # when, much later, they scan guide B and store B
    clock.advance(days=400)
    await scan(member, "g=B")
    await scan(member, relations.store_scene(store_b))

    # then A keeps them, and nothing was added to the history
    assert await bound(member) == (store_a.id, guide_a.id)
    assert len(await history(member)) == 1


async def test_default_policy_is_first_touch(clock: FrozenClock) -> None:
    brand = await make_brand()
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    member = await make_member(brand=brand)

    await scan(member, relations.store_scene(store_a))
    await scan(member, relations.store_scene(store_b))

    assert await bound(member) == (store_a.id, None)


async def test_window_takes_over_only_after_the_window(clock: FrozenClock) -> None:
    # given a 7-day window and a member bound to guide A
    brand = await policy_brand("window", attribution_window_days=7)
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    guide_a = await make_guide(brand, store_a, "A")
    guide_b = await make_guide(brand, store_b, "B")
    member = await make_member(brand=brand)
    await scan(member, "g=A")

    # when B scans them inside the window, A keeps them
    clock.advance(days=6, hours=23)
    await scan(member, "g=B")
    assert await bound(member) == (store_a.id, guide_a.id)

    # and once the window has passed, B takes over
    clock.advance(hours=1)
    await scan(member, "g=B")
    assert await bound(member) == (store_b.id, guide_b.id)

    # and a new window starts from B's relation
    clock.advance(days=3)
    await scan(member, "g=A")
    assert await bound(member) == (store_b.id, guide_b.id)
    rows = await history(member)
    assert [(r.guide_id, r.ended_at is None) for r in rows] == [
        (guide_a.id, False),
        (guide_b.id, True),
    ]


async def test_last_touch_switches_and_keeps_history(clock: FrozenClock) -> None:
    brand = await policy_brand("last_touch")
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    guide_a = await make_guide(brand, store_a, "A")
    guide_b = await make_guide(brand, store_b, "B")
    member = await make_member(brand=brand)

    await scan(member, "g=A")
    first_at = clock.now()
    clock.advance(minutes=5)
    await scan(member, "g=B")
    switched_at = clock.now()

    assert await bound(member) == (store_b.id, guide_b.id)
    old, new = await history(member)
    assert (old.guide_id, old.started_at, old.ended_at) == (guide_a.id, first_at, switched_at)
    assert (new.guide_id, new.started_at, new.ended_at) == (guide_b.id, switched_at, None)


async def test_rescanning_the_same_guide_adds_no_history(clock: FrozenClock) -> None:
    brand = await policy_brand("last_touch")
    store = await make_store(brand=brand)
    guide = await make_guide(brand, store, "A")
    member = await make_member(brand=brand)

    await scan(member, "g=A")
    await scan(member, "g=A")
    await scan(member, relations.store_scene(store))  # the door QR does not strip the guide

    assert await bound(member) == (store.id, guide.id)
    assert len(await history(member)) == 1


async def test_a_guide_of_the_members_store_fills_the_empty_guide(clock: FrozenClock) -> None:
    brand = await policy_brand("first_touch")
    store = await make_store(brand=brand)
    guide = await make_guide(brand, store, "A")
    member = await make_member(brand=brand)

    await scan(member, relations.store_scene(store))
    await scan(member, "g=A")

    assert await bound(member) == (store.id, guide.id)
    assert len(await open_relations(member)) == 1


async def test_ten_concurrent_scans_leave_one_open_relation(clock: FrozenClock) -> None:
    # given a last-touch brand and ten guides
    brand = await policy_brand("last_touch")
    store = await make_store(brand=brand)
    guides = [await make_guide(brand, store, f"C{i}") for i in range(10)]
    member = await make_member(brand=brand)

    # when the member scans all ten at the same moment
    await asyncio.gather(*(scan(member, f"g={g.guide_code}") for g in guides))

    # then exactly one relation is open, and the member mirrors it
    [current] = await open_relations(member)
    assert await bound(member) == (current.store_id, current.guide_id)


async def test_concurrent_first_scans_bind_once(clock: FrozenClock) -> None:
    brand = await policy_brand("first_touch")
    stores = [await make_store(brand=brand) for _ in range(10)]
    member = await make_member(brand=brand)

    await asyncio.gather(*(scan(member, relations.store_scene(s)) for s in stores))

    assert len(await history(member)) == 1
    [current] = await open_relations(member)
    assert await bound(member) == (current.store_id, None)


async def test_bind_member_for_payments(clock: FrozenClock) -> None:
    brand = await make_brand()
    other = await make_brand()
    store = await make_store(brand=brand)
    foreign_store = await make_store(brand=other)
    member = await make_member(brand=brand)

    # another brand's store and an unknown source are ignored
    assert (
        await relations.bind_member(
            brand_id=brand.id,
            member_id=member.id,
            store_id=foreign_store.id,
            guide_id=None,
            source="payment",
        )
        is None
    )
    assert (
        await relations.bind_member(
            brand_id=brand.id, member_id=member.id, store_id=store.id, guide_id=None, source="x"
        )
        is None
    )

    relation = await relations.bind_member(
        brand_id=brand.id,
        member_id=member.id,
        store_id=store.id,
        guide_id=None,
        source=RelationSource.PAYMENT,
    )

    assert relation is not None and relation.source == RelationSource.PAYMENT
    assert await bound(member) == (store.id, None)


# ---------------------------------------------------------------- reassignment


async def reassign(api: Api, admin: Staff | str, guide: Staff, body: dict[str, object]):  # type: ignore[no-untyped-def]
    token = admin if isinstance(admin, str) else staff_token(admin)
    return await api.post(f"/admin/guides/{guide.id}/reassign", json=body, token=token)


async def test_reassign_moves_members_to_another_guide(api: Api, clock: FrozenClock) -> None:
    # given a leaving guide with two members, and a guide in another store
    brand = await make_brand()
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    leaving = await make_guide(brand, store_a, "L")
    taking = await make_guide(brand, store_b, "T")
    admin = await make_staff(brand=brand)
    members = [await make_member(brand=brand) for _ in range(2)]
    bystander = await make_member(brand=brand)
    for member in members:
        await scan(member, "g=L")
    await scan(bystander, "g=T")
    leaving.status = Status.DISABLED
    await leaving.save()

    # when head office moves them the next day (tokens are checked against the real time)
    token = staff_token(admin)
    clock.advance(days=1)
    answer = await reassign(api, token, leaving, {"to_guide_id": taking.id})

    # then both move, with the new guide's store, and the history keeps the old relation
    assert answer.status == 200, answer
    assert answer.json == {"moved": 2}
    for member in members:
        assert await bound(member) == (store_b.id, taking.id)
        old, new = await history(member)
        assert old.guide_id == leaving.id and old.ended_at == clock.now()
        assert new.source == RelationSource.ADMIN and new.ended_at is None
    assert len(await history(bystander)) == 1
    audit = await AuditLog.get(action="guide.reassign_members")
    assert audit.target == f"staff:{leaving.id}" and audit.details["moved"] == 2


async def test_reassign_without_target_leaves_members_with_the_store(
    api: Api, clock: FrozenClock
) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    leaving = await make_guide(brand, store, "L")
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)
    member = await make_member(brand=brand)
    await scan(member, "g=L")

    answer = await reassign(api, manager, leaving, {})

    assert answer.json == {"moved": 1}
    assert await bound(member) == (store.id, None)
    assert len(await history(member)) == 2


async def test_reassign_refuses_bad_targets_and_other_stores(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    other = await make_brand()
    store, store_b = await make_store(brand=brand), await make_store(brand=brand)
    leaving = await make_guide(brand, store, "L")
    disabled = await make_guide(brand, store, "D", status=Status.DISABLED)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    foreign = await make_guide(other, await make_store(brand=other), "F")
    admin = await make_staff(brand=brand)
    other_manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store_b)
    guide_token_holder = await make_guide(brand, store, "G")
    member = await make_member(brand=brand)
    await scan(member, "g=L")

    disabled_answer = await reassign(api, admin, leaving, {"to_guide_id": disabled.id})
    cashier_answer = await reassign(api, admin, leaving, {"to_guide_id": cashier.id})
    foreign_answer = await reassign(api, admin, leaving, {"to_guide_id": foreign.id})
    foreign_source = await reassign(api, admin, foreign, {})
    manager_answer = await reassign(api, other_manager, leaving, {})
    guide_answer = await reassign(api, guide_token_holder, leaving, {})
    bad_body = await reassign(api, admin, leaving, {"to_guide_id": "x"})

    assert (disabled_answer.status, disabled_answer.error_code) == (422, "guide.inactive")
    assert (cashier_answer.status, cashier_answer.error_code) == (422, "guide.not_a_guide")
    assert (foreign_answer.status, foreign_answer.error_code) == (404, "guide.not_found")
    assert (foreign_source.status, foreign_source.error_code) == (404, "guide.not_found")
    assert manager_answer.status == 403
    assert guide_answer.status == 403
    assert bad_body.status == 422
    assert await bound(member) == (store.id, leaving.id)
    assert len(await history(member)) == 1


# ---------------------------------------------------------------- performance


async def test_guide_performance_counts_live(api: Api, clock: FrozenClock) -> None:
    # given 10:00 in Shanghai on 15 March (tokens are checked against the real time)
    brand = await policy_brand("last_touch")
    store = await make_store(brand=brand)
    guide = await make_guide(brand, store, "P")
    colleague = await make_guide(brand, store, "Q")
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)
    last_month = await make_member(brand=brand)
    this_month = await make_member(brand=brand)
    today = [await make_member(brand=brand) for _ in range(2)]
    lost = await make_member(brand=brand)
    guide_token, manager_token = staff_token(guide), staff_token(manager)

    clock.set(datetime(2025, 2, 20, 2, 0, tzinfo=UTC))
    await scan(last_month, "g=P")
    clock.set(datetime(2025, 3, 3, 2, 0, tzinfo=UTC))
    await scan(this_month, "g=P")
    # 00:30 on 15 March in Shanghai is still 14 March in UTC
    clock.set(datetime(2025, 3, 14, 16, 30, tzinfo=UTC))
    for member in today:
        await scan(member, "g=P")
    await scan(lost, "g=P")
    await scan(lost, "g=Q")
    clock.set(datetime(2025, 3, 15, 2, 0, tzinfo=UTC))

    # when the guide and their manager look
    mine = await api.get("/staff/me/performance", token=guide_token)
    since = await api.get(
        "/staff/me/performance", token=guide_token, params={"since": "2025-03-01"}
    )
    store_figures = await api.get("/staff/me/performance", token=manager_token)

    # then members are current relations, new ones counted by Shanghai days
    assert mine.status == 200, mine
    assert mine.json == {
        "members": 4,
        "new_members_today": 2,
        "new_members_this_month": 3,
        "new_members_since": None,
        "since": None,
        "attributed_sales_fen": 0,
        "attributed_orders": 0,
    }
    assert since.json["new_members_since"] == 3 and since.json["since"] == "2025-03-01"
    assert store_figures.json["members"] == 5
    assert store_figures.json["new_members_today"] == 3
    assert colleague.id


async def test_performance_refuses_other_roles_and_bad_dates(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await make_guide(brand, store, "P")
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    admin = await make_staff(brand=brand)

    bad_date = await api.get(
        "/staff/me/performance", token=staff_token(guide), params={"since": "2025-02-30"}
    )
    as_cashier = await api.get("/staff/me/performance", token=staff_token(cashier))
    as_admin = await api.get("/staff/me/performance", token=staff_token(admin))

    assert (bad_date.status, bad_date.error_code) == (422, "request.invalid")
    assert as_cashier.status == 403
    assert as_admin.status == 403
