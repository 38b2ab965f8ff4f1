"""Factories for the rows tests need: `await make_member(brand=brand, ...)`, not hand-built rows."""

from __future__ import annotations

import itertools
from typing import Any

from api.core.crypto import encrypt
from api.member_center import identity
from api.member_center.models import Member, MemberStatus
from api.org import staff_auth
from api.org.models import (
    Brand,
    Staff,
    StaffRole,
    Store,
    StoreKind,
    WechatApp,
    WechatAppKind,
)
from api.org.passwords import hash_password

_numbers = itertools.count(1)

PASSWORD = "correct horse battery staple"


async def make_brand(**fields: Any) -> Brand:
    number = next(_numbers)
    return await Brand.create(
        code=fields.pop("code", f"brand{number}"),
        name=fields.pop("name", f"Brand {number}"),
        settings=fields.pop("settings", {}),
        **fields,
    )


async def make_store(*, brand: Brand, **fields: Any) -> Store:
    number = next(_numbers)
    return await Store.create(
        brand_id=brand.id,
        code=fields.pop("code", f"S{number:04d}"),
        name=fields.pop("name", f"Store {number}"),
        city=fields.pop("city", "上海"),
        kind=fields.pop("kind", StoreKind.DIRECT),
        **fields,
    )


async def make_staff(
    *, brand: Brand, role: StaffRole = StaffRole.HQ_ADMIN, store: Store | None = None, **fields: Any
) -> Staff:
    number = next(_numbers)
    return await Staff.create(
        brand_id=brand.id,
        username=fields.pop("username", f"staff{number}"),
        name=fields.pop("name", f"Staff {number}"),
        role=role,
        store_id=store.id if store else None,
        password_hash=fields.pop("password_hash", None) or await hash_password(PASSWORD),
        **fields,
    )


def wechat_appid(number: int) -> str:
    return f"wx{number:016x}"


async def make_wechat_app(
    *, brand: Brand, kind: WechatAppKind = WechatAppKind.MINIPROGRAM, **fields: Any
) -> WechatApp:
    from sandbox.keys import wechat_app_secret

    appid = fields.pop("appid", None) or wechat_appid(next(_numbers) + 0xA0000)
    return await WechatApp.create(
        brand_id=brand.id,
        kind=kind,
        appid=appid,
        name=fields.pop("name", f"app {appid}"),
        secret_enc=encrypt(fields.pop("secret", None) or wechat_app_secret(appid)),
        **fields,
    )


async def make_member(
    *, brand: Brand, status: MemberStatus = MemberStatus.MEMBER, **fields: Any
) -> Member:
    """A member of `brand` with no ledgers; balances are set through the services, not here."""
    number = next(_numbers)
    return await Member.create(
        brand_id=brand.id,
        member_no=fields.pop("member_no", f"T{number:010d}"),
        status=status,
        nickname=fields.pop("nickname", f"member {number}"),
        **fields,
    )


# Tokens are signed by the same functions the sign-in routes use.
member_token = identity.member_token
staff_token = staff_auth.staff_token
