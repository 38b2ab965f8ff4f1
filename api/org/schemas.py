"""What crosses the wire for the org domain. Secrets go in, never out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

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

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
WechatAppId = Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")]
AlipayAppId = Annotated[str, StringConstraints(pattern=r"^20[0-9]{14}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
# The Alipay console's AES key: base64 of 16 bytes.
AesKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{22}==$")]
MchId = Annotated[str, StringConstraints(pattern=r"^[0-9]{8,12}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Brand -------------------------------------------------------------------------------------


class BrandSettingsIn(Strict):
    member_code_ttl_s: int | None = Field(default=None, ge=15, le=600)
    attribution_policy: AttributionPolicy | None = None
    attribution_window_days: int | None = Field(default=None, ge=1, le=3650)
    points_expiry_years: int | None = Field(default=None, ge=0, le=10)
    points_frozen_days: int | None = Field(default=None, ge=0, le=90)
    wallet_refund_principal_only: bool | None = None


class BrandUpdate(Strict):
    name: Name | None = None
    settings: BrandSettingsIn | None = None


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
    city: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=255)
    lat: Decimal | None = Field(default=None, ge=-90, le=90, decimal_places=6)
    lng: Decimal | None = Field(default=None, ge=-180, le=180, decimal_places=6)
    kind: StoreKind = StoreKind.DIRECT


class StoreUpdate(Strict):
    name: Name | None = None
    city: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=255)
    lat: Decimal | None = Field(default=None, ge=-90, le=90, decimal_places=6)
    lng: Decimal | None = Field(default=None, ge=-180, le=180, decimal_places=6)
    kind: StoreKind | None = None
    status: Status | None = None


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
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    status: Status | None = None
    kind: StoreKind | None = None
    city: str | None = None


# Staff -------------------------------------------------------------------------------------


class StaffCreate(Strict):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
    name: Name
    role: StaffRole
    store_id: int | None = None
    guide_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,16}$")] | None = None
    password: Password


class StaffUpdate(Strict):
    name: Name | None = None
    role: StaffRole | None = None
    store_id: int | None = None
    guide_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,16}$")] | None = None
    password: Password | None = None
    status: Status | None = None


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
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    role: StaffRole | None = None
    store_id: int | None = None
    status: Status | None = None


class StaffLoginIn(Strict):
    brand: Code
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class StaffLoginOut(BaseModel):
    token: str
    staff: StaffOut


# Platform apps -----------------------------------------------------------------------------


class WechatAppCreate(Strict):
    kind: WechatAppKind
    appid: WechatAppId
    name: Name
    app_secret: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{32}$")]
    push_token: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{3,32}$")] | None = None
    encoding_aes_key: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{43}$")] | None = None
    message_mode: MessageMode = MessageMode.PLAIN


class WechatAppUpdate(Strict):
    name: Name | None = None
    app_secret: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{32}$")] | None = None
    push_token: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{3,32}$")] | None = None
    encoding_aes_key: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{43}$")] | None = None
    message_mode: MessageMode | None = None
    status: Status | None = None


class WechatAppOut(FromRow):
    id: int
    kind: WechatAppKind
    appid: str
    name: str
    message_mode: MessageMode
    has_push_token: bool
    has_encoding_aes_key: bool
    status: Status


class AlipayAppCreate(Strict):
    app_id: AlipayAppId
    name: Name
    app_private_key: Annotated[str, StringConstraints(min_length=100, max_length=8000)]
    alipay_public_key: Annotated[str, StringConstraints(min_length=100, max_length=4000)]
    aes_key: AesKey | None = None


class AlipayAppUpdate(Strict):
    name: Name | None = None
    app_private_key: Annotated[str, StringConstraints(min_length=100, max_length=8000)] | None = (
        None
    )
    alipay_public_key: Annotated[str, StringConstraints(min_length=100, max_length=4000)] | None = (
        None
    )
    aes_key: AesKey | None = None
    status: Status | None = None


class AlipayAppOut(FromRow):
    id: int
    app_id: str
    name: str
    has_aes_key: bool
    status: Status


# Merchant accounts and routes --------------------------------------------------------------


class AccountSecrets(Strict):
    """Keys and certificates of a merchant account. Stored encrypted; never shown again."""

    api_v3_key: Annotated[str, StringConstraints(min_length=32, max_length=32)] | None = None
    api_key: Annotated[str, StringConstraints(min_length=32, max_length=32)] | None = None
    private_key: Annotated[str, StringConstraints(min_length=100, max_length=8000)] | None = None
    cert_serial_no: Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{8,64}$")] | None = None
    platform_public_key: (
        Annotated[str, StringConstraints(min_length=100, max_length=4000)] | None
    ) = None
    platform_public_key_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    alipay_public_key: Annotated[str, StringConstraints(min_length=100, max_length=4000)] | None = (
        None
    )
    app_auth_token: Annotated[str, StringConstraints(min_length=8, max_length=128)] | None = None


class MerchantAccountCreate(Strict):
    name: Name
    provider: PaymentProvider
    mode: AccountMode = AccountMode.DIRECT
    mch_id: MchId | None = None
    app_id: Annotated[str, StringConstraints(pattern=r"^(wx[0-9a-f]{16}|20[0-9]{14})$")] | None = (
        None
    )
    sub_mchid: MchId | None = None
    sub_appid: WechatAppId | None = None
    secrets: AccountSecrets


class MerchantAccountUpdate(Strict):
    name: Name | None = None
    sub_mchid: MchId | None = None
    sub_appid: WechatAppId | None = None
    secrets: AccountSecrets | None = None
    status: Status | None = None


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


class AccountFilter(BaseModel):
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    provider: PaymentProvider | None = None
    status: Status | None = None


class RouteCreate(Strict):
    store_id: int
    provider: PaymentProvider
    account_id: int


class RouteUpdate(Strict):
    account_id: int | None = None
    status: Status | None = None


class RouteOut(FromRow):
    id: int
    store_id: int
    provider: PaymentProvider
    account_id: int
    status: Status


class RouteFilter(BaseModel):
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    store_id: int | None = None
    provider: PaymentProvider | None = None


class RouteImportOut(BaseModel):
    created: int
    updated: int


class PageOf(BaseModel):
    next_cursor: str | None


class StorePage(PageOf):
    items: list[StoreOut]


class StaffPage(PageOf):
    items: list[StaffOut]


class AccountPage(PageOf):
    items: list[MerchantAccountOut]


class RoutePage(PageOf):
    items: list[RouteOut]


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


class AuditPage(PageOf):
    items: list[AuditEntryOut]
