"""Who may do what: roles and store scope judged on the staff member's current record, tokens
ended by a password or role change, and a brand never left without an active head-office admin."""

from __future__ import annotations

import asyncio

from api.core.auth import TokenKind, issue_token, verify_token
from api.core.errors import Conflict
from api.member_center.models import Level, Member, MemberRelation
from api.member_center.relations import apply_scene
from api.org import staff as staff_service
from api.org import staff_auth
from api.org.actor import staff_ref
from api.org.models import Staff, StaffRole, Status
from api.org.scope import StoreScope
from tests.factories import PASSWORD, make_brand, make_member, make_staff, make_store, staff_token
from tests.support.api import Api


async def admin_acts(api: Api, token: str, member: Member, level: Level) -> list[int]:
    """Three head-office-only things: adjust points, edit a level, create an hq_admin."""
    adjusted = await api.post(
        f"/admin/members/{member.id}/points-adjustments",
        {"delta": 5, "reason": "goodwill"},
        token=token,
        headers={"Idempotency-Key": "once"},
    )
    edited = await api.patch(f"/admin/levels/{level.id}", {"name": "hijacked"}, token=token)
    created = await api.post(
        "/admin/staff",
        {"username": "mallory", "name": "Mallory", "role": "hq_admin", "password": PASSWORD},
        token=token,
    )
    return [adjusted.status, edited.status, created.status]


async def nothing_changed(member: Member, level: Level) -> bool:
    fresh_member, fresh_level = await Member.get(id=member.id), await Level.get(id=level.id)
    return (
        fresh_member.points_balance == 0
        and fresh_level.name == level.name
        and not await Staff.exists(username="mallory")
    )


async def test_a_demoted_admin_loses_admin_rights_even_with_an_old_token(api: Api) -> None:
    # given two head-office admins, a member and a level; alice keeps a token from before
    brand = await make_brand()
    store = await make_store(brand=brand)
    alice = await make_staff(brand=brand)
    bob = await make_staff(brand=brand)
    member = await make_member(brand=brand)
    level = await Level.create(brand_id=brand.id, name="普通", rank=0, growth_threshold=0)
    old_token = staff_token(alice)

    # when bob demotes her to cashier
    demoted = await api.patch(
        f"/admin/staff/{alice.id}",
        {"role": "cashier", "store_id": store.id},
        token=staff_token(bob),
    )
    statuses = await admin_acts(api, old_token, member, level)
    revoked = await api.get("/admin/brand", token=old_token)

    # then her old token does nothing any more: a role change ends it
    assert demoted.status == 200, demoted
    assert statuses == [401, 401, 401]
    assert revoked.error_code == "auth.token_revoked"
    assert await nothing_changed(member, level)


async def test_roles_come_from_the_staff_record_not_the_token(api: Api) -> None:
    # given an admin's token, and the admin's record turned into a cashier's outside the API
    # (no token version change), with the cached snapshot refreshed
    brand = await make_brand()
    store = await make_store(brand=brand)
    alice = await make_staff(brand=brand)
    await make_staff(brand=brand)
    member = await make_member(brand=brand)
    level = await Level.create(brand_id=brand.id, name="普通", rank=0, growth_threshold=0)
    token = staff_token(alice)
    await Staff.filter(id=alice.id).update(role=StaffRole.CASHIER, store_id=store.id)
    await staff_auth.remember_staff(await Staff.get(id=alice.id))

    # when the token is used for head-office work
    statuses = await admin_acts(api, token, member, level)

    # then the route guard judges her current role: forbidden, nothing changed
    assert statuses == [403, 403, 403]
    assert await nothing_changed(member, level)


async def test_a_promoted_cashier_gets_the_new_role_with_a_new_token(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    admin = await make_staff(brand=brand)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    old_token = staff_token(cashier)

    promoted = await api.patch(
        f"/admin/staff/{cashier.id}", {"role": "store_manager"}, token=staff_token(admin)
    )
    with_old = await api.get("/admin/stores", token=old_token)
    with_new = await api.get("/admin/stores", token=staff_token(await Staff.get(id=cashier.id)))

    assert promoted.status == 200, promoted
    assert (with_old.status, with_old.error_code) == (401, "auth.token_revoked")
    assert with_new.status == 200
    assert [s["id"] for s in with_new.json["items"]] == [store.id]


# ---------------------------------------------------------------- token versions


async def test_a_password_change_ends_old_tokens_and_sign_in_works_again(api: Api) -> None:
    brand = await make_brand(code="acme")
    admin = await make_staff(brand=brand)
    alice = await make_staff(brand=brand, username="alice")
    old_token = staff_token(alice)
    before = await api.get("/admin/brand", token=old_token)

    changed = await api.patch(
        f"/admin/staff/{alice.id}", {"password": "a brand new password"}, token=staff_token(admin)
    )
    after = await api.get("/admin/brand", token=old_token)
    signed_in = await api.post(
        "/auth/staff/login",
        {"brand": "acme", "username": "alice", "password": "a brand new password"},
    )

    assert before.status == 200
    assert changed.status == 200
    assert (after.status, after.error_code) == (401, "auth.token_revoked")
    assert signed_in.status == 200
    assert (await api.get("/admin/brand", token=signed_in.json["token"])).status == 200


async def test_other_changes_keep_tokens(api: Api) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    alice = await make_staff(brand=brand)
    token = staff_token(alice)

    renamed = await api.patch(
        f"/admin/staff/{alice.id}", {"name": "Alice"}, token=staff_token(admin)
    )
    same_role = await api.patch(
        f"/admin/staff/{alice.id}", {"role": "hq_admin"}, token=staff_token(admin)
    )

    assert renamed.status == same_role.status == 200
    assert (await api.get("/admin/brand", token=token)).status == 200


async def test_two_changes_in_the_same_second_each_end_the_tokens_before(api: Api) -> None:
    # a counter, not the issue time: tokens signed within the same second are told apart
    brand = await make_brand()
    store = await make_store(brand=brand)
    admin = await make_staff(brand=brand)
    alice = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    admin_token = staff_token(admin)

    await api.patch(
        f"/admin/staff/{alice.id}", {"password": "first new password"}, token=admin_token
    )
    between = staff_token(await Staff.get(id=alice.id))
    still = await api.get("/staff/me/performance", token=between)
    await api.patch(
        f"/admin/staff/{alice.id}", {"password": "second new password"}, token=admin_token
    )
    after = await api.get("/staff/me/performance", token=between)

    assert verify_token(between).version == 1
    assert still.status == 403  # a cashier has no figures, but the token itself was good
    assert (after.status, after.error_code) == (401, "auth.token_revoked")


async def test_a_token_without_a_version_is_refused_once_the_version_moved(api: Api) -> None:
    brand = await make_brand()
    alice = await make_staff(brand=brand, token_version=3)
    unversioned = issue_token(kind=TokenKind.STAFF, subject_id=alice.id, brand_id=brand.id)

    answer = await api.get("/admin/brand", token=unversioned)

    assert (answer.status, answer.error_code) == (401, "auth.token_revoked")


# ---------------------------------------------------------------- the last head-office admin


async def test_the_only_admin_cannot_demote_or_disable_themselves(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    alice = await make_staff(brand=brand)
    token = staff_token(alice)

    demoted = await api.patch(
        f"/admin/staff/{alice.id}", {"role": "store_manager", "store_id": store.id}, token=token
    )
    disabled = await api.patch(f"/admin/staff/{alice.id}", {"status": "disabled"}, token=token)

    assert (demoted.status, demoted.error_code) == (409, "staff.last_hq_admin")
    assert (disabled.status, disabled.error_code) == (409, "staff.cannot_disable_self")
    fresh = await Staff.get(id=alice.id)
    assert (fresh.role, fresh.status, fresh.store_id) == (StaffRole.HQ_ADMIN, Status.ACTIVE, None)
    assert (await api.get("/admin/brand", token=token)).status == 200


async def test_an_admin_may_step_down_when_another_remains(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    alice = await make_staff(brand=brand)
    bob = await make_staff(brand=brand)
    disabled_admin = await make_staff(brand=brand, status=Status.DISABLED)

    stepped_down = await api.patch(
        f"/admin/staff/{alice.id}",
        {"role": "store_manager", "store_id": store.id},
        token=staff_token(alice),
    )
    last = await api.patch(
        f"/admin/staff/{bob.id}",
        {"role": "store_manager", "store_id": store.id},
        token=staff_token(bob),
    )

    assert stepped_down.status == 200, stepped_down
    assert (last.status, last.error_code) == (409, "staff.last_hq_admin")
    assert disabled_admin.status == Status.DISABLED  # a disabled admin does not count


async def test_two_admins_demoting_each_other_at_once_leave_one(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    alice, bob = await make_staff(brand=brand), await make_staff(brand=brand)
    demote = {"role": "store_manager", "store_id": store.id}

    answers = await asyncio.gather(
        api.patch(f"/admin/staff/{bob.id}", demote, token=staff_token(alice)),
        api.patch(f"/admin/staff/{alice.id}", demote, token=staff_token(bob)),
    )

    statuses = sorted(a.status for a in answers)
    assert statuses[0] == 200 and statuses[1] in (401, 409), answers
    assert (
        await Staff.filter(brand_id=brand.id, role=StaffRole.HQ_ADMIN, status=Status.ACTIVE).count()
        == 1
    )


async def test_concurrent_demotions_never_leave_a_brand_without_an_admin() -> None:
    # straight at the service, so that both changes pass the route guard: the brand row lock
    # (PostgreSQL) and the serialised transactions (SQLite) let only one through
    brand = await make_brand()
    store = await make_store(brand=brand)
    admins = [await make_staff(brand=brand) for _ in range(2)]

    async def demote(by: Staff, whom: Staff) -> Staff:
        return await staff_service.update_staff(
            brand_id=brand.id,
            scope=StoreScope.brand(),
            actor=staff_ref(by.id),
            staff_id=whom.id,
            role=StaffRole.STORE_MANAGER,
            store_id=store.id,
        )

    for _ in range(5):
        results = await asyncio.gather(
            demote(admins[0], admins[1]), demote(admins[1], admins[0]), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, Conflict)]
        assert len(refused) == 1 and refused[0].code == "staff.last_hq_admin", results
        active = Staff.filter(brand_id=brand.id, role=StaffRole.HQ_ADMIN, status=Status.ACTIVE)
        assert await active.count() == 1
        await Staff.filter(brand_id=brand.id).update(role=StaffRole.HQ_ADMIN, store_id=None)


# ---------------------------------------------------------------- store scope


async def test_a_store_manager_moves_members_only_to_a_guide_of_their_own_store(
    api: Api,
) -> None:
    # given a manager of store A, a leaving guide of store A with a member, a guide of store B
    brand = await make_brand()
    store_a, store_b = await make_store(brand=brand), await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store_a)
    leaving = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store_a, guide_code="L")
    same_store = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store_a, guide_code="S")
    elsewhere = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store_b, guide_code="E")
    member = await make_member(brand=brand)
    await apply_scene(brand_id=brand.id, member_id=member.id, scene="g=L")
    token = staff_token(manager)

    # when the manager moves the member to store B's guide, then to their own store's guide
    refused = await api.post(
        f"/admin/guides/{leaving.id}/reassign", json={"to_guide_id": elsewhere.id}, token=token
    )
    relations_after_refusal = await MemberRelation.filter(member_id=member.id).count()
    moved = await api.post(
        f"/admin/guides/{leaving.id}/reassign", json={"to_guide_id": same_store.id}, token=token
    )

    # then the first is refused and changes nothing; the second moves the member
    assert (refused.status, refused.error_code) == (403, "guide.not_in_your_store")
    assert relations_after_refusal == 1
    assert moved.json == {"moved": 1}
    fresh = await Member.get(id=member.id)
    assert (fresh.home_store_id, fresh.guide_id) == (store_a.id, same_store.id)
