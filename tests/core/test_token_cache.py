"""The verified-token cache: it only saves re-checking a signature, never decides who may call.

A token found in the cache is still refused when it has expired, when a password or role change
ended it, or when its holder was disabled; and what its holder may do follows their record.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from api.core import auth
from api.core.clock import FrozenClock
from api.org import staff_auth
from api.org.models import Staff, StaffRole
from config.settings import Settings
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api


async def cached_token(api: Api, staff: Staff) -> str:
    """A token that has been used once, so that its verification is now cached."""
    token = staff_token(staff)
    first = await api.get("/admin/brand", token=token)
    assert first.status == 200, first
    assert token in auth._VERIFIED
    return token


async def test_a_cached_token_ended_by_a_password_change_is_refused(api: Api) -> None:
    brand = await make_brand()
    admin, alice = await make_staff(brand=brand), await make_staff(brand=brand)
    token = await cached_token(api, alice)

    await api.patch(
        f"/admin/staff/{alice.id}", {"password": "another password"}, token=staff_token(admin)
    )
    answer = await api.get("/admin/brand", token=token)

    assert (answer.status, answer.error_code) == (401, "auth.token_revoked")


async def test_a_cached_token_of_a_disabled_staff_member_is_refused(api: Api) -> None:
    brand = await make_brand()
    admin, alice = await make_staff(brand=brand), await make_staff(brand=brand)
    token = await cached_token(api, alice)

    await api.patch(f"/admin/staff/{alice.id}", {"status": "disabled"}, token=staff_token(admin))
    answer = await api.get("/admin/brand", token=token)

    assert answer.status == 401
    assert answer.error_code in ("auth.token_revoked", "auth.staff_inactive")


async def test_a_cached_token_follows_the_holders_current_role(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    await make_staff(brand=brand)
    alice = await make_staff(brand=brand)
    token = await cached_token(api, alice)

    # the record changes without a token version change: the cache must not keep the old role
    await Staff.filter(id=alice.id).update(role=StaffRole.STORE_MANAGER, store_id=store.id)
    await staff_auth.remember_staff(await Staff.get(id=alice.id))
    as_manager = await api.get("/admin/brand", token=token)
    patched = await api.patch("/admin/brand", {"name": "renamed"}, token=token)

    assert as_manager.status == 200  # store managers may read the brand
    assert (patched.status, patched.error_code) == (403, "auth.role_forbidden")


async def test_a_cached_token_is_refused_once_it_expires(
    api: Api, clock: FrozenClock, settings: Settings
) -> None:
    # given a token signed so that it expires a second from now, used once (cached)
    brand = await make_brand()
    alice = await make_staff(brand=brand)
    clock.set(datetime.now(UTC) - timedelta(seconds=settings.staff_token_ttl_s - 1))
    token = await cached_token(api, alice)

    # when it is used again after its expiry
    await asyncio.sleep(1.2)
    answer = await api.get("/admin/brand", token=token)

    # then it is refused, and no longer cached
    assert (answer.status, answer.error_code) == (401, "auth.token_expired")
    assert token not in auth._VERIFIED
