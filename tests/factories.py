"""Factories for the rows tests need: `await make_member(brand=brand, ...)`, not hand-built rows."""

from __future__ import annotations

import itertools
from typing import Any

from api.core.crypto import encrypt
from api.member_center import identity
from api.member_center.models import Member, MemberStatus
from api.org import accounts, staff_auth
from api.org.models import (
    AccountMode,
    Brand,
    MerchantAccount,
    PaymentProvider,
    Staff,
    StaffRole,
    Store,
    StoreKind,
    StorePaymentRoute,
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


_password_hash: str | None = None


async def password_hash() -> str:
    """PASSWORD's argon2 hash, computed once per run and shared by every staff member made here:
    argon2 costs a tenth of a second of CPU by design, and hundreds of tests make staff."""
    global _password_hash
    if _password_hash is None:
        _password_hash = await hash_password(PASSWORD)
    return _password_hash


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
        password_hash=fields.pop("password_hash", None) or await password_hash(),
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


# Merchant accounts the sandbox plays the platform for ------------------------------------------


def mch_id(number: int | None = None) -> str:
    """A WeChat Pay merchant id shaped like a real one (10 digits)."""
    return f"16{(number or next(_numbers)):08d}"


async def make_wechatpay_account(
    *,
    brand: Brand,
    app_id: str,
    provider: PaymentProvider = PaymentProvider.WECHATPAY_V3,
    mode: AccountMode = AccountMode.DIRECT,
    merchant: str | None = None,
    sub_mchid: str | None = None,
    sub_appid: str | None = None,
    verify_with: str = "public_key",
) -> MerchantAccount:
    """A WeChat Pay account with the sandbox's keys: v3 (platform public key, or `verify_with=
    "certificate"`) with its v2 key for payment codes, or v2 alone."""
    from sandbox import keys

    mchid = merchant or mch_id()
    secrets: dict[str, str | None] = {"api_key": keys.wechatpay_api_key(mchid)}
    if provider is PaymentProvider.WECHATPAY_V3:
        secrets |= {
            "api_v3_key": keys.wechatpay_api_v3_key(mchid),
            "private_key": keys.wechatpay_merchant_private_pem(),
            "cert_serial_no": keys.WECHATPAY_MERCHANT_SERIAL,
        }
        if verify_with == "certificate":
            secrets["platform_cert"] = keys.wechatpay_platform_cert_pem()
        else:
            secrets["platform_public_key"] = keys.wechatpay_platform_public_pem()
            secrets["platform_public_key_id"] = keys.WECHATPAY_PUBLIC_KEY_ID
    return await accounts.create_account(
        brand_id=brand.id,
        actor="system",
        name=f"wechatpay {mchid}",
        provider=provider,
        mode=mode,
        mch_id=mchid,
        app_id=app_id,
        sub_mchid=sub_mchid or (mch_id() if mode is AccountMode.PARTNER else None),
        sub_appid=sub_appid,
        secrets=secrets,
    )


def alipay_app_id(number: int | None = None) -> str:
    return f"2021{(number or next(_numbers)):012d}"


async def make_alipay_account(
    *, brand: Brand, app_id: str | None = None, app_auth_token: str | None = None
) -> MerchantAccount:
    """An Alipay account with the sandbox's keys: direct, or ISV with a franchisee's token."""
    from sandbox import keys

    app_id = app_id or alipay_app_id()
    secrets: dict[str, str | None] = {
        "private_key": keys.alipay_app_private_pem(),
        "alipay_public_key": keys.alipay_platform_public_pem(),
        "app_auth_token": app_auth_token,
    }
    return await accounts.create_account(
        brand_id=brand.id,
        actor="system",
        name=f"alipay {app_id}",
        provider=PaymentProvider.ALIPAY,
        mode=AccountMode.ISV if app_auth_token else AccountMode.DIRECT,
        mch_id=keys.alipay_seller_id(app_id, app_auth_token),
        app_id=app_id,
        secrets=secrets,
    )


async def route_store(*, store: Store, account: MerchantAccount) -> StorePaymentRoute:
    """Send the store's payments through `account` (its provider)."""
    return await StorePaymentRoute.create(
        brand_id=store.brand_id, store_id=store.id, provider=account.provider, account=account
    )


async def make_paid_payment(
    *, brand: Brand, amount_fen: int, member: Member | None = None, **fields: Any
) -> Any:
    """A payment paid just now (stored value at a till unless `fields` say otherwise)."""
    from api.core.ports import clock
    from api.payments.models import Payment, PaymentMethod, PaymentPurpose, PaymentState

    number = next(_numbers)
    now = clock().now()
    return await Payment.create(
        brand_id=brand.id,
        member_id=member.id if member else None,
        method=fields.pop("method", PaymentMethod.WALLET),
        purpose=fields.pop("purpose", PaymentPurpose.POS),
        out_trade_no=fields.pop("out_trade_no", f"T{number:012d}"),
        amount_fen=amount_fen,
        description=fields.pop("description", "test payment"),
        state=fields.pop("state", PaymentState.PAID),
        created_at=fields.pop("created_at", now),
        expires_at=fields.pop("expires_at", now),
        paid_at=fields.pop("paid_at", now),
        **fields,
    )
