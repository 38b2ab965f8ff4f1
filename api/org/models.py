"""Brands, stores, staff, WeChat/Alipay apps, merchant accounts and payment routes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Status(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class AttributionPolicy(StrEnum):
    FIRST_TOUCH = "first_touch"  # the first store or guide keeps the member for good
    WINDOW = "window"  # a new scan takes the member over once the window has passed
    LAST_TOUCH = "last_touch"  # the latest scan wins


DEFAULT_BRAND_SETTINGS: dict[str, object] = {
    "member_code_ttl_s": 60,
    "attribution_policy": AttributionPolicy.FIRST_TOUCH.value,
    "attribution_window_days": 30,
    # Points earned expire at the end of the year after the year they were earned in.
    "points_expiry_years": 1,
    "points_frozen_days": 7,
    "wallet_refund_principal_only": True,
    # A paid payment earns this many points per yuan, times the member's level rate.
    "points_per_yuan": 1,
    # An unpaid payment is closed at the platform after this many minutes.
    "payment_timeout_min": 30,
    # Head office addresses the daily reports (reconciliation) are e-mailed to.
    "report_emails": [],
    # A member-code payment above this waits for the member to confirm it in the mini-program.
    "member_code_pay_confirm_above_fen": 20_000,
    # Coupon templates a visitor gets one coupon of each when they become a member.
    "new_member_coupon_template_ids": [],
    # [{threshold_fen, template_id}]: a paid payment reaching a threshold earns that coupon.
    "payment_reward_rules": [],
    # Store managers may draft and run coupon templates for their own stores.
    "store_manager_coupon_templates": False,
    # Who bears the cost of a store manager's template (the manager does not choose).
    "store_manager_coupon_cost_bearer": "franchisee",
    # The member center the official account links to (welcome replies, keyword replies);
    # empty: memberhub's own H5 member center at the public base URL.
    "member_center_url": "",
    # An available coupon gets one reminder this many days before it expires (0: none).
    "coupon_expiry_reminder_days": 3,
    # The mini-program page a store's or guide's mini-program code opens (with its `scene`).
    "miniprogram_qrcode_page": "pages/index/index",
    # {event: {miniprogram: template id, official_account: template id}} for the member messages
    # (payment_success, points_earned, coupon_expiring, pickup_ready); see
    # api/wechat_callbacks/messages.py for the defaults and the data each template gets.
    "message_templates": {},
    # The member list the official account's "my members" staff command links to (empty: none).
    "staff_members_url": "",
    # The mall: points take money off an order (`points_per_yuan` points a yuan, at most
    # `max_pct` % of the goods; 0: points cannot be used), the delivery fee and the goods
    # amount from which delivery is free (null: never), and how long an unpaid order is held.
    "points_deduction": {"points_per_yuan": 100, "max_pct": 50},
    "mall_delivery_fee_fen": 1000,
    "mall_free_delivery_threshold_fen": 9900,
    "mall_order_timeout_min": 30,
    # A guide's order for a size the store lacks earns the member one coupon of this template
    # when it is paid (null: none).
    "o2o_compensation_template_id": None,
}


class Brand(Model):
    """A chain brand: the tenant every other row belongs to."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    settings: dict[str, Any] = fields.JSONField(default=dict)
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_brand"

    def setting(self, name: str) -> object:
        """A brand rule, falling back to the product default."""
        return self.settings.get(name, DEFAULT_BRAND_SETTINGS[name])


class WechatAppKind(StrEnum):
    MINIPROGRAM = "miniprogram"
    OFFICIAL_ACCOUNT = "official_account"


class MessageMode(StrEnum):
    PLAIN = "plain"
    COMPATIBLE = "compatible"
    SAFE = "safe"


class WechatApp(Model):
    """A mini-program or official account of the brand, its secrets encrypted at rest."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    kind = fields.CharEnumField(WechatAppKind, max_length=24)
    appid = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    secret_enc = fields.TextField()
    token_enc = fields.TextField(null=True)  # message push token
    aes_key_enc = fields.TextField(null=True)  # EncodingAESKey
    message_mode = fields.CharEnumField(MessageMode, max_length=16, default=MessageMode.PLAIN)
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_wechat_app"


class AlipayApp(Model):
    """An Alipay mini-program of the brand, its private key encrypted at rest."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    app_id = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    private_key_enc = fields.TextField()
    alipay_public_key = fields.TextField()
    aes_key_enc = fields.TextField(null=True)  # content encryption key (phone numbers)
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_alipay_app"


class StoreKind(StrEnum):
    DIRECT = "direct"
    FRANCHISE = "franchise"


class Store(Model):
    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=64)
    city = fields.CharField(max_length=32, default="")
    address = fields.CharField(max_length=255, default="")
    lat = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    lng = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    kind = fields.CharEnumField(StoreKind, max_length=16, default=StoreKind.DIRECT)
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_store"
        unique_together = (("brand", "code"),)


class StaffRole(StrEnum):
    HQ_ADMIN = "hq_admin"
    STORE_MANAGER = "store_manager"
    GUIDE = "guide"
    CASHIER = "cashier"


class Staff(Model):
    """Someone who works for the brand, signing in with a password hashed by argon2."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    username = fields.CharField(max_length=64)
    name = fields.CharField(max_length=64)
    role = fields.CharEnumField(StaffRole, max_length=16)
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", null=True, related_name=False
    )
    store_id: int | None
    guide_code = fields.CharField(max_length=16, null=True)
    password_hash = fields.CharField(max_length=255)
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    # Carried in every staff token; raised by a password or role change (or disabling), which
    # ends every token signed before. A counter, not a time: two changes in one second count.
    token_version = fields.IntField(default=0)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_staff"
        unique_together = (("brand", "username"), ("brand", "guide_code"))


class PaymentProvider(StrEnum):
    WECHATPAY_V3 = "wechatpay_v3"
    WECHATPAY_V2 = "wechatpay_v2"
    ALIPAY = "alipay"


class AccountMode(StrEnum):
    DIRECT = "direct"  # the brand's own merchant account
    PARTNER = "partner"  # WeChat Pay service provider, money to `sub_mchid`
    ISV = "isv"  # Alipay third-party app acting with the franchisee's `app_auth_token`


class MerchantAccount(Model):
    """Where the money of a store goes. Its key names it in callback URLs. Secrets never leave."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    key = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    provider = fields.CharEnumField(PaymentProvider, max_length=16)
    mode = fields.CharEnumField(AccountMode, max_length=16, default=AccountMode.DIRECT)
    mch_id = fields.CharField(max_length=32, default="")  # WeChat Pay merchant / partner id
    app_id = fields.CharField(max_length=32, default="")  # appid paid through / Alipay app id
    sub_mchid = fields.CharField(max_length=32, default="")
    sub_appid = fields.CharField(max_length=32, default="")
    secrets_enc = fields.TextField()  # encrypted JSON: keys, certificates, app_auth_token
    secret_names: list[Any] = fields.JSONField(default=list)  # which secrets are set, safe to show  # type: ignore[assignment]
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_merchant_account"


class StorePaymentRoute(Model):
    """Per store and provider, the merchant account that receives the money."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", related_name=False
    )
    store_id: int
    provider = fields.CharEnumField(PaymentProvider, max_length=16)
    account: fields.ForeignKeyRelation[MerchantAccount] = fields.ForeignKeyField(
        "memberhub.MerchantAccount", related_name=False
    )
    account_id: int
    status = fields.CharEnumField(Status, max_length=16, default=Status.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "org_store_payment_route"
        unique_together = (("store", "provider"),)
