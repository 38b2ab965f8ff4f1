"""What crosses the wire for the org domain. Secrets go in, never out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.core.fields import Change, Cursor, Id, Len, Line, Omittable, Pem, Verbatim
from api.core.pagination import Page

from .models import (
    AccountMode,
    AttributionPolicy,
    MessageMode,
    PaymentProvider,
    StaffRole,
    Status,
    StoreKind,
    WechatAppKind,
)

# Sizes are those of the columns the values are stored in (api/org/models.py).
Name = Annotated[str, Line, Len(1, 64)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
City = Annotated[str, Line, Len(0, 32)]
Address = Annotated[str, Line, Len(0, 255)]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
GuideCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,16}$")]
WechatAppId = Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")]
AlipayAppId = Annotated[str, StringConstraints(pattern=r"^20[0-9]{14}$")]
Password = Annotated[str, Verbatim, Len(8, 128)]
AppSecret = Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{32}$")]
PushToken = Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{3,32}$")]
EncodingAesKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{43}$")]
PrivateKeyPem = Annotated[str, Pem, Len(100, 8000)]
PublicKeyPem = Annotated[str, Pem, Len(100, 4000)]
# The Alipay console's AES key: base64 of 16 bytes.
AesKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{22}==$")]
MchId = Annotated[str, StringConstraints(pattern=r"^[0-9]{8,12}$")]
# WeChat Pay's mchid / sp_mchid (8–12 digits), or Alipay's seller id (the PID: 2088 + 12 digits).
MerchantId = Annotated[str, StringConstraints(pattern=r"^([0-9]{8,12}|2088[0-9]{12})$")]
Lat = Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)]
Lng = Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FromRow(BaseModel):
    """An answer read off a row's attributes: `StoreOut.of(store)`."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls.model_validate(row)


# Brand -------------------------------------------------------------------------------------

# An e-mail address (ASCII, no display name), as long as a mailbox and a domain may be.
ReportEmail = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$"
    ),
    Len(6, 254),
]


class PaymentRewardRule(Strict):
    """A paid payment of at least `threshold_fen` earns one coupon of `template_id`."""

    threshold_fen: Annotated[int, Field(ge=1, le=100_000_000)]
    template_id: Id


class PointsDeduction(Strict):
    """`points_per_yuan` points take one yuan off a mall order, at most `max_pct` % of it."""

    points_per_yuan: Annotated[int, Field(ge=1, le=100_000)]
    max_pct: Annotated[int, Field(ge=0, le=100)]


class BrandSettingsIn(Change):
    member_code_ttl_s: Omittable[Annotated[int, Field(ge=15, le=600)]] = None
    attribution_policy: Omittable[AttributionPolicy] = None
    attribution_window_days: Omittable[Annotated[int, Field(ge=1, le=3650)]] = None
    points_expiry_years: Omittable[Annotated[int, Field(ge=0, le=10)]] = None
    points_frozen_days: Omittable[Annotated[int, Field(ge=0, le=90)]] = None
    wallet_refund_principal_only: Omittable[bool] = None
    points_per_yuan: Omittable[Annotated[int, Field(ge=0, le=100)]] = None
    payment_timeout_min: Omittable[Annotated[int, Field(ge=5, le=1440)]] = None
    report_emails: Omittable[
        Annotated[list[ReportEmail], Field(max_length=20, description="where daily reports go")]
    ] = None
    member_code_pay_confirm_above_fen: Omittable[Annotated[int, Field(ge=0, le=100_000_000)]] = None
    new_member_coupon_template_ids: Omittable[
        Annotated[list[Id], Field(max_length=10, description="one coupon of each to a new member")]
    ] = None
    payment_reward_rules: Omittable[
        Annotated[list[PaymentRewardRule], Field(max_length=10, description="every rule reached")]
    ] = None
    store_manager_coupon_templates: Omittable[bool] = None
    store_manager_coupon_cost_bearer: Omittable[Literal["brand", "franchisee"]] = None
    member_center_url: Omittable[
        Annotated[str, Field(max_length=512, pattern=r"^(https?://[^\s]+)?$")]
    ] = None
    coupon_expiry_reminder_days: Omittable[Annotated[int, Field(ge=0, le=30)]] = None
    miniprogram_qrcode_page: Omittable[
        Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_/-]*$")]
    ] = None
    message_templates: Omittable[
        dict[
            Literal["payment_success", "points_earned", "coupon_expiring", "pickup_ready"],
            dict[
                Literal["miniprogram", "official_account"],
                Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
            ],
        ]
    ] = None
    staff_members_url: Omittable[
        Annotated[str, Field(max_length=512, pattern=r"^(https?://[^\s]+)?$")]
    ] = None
    points_deduction: Omittable[PointsDeduction] = None
    mall_delivery_fee_fen: Omittable[Annotated[int, Field(ge=0, le=1_000_000)]] = None
    mall_free_delivery_threshold_fen: Omittable[Annotated[int, Field(ge=0, le=100_000_000)]] = None
    mall_order_timeout_min: Omittable[Annotated[int, Field(ge=5, le=1440)]] = None
    o2o_compensation_template_id: Omittable[Id] = None


class BrandUpdate(Change):
    name: Omittable[Name] = None
    settings: Omittable[BrandSettingsIn] = None


class BrandCreate(Strict):
    code: Code
    name: Name


class BrandOut(FromRow):
    id: int
    code: str
    name: str
    settings: dict[str, Any]
    status: Status


# Stores ------------------------------------------------------------------------------------


class StoreCreate(Strict):
    code: Code
    name: Name
    city: City = ""
    address: Address = ""
    lat: Lat | None = None
    lng: Lng | None = None
    kind: StoreKind = StoreKind.DIRECT


class StoreUpdate(Change):
    name: Omittable[Name] = None
    city: Omittable[City] = None
    address: Omittable[Address] = None
    lat: Lat | None = None  # null: the position is not known
    lng: Lng | None = None
    kind: Omittable[StoreKind] = None
    status: Omittable[Status] = None


class StoreOut(FromRow):
    id: int
    code: str
    name: str
    city: str
    address: str
    lat: Decimal | None
    lng: Decimal | None
    kind: StoreKind
    status: Status
    created_at: datetime


class StoreFilter(BaseModel):
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)
    status: Status | None = None
    kind: StoreKind | None = None
    city: City | None = None


# Staff -------------------------------------------------------------------------------------


class StaffCreate(Strict):
    username: Username
    name: Name
    role: StaffRole
    store_id: Id | None = None
    guide_code: GuideCode | None = None
    password: Password


class StaffUpdate(Change):
    name: Omittable[Name] = None
    role: Omittable[StaffRole] = None
    store_id: Id | None = None  # null: head office staff, who belong to no store
    guide_code: GuideCode | None = None  # null: takes the guide code away
    password: Omittable[Password] = None
    status: Omittable[Status] = None


class StaffOut(FromRow):
    id: int
    username: str
    name: str
    role: StaffRole
    store_id: int | None
    guide_code: str | None
    status: Status
    last_login_at: datetime | None
    created_at: datetime


class StaffFilter(BaseModel):
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)
    role: StaffRole | None = None
    store_id: Id | None = None
    status: Status | None = None


class StaffLoginIn(Strict):
    brand: Code
    username: Annotated[str, Verbatim, Len(1, 64)]
    password: Annotated[str, Verbatim, Len(1, 128)]


class StaffLoginOut(BaseModel):
    token: str
    staff: StaffOut


# Platform apps -----------------------------------------------------------------------------


class WechatAppCreate(Strict):
    kind: WechatAppKind
    appid: WechatAppId
    name: Name
    app_secret: AppSecret
    push_token: PushToken | None = None
    encoding_aes_key: EncodingAesKey | None = None
    message_mode: MessageMode = MessageMode.PLAIN


class WechatAppUpdate(Change):
    name: Omittable[Name] = None
    app_secret: Omittable[AppSecret] = None
    push_token: Omittable[PushToken] = None
    encoding_aes_key: Omittable[EncodingAesKey] = None
    message_mode: Omittable[MessageMode] = None
    status: Omittable[Status] = None


class WechatAppOut(FromRow):
    id: int
    kind: WechatAppKind
    appid: str
    name: str
    message_mode: MessageMode
    has_push_token: bool
    has_encoding_aes_key: bool
    status: Status

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            kind=row.kind,
            appid=row.appid,
            name=row.name,
            message_mode=row.message_mode,
            has_push_token=row.token_enc is not None,
            has_encoding_aes_key=row.aes_key_enc is not None,
            status=row.status,
        )


class AlipayAppCreate(Strict):
    app_id: AlipayAppId
    name: Name
    app_private_key: PrivateKeyPem
    alipay_public_key: PublicKeyPem
    aes_key: AesKey | None = None


class AlipayAppUpdate(Change):
    name: Omittable[Name] = None
    app_private_key: Omittable[PrivateKeyPem] = None
    alipay_public_key: Omittable[PublicKeyPem] = None
    aes_key: Omittable[AesKey] = None
    status: Omittable[Status] = None


class AlipayAppOut(FromRow):
    id: int
    app_id: str
    name: str
    has_aes_key: bool
    status: Status

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls(
            id=row.id,
            app_id=row.app_id,
            name=row.name,
            has_aes_key=row.aes_key_enc is not None,
            status=row.status,
        )


# Merchant accounts and routes --------------------------------------------------------------


class AccountSecrets(Strict):
    """Keys and certificates of a merchant account. Stored encrypted; never shown again."""

    api_v3_key: Annotated[str, Verbatim, Len(32, 32)] | None = None
    api_key: Annotated[str, Verbatim, Len(32, 32)] | None = None
    private_key: PrivateKeyPem | None = None
    cert_serial_no: Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{8,64}$")] | None = None
    platform_public_key: PublicKeyPem | None = None
    platform_public_key_id: Annotated[str, Verbatim, Len(0, 64)] | None = None
    platform_cert: PublicKeyPem | None = Field(
        default=None, description="WeChat Pay platform certificate (PEM), instead of its public key"
    )
    sign_type: Literal["MD5", "HMAC-SHA256"] | None = Field(
        default=None, description="WeChat Pay v2 signature type (MD5 unless set)"
    )
    alipay_public_key: PublicKeyPem | None = None
    app_auth_token: Annotated[str, Verbatim, Len(8, 128)] | None = None


class MerchantAccountCreate(Strict):
    name: Name
    provider: PaymentProvider
    mode: AccountMode = AccountMode.DIRECT
    mch_id: MerchantId | None = Field(
        default=None, description="WeChat Pay mchid (sp_mchid in partner mode); Alipay seller id"
    )
    app_id: Annotated[str, StringConstraints(pattern=r"^(wx[0-9a-f]{16}|20[0-9]{14})$")] | None = (
        None
    )
    sub_mchid: MchId | None = None
    sub_appid: WechatAppId | None = None
    secrets: AccountSecrets


class MerchantAccountUpdate(Change):
    name: Omittable[Name] = None
    sub_mchid: Omittable[MchId] = None
    sub_appid: Omittable[WechatAppId] = None
    secrets: Omittable[AccountSecrets] = None
    status: Omittable[Status] = None


class MerchantAccountOut(FromRow):
    id: int
    key: str
    name: str
    provider: PaymentProvider
    mode: AccountMode
    mch_id: str
    app_id: str
    sub_mchid: str
    sub_appid: str
    secret_names: list[str]
    notify_url: str
    status: Status
    created_at: datetime

    @classmethod
    def of_account(cls, account: Any, *, notify_url: str) -> MerchantAccountOut:
        """The account as head office sees it: secret names, never their values."""
        fields = {name: getattr(account, name) for name in cls.model_fields if name != "notify_url"}
        return cls.model_validate({**fields, "notify_url": notify_url})


class AccountFilter(BaseModel):
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)
    provider: PaymentProvider | None = None
    status: Status | None = None


class RouteCreate(Strict):
    store_id: Id
    provider: PaymentProvider
    account_id: Id


class RouteUpdate(Change):
    account_id: Omittable[Id] = None
    status: Omittable[Status] = None


class RouteOut(FromRow):
    id: int
    store_id: int
    provider: PaymentProvider
    account_id: int
    status: Status


class RouteFilter(BaseModel):
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)
    store_id: Id | None = None
    provider: PaymentProvider | None = None


class RouteImportOut(BaseModel):
    created: int
    updated: int


class StorePage(Page[StoreOut]):
    pass


class StaffPage(Page[StaffOut]):
    pass


class AccountPage(Page[MerchantAccountOut]):
    pass


class RoutePage(Page[RouteOut]):
    pass


class WechatAppList(BaseModel):
    items: list[WechatAppOut]


class AlipayAppList(BaseModel):
    items: list[AlipayAppOut]


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class RouteCsvRow(Strict):
    """One line of a route import: `store_code,provider,account_key`."""

    store_code: Code
    provider: PaymentProvider
    account_key: Annotated[str, StringConstraints(min_length=1, max_length=32)]

    _blank = field_validator("*", mode="before")(_blank_to_none)


# Audit log ---------------------------------------------------------------------------------

AuditText = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class AuditFilter(BaseModel):
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    action: AuditText | None = Field(default=None, description='e.g. "store.update"')
    actor: AuditText | None = Field(default=None, description='e.g. "staff:12"')
    target: AuditText | None = Field(default=None, description='e.g. "store:7"')
    since: AwareDatetime | None = Field(default=None, description="made at or after (ISO 8601)")
    until: AwareDatetime | None = Field(default=None, description="made before (ISO 8601)")


class AuditEntryOut(FromRow):
    id: int
    actor: str = Field(description='who: "staff:12", "member:3", "system"')
    action: str = Field(description='what: "store.update", "payment_route.import" …')
    target: str = Field(description='to which row: "store:7" …')
    details: dict[str, Any]
    request_id: str = Field(description="X-Request-Id of the request; empty for jobs")
    created_at: datetime


class AuditPage(Page[AuditEntryOut]):
    pass
