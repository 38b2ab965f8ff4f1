"""Logins and the member's own profile, as the mini-program sees them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from api.core.fields import Change, Day, Len, Line, Omittable, Verbatim
from api.member_center.models import Gender, Level, Member, MemberStatus
from api.org.models import Staff, Store

# The one-time codes WeChat and Alipay hand the client are letters, digits, `-` and `_`.
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z_-]{1,128}$")]
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

    @classmethod
    def of(cls, level: Level) -> LevelBrief:
        return cls(
            id=level.id,
            name=level.name,
            rank=level.rank,
            discount_pct=level.discount_pct,
            points_rate_pct=level.points_rate_pct,
            free_delivery=level.free_delivery,
            benefits=list(level.benefits or []),
        )


class StoreBrief(BaseModel):
    id: int
    code: str
    name: str

    @classmethod
    def of(cls, store: Store) -> StoreBrief:
        return cls(id=store.id, code=store.code, name=store.name)


class GuideBrief(BaseModel):
    id: int
    name: str

    @classmethod
    def of(cls, guide: Staff) -> GuideBrief:
        return cls(id=guide.id, name=guide.name)


class WalletBrief(BaseModel):
    principal_fen: int
    bonus_fen: int
    total_fen: int

    @classmethod
    def of(cls, member: Member) -> WalletBrief:
        return cls(
            principal_fen=member.wallet_principal_fen,
            bonus_fen=member.wallet_bonus_fen,
            total_fen=member.wallet_principal_fen + member.wallet_bonus_fen,
        )


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

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        """A member whose level, home store and guide are loaded (those that are set)."""
        level = member.level if member.level_id is not None else None
        store = member.home_store if member.home_store_id is not None else None
        guide = member.guide if member.guide_id is not None else None
        return cls(
            id=member.id,
            member_no=member.member_no,
            status=member.status,
            nickname=member.nickname,
            avatar_url=member.avatar_url,
            gender=member.gender,
            birthday=member.birthday,
            phone=member.phone_masked,
            level=LevelBrief.of(level) if level is not None else None,
            growth=member.growth,
            points=member.points_balance,
            wallet=WalletBrief.of(member),
            home_store=StoreBrief.of(store) if store is not None else None,
            guide=GuideBrief.of(guide) if guide is not None else None,
            registered_at=member.registered_at,
        )


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
