"""The demo brand `make run` serves: apps, three stores (one franchise), accounts, staff.

Everything is created through the same services the admin API uses, so the demo data obeys
the same rules as a real brand's.
"""

from __future__ import annotations

import secrets
from typing import Any

from tortoise.transactions import in_transaction

from api.core.errors import Conflict
from config.settings import get_settings

from . import apps, schemas, stores
from .accounts import create_account, create_route, notify_url
from .actor import staff_ref
from .models import (
    AccountMode,
    Brand,
    MerchantAccount,
    PaymentProvider,
    Staff,
    StaffRole,
    StoreKind,
    StorePaymentRoute,
    WechatApp,
    WechatAppKind,
)
from .passwords import hash_password
from .staff_auth import staff_token

DEMO_BRAND = "demo"
MINIPROGRAM_APPID = "wxdeadbeef00000001"
OFFICIAL_ACCOUNT_APPID = "wxdeadbeef00000002"
ALIPAY_APP_ID = "2021000000000001"

STORES = (
    {"code": "SH001", "name": "南京西路店", "city": "上海", "kind": StoreKind.DIRECT,
     "address": "南京西路 1266 号", "lat": "31.229000", "lng": "121.455000"},
    {"code": "SH002", "name": "徐家汇店", "city": "上海", "kind": StoreKind.DIRECT,
     "address": "虹桥路 1 号", "lat": "31.195000", "lng": "121.437000"},
    {"code": "HZ001", "name": "杭州湖滨加盟店", "city": "杭州", "kind": StoreKind.FRANCHISE,
     "address": "湖滨路 28 号", "lat": "30.259000", "lng": "120.164000"},
)  # fmt: skip


def _wechatpay_secrets(mchid: str) -> dict[str, str | None]:
    """The keys the sandbox plays WeChat Pay with for this merchant (v3, and v2 for the till)."""
    from sandbox import keys

    return {
        "api_v3_key": keys.wechatpay_api_v3_key(mchid),
        "api_key": keys.wechatpay_api_key(mchid),
        "private_key": keys.wechatpay_merchant_private_pem(),
        "cert_serial_no": keys.WECHATPAY_MERCHANT_SERIAL,
        "platform_public_key": keys.wechatpay_platform_public_pem(),
        "platform_public_key_id": keys.WECHATPAY_PUBLIC_KEY_ID,
    }


def _alipay_secrets(*, app_auth_token: str | None = None) -> dict[str, str | None]:
    from sandbox import keys

    return {
        "private_key": keys.alipay_app_private_pem(),
        "alipay_public_key": keys.alipay_platform_public_pem(),
        "app_auth_token": app_auth_token,
    }


async def bootstrap_demo(*, once: bool = False) -> dict[str, Any]:
    """Create the demo brand (or, with `once`, find it) and describe it as JSON-ready data."""
    brand = await Brand.get_or_none(code=DEMO_BRAND)
    if brand is not None and not once:
        raise Conflict("demo.exists", "The demo brand exists already; use --once to print it.")
    if brand is None:
        async with in_transaction():
            brand = await _create_demo()
    return await _summary(brand)


async def _create_demo() -> Brand:
    from sandbox import keys

    brand = await Brand.create(code=DEMO_BRAND, name="Demo Bakery 示范烘焙", settings={})
    admin = await Staff.create(
        brand_id=brand.id,
        username="admin",
        name="Head office",
        role=StaffRole.HQ_ADMIN,
        password_hash=await hash_password(secrets.token_urlsafe(16)),
    )
    actor = staff_ref(admin.id)
    await apps.create_wechat_app(
        brand_id=brand.id,
        actor=actor,
        kind=WechatAppKind.MINIPROGRAM,
        appid=MINIPROGRAM_APPID,
        name="Demo mini-program",
        app_secret=keys.wechat_app_secret(MINIPROGRAM_APPID),
    )
    await apps.create_wechat_app(
        brand_id=brand.id,
        actor=actor,
        kind=WechatAppKind.OFFICIAL_ACCOUNT,
        appid=OFFICIAL_ACCOUNT_APPID,
        name="Demo official account",
        app_secret=keys.wechat_app_secret(OFFICIAL_ACCOUNT_APPID),
        push_token=secrets.token_hex(16),
        encoding_aes_key=secrets.token_urlsafe(48).replace("-", "a").replace("_", "b")[:43],
    )
    await apps.create_alipay_app(
        brand_id=brand.id,
        actor=actor,
        app_id=ALIPAY_APP_ID,
        name="Demo Alipay mini-program",
        app_private_key=keys.alipay_app_private_pem(),
        alipay_public_key=keys.alipay_platform_public_pem(),
        aes_key=keys.alipay_aes_key(ALIPAY_APP_ID),
    )
    hq_wechat = await create_account(
        brand_id=brand.id,
        actor=actor,
        name="Head office WeChat Pay",
        provider=PaymentProvider.WECHATPAY_V3,
        mch_id="1900000001",
        app_id=MINIPROGRAM_APPID,
        secrets=_wechatpay_secrets("1900000001"),
    )
    hq_alipay = await create_account(
        brand_id=brand.id,
        actor=actor,
        name="Head office Alipay",
        provider=PaymentProvider.ALIPAY,
        mch_id=keys.alipay_seller_id(ALIPAY_APP_ID),
        app_id=ALIPAY_APP_ID,
        secrets=_alipay_secrets(),
    )
    franchise_wechat = await create_account(
        brand_id=brand.id,
        actor=actor,
        name="Hangzhou franchisee WeChat Pay (service provider)",
        provider=PaymentProvider.WECHATPAY_V3,
        mode=AccountMode.PARTNER,
        mch_id="1900000002",
        app_id=MINIPROGRAM_APPID,
        sub_mchid="1900000003",
        secrets=_wechatpay_secrets("1900000002"),
    )
    franchise_token = "202611BBdemo" + secrets.token_hex(8)
    franchise_alipay = await create_account(
        brand_id=brand.id,
        actor=actor,
        name="Hangzhou franchisee Alipay (ISV)",
        provider=PaymentProvider.ALIPAY,
        mode=AccountMode.ISV,
        mch_id=keys.alipay_seller_id(ALIPAY_APP_ID, franchise_token),
        app_id=ALIPAY_APP_ID,
        secrets=_alipay_secrets(app_auth_token=franchise_token),
    )
    for spec in STORES:
        store = await stores.create_store(
            brand_id=brand.id, actor=actor, **schemas.StoreCreate.model_validate(spec).model_dump()
        )
        franchise = store.kind is StoreKind.FRANCHISE
        for account in (
            (franchise_wechat, franchise_alipay) if franchise else (hq_wechat, hq_alipay)
        ):
            await create_route(
                brand_id=brand.id,
                actor=actor,
                store_id=store.id,
                provider=account.provider,
                account_id=account.id,
            )
        suffix = store.code.lower()
        await Staff.create(
            brand_id=brand.id,
            username=f"cashier.{suffix}",
            name=f"{store.name} 收银",
            role=StaffRole.CASHIER,
            store_id=store.id,
            password_hash=await hash_password(secrets.token_urlsafe(16)),
        )
        await Staff.create(
            brand_id=brand.id,
            username=f"guide.{suffix}",
            name=f"{store.name} 导购",
            role=StaffRole.GUIDE,
            store_id=store.id,
            guide_code=f"G{store.code}",
            password_hash=await hash_password(secrets.token_urlsafe(16)),
        )
    return brand


async def _summary(brand: Brand) -> dict[str, Any]:
    base = get_settings().public_base_url
    admin = await Staff.get(brand_id=brand.id, username="admin")
    apps = {app.kind: app.appid for app in await WechatApp.filter(brand_id=brand.id)}
    accounts = {a.id: a for a in await MerchantAccount.filter(brand_id=brand.id)}
    routes = await StorePaymentRoute.filter(brand_id=brand.id).prefetch_related("store")
    staff = await Staff.filter(brand_id=brand.id).exclude(role=StaffRole.HQ_ADMIN).order_by("id")
    stores: dict[int, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: r.store_id):
        store = route.store
        entry = stores.setdefault(
            store.id,
            {"id": store.id, "code": store.code, "name": store.name, "kind": store.kind.value,
             "accounts": {}, "staff": []},
        )  # fmt: skip
        account = accounts[route.account_id]
        entry["accounts"][route.provider.value] = {
            "key": account.key,
            "mode": account.mode.value,
            "mch_id": account.mch_id,
            "sub_mchid": account.sub_mchid,
            "notify_url": notify_url(account),
        }
    for person in staff:
        if person.store_id in stores:
            stores[person.store_id]["staff"].append(
                {"id": person.id, "username": person.username, "role": person.role.value,
                 "guide_code": person.guide_code, "token": staff_token(person)}
            )  # fmt: skip
    return {
        "brand": {"id": brand.id, "code": brand.code, "name": brand.name},
        "miniprogram": {"appid": apps.get(WechatAppKind.MINIPROGRAM)},
        "official_account": {"appid": apps.get(WechatAppKind.OFFICIAL_ACCOUNT)},
        "alipay": {"app_id": ALIPAY_APP_ID},
        "stores": list(stores.values()),
        "hq_admin": {
            "id": admin.id,
            "username": admin.username,
            "token": staff_token(admin),
        },
        "urls": {
            "api": f"{base}/api/v1",
            "docs": f"{base}/docs",
            "openapi": f"{base}/docs/openapi.json",
            "readyz": f"{base}/readyz",
            "sandbox": f"{base}/sandbox" if get_settings().sandbox else None,
        },
    }
