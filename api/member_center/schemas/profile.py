"""Logins and the member's own profile, as the mini-program sees them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from api.core.fields import Change, Day, Len, Line, Omittable, Verbatim
from api.member_center.models import Gender, MemberStatus

Code = Annotated[str, Line, Len(1, 128)]
Scene = Annotated[str, Verbatim, Len(0, 64)]  # kept on the member's relation (64 characters)
WechatAppId = Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")]
Nickname = Annotated[str, Line, Len(1, 32)]
# Checked once normalised (an IDN host grows when encoded): the column holds 512 characters.
AvatarUrl = Annotated[AnyHttpUrl, Len(1, 512)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WxaLoginIn(Strict):
    appid: WechatAppId
    code: Code
    scene: Scene | None = None


class WxaPhoneIn(Strict):
    code: Code
    appid: WechatAppId | None = None
    scene: Scene | None = None


class OaOAuthIn(Strict):
    appid: WechatAppId
    code: Code
    scene: Scene | None = None


class AlipayLoginIn(Strict):
    app_id: Annotated[str, StringConstraints(pattern=r"^20[0-9]{14}$")]
    auth_code: Code


class AlipayPhoneIn(Strict):
    """my.getPhoneNumber()'s answer as the mini-program received it."""

    response: Annotated[str, Verbatim, Len(16, 4096)]
    sign: Annotated[str, Verbatim, Len(16, 1024)]
    app_id: Annotated[str, StringConstraints(pattern=r"^20[0-9]{14}$")] | None = None


class LevelBrief(BaseModel):
    id: int
    name: str
    rank: int
    discount_pct: int
    points_rate_pct: int
    free_delivery: bool
    benefits: list[Any]


class StoreBrief(BaseModel):
    id: int
    code: str
    name: str


class GuideBrief(BaseModel):
    id: int
    name: str


class WalletBrief(BaseModel):
    principal_fen: int
    bonus_fen: int
    total_fen: int


class MemberOut(BaseModel):
    id: int
    member_no: str
    status: MemberStatus
    nickname: str
    avatar_url: str
    gender: Gender
    birthday: date | None
    phone: str = Field(description="Masked: 138****5678")
    level: LevelBrief | None
    growth: int
    points: int
    wallet: WalletBrief
    home_store: StoreBrief | None
    guide: GuideBrief | None
    registered_at: datetime | None


class LoginOut(BaseModel):
    token: str
    is_member: bool
    member: MemberOut | None


class ProfileUpdate(Change):
    nickname: Omittable[Nickname] = None
    avatar_url: Omittable[AvatarUrl] = None
    gender: Omittable[Gender] = None
    birthday: Omittable[Day] = None  # set once; never removed


class ExportOut(BaseModel):
    """Everything memberhub holds about the caller (personal data export)."""

    member: dict[str, Any]
    identities: list[dict[str, Any]]
    points_entries: list[dict[str, Any]]
    wallet_entries: list[dict[str, Any]]
    growth_entries: list[dict[str, Any]]
    relations: list[dict[str, Any]]
    tags: list[str]
    exported_at: datetime


class ErasedOut(BaseModel):
    erased: bool
