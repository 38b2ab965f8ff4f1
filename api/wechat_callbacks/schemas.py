"""What crosses the wire for head office's keyword auto-replies, menus, staff invites and the
store and guide QR codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.core.fields import Change, Len, Line, Omittable, Verbatim
from api.org.models import WechatAppKind

from .models import (
    MatchKind,
    MenuKind,
    QrTarget,
    StaffWechatBinding,
    WechatAutoReply,
    WechatQrCode,
)

Keyword = Annotated[str, Line, Len(1, 32)]
# WeChat cuts a passive text reply at 2048 bytes; 600 characters of Chinese stay under it.
ReplyText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$"),
    Len(1, 600),
]


class AutoReplyOut(BaseModel):
    id: int
    keyword: str
    match: MatchKind
    reply_text: str
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, rule: WechatAutoReply) -> AutoReplyOut:
        return cls(
            id=rule.id,
            keyword=rule.keyword,
            match=rule.match,
            reply_text=rule.reply_text,
            active=rule.active,
            created_at=rule.created_at,
            updated_at=rule.updated_at,
        )


class AutoReplyList(BaseModel):
    items: list[AutoReplyOut]


class AutoReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    keyword: Keyword
    match: MatchKind = MatchKind.EXACT
    reply_text: ReplyText
    active: bool = True


class AutoReplyPatch(Change):
    model_config = ConfigDict(strict=True)

    keyword: Omittable[Keyword] = None
    match: Omittable[MatchKind] = None
    reply_text: Omittable[ReplyText] = None
    active: Omittable[bool] = None


# Store and guide QR codes ------------------------------------------------------------------

AppId = Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")]


class QrCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: WechatAppKind = Field(
        description="official_account (a permanent parametric QR code) or miniprogram (a code)"
    )
    appid: AppId | None = Field(
        default=None, description="which app of the brand; default: its first active one of kind"
    )


class QrCodeOut(BaseModel):
    """The QR code: its scene, the image's address and what WeChat answered."""

    id: int
    kind: WechatAppKind
    target: QrTarget
    store_id: int | None
    staff_id: int | None
    scene: str = Field(description="`s=<store code>` or `g=<guide code>`")
    appid: str
    image_url: str = Field(description="the PNG, for staff of the same scope")
    url: str | None = Field(description="official account: the content the QR code encodes")
    ticket: str | None = Field(description="official account: the ticket for showqrcode")
    page: str | None = Field(description="mini-program: the page the code opens")
    created_at: datetime

    @classmethod
    def of(cls, qrcode: WechatQrCode) -> QrCodeOut:
        official = qrcode.kind == WechatAppKind.OFFICIAL_ACCOUNT
        return cls(
            id=qrcode.id,
            kind=WechatAppKind(qrcode.kind),
            target=qrcode.target,
            store_id=qrcode.store_id,
            staff_id=qrcode.staff_id,
            scene=qrcode.scene,
            appid=qrcode.appid,
            image_url=f"/api/v1/admin/qrcodes/{qrcode.id}/image.png",
            url=qrcode.url if official else None,
            ticket=qrcode.ticket if official else None,
            page=None if official else qrcode.page,
            created_at=qrcode.created_at,
        )


class QrZipQuery(BaseModel):
    kind: WechatAppKind = Field(description="official_account or miniprogram")
    include_guides: bool = Field(default=False, description="guides' codes too, under guides/")


# Official-account menus (WeChat's `button` form) ---------------------------------------------


class ButtonType(StrEnum):
    CLICK = "click"
    VIEW = "view"
    SCANCODE_PUSH = "scancode_push"
    SCANCODE_WAITMSG = "scancode_waitmsg"
    PIC_SYSPHOTO = "pic_sysphoto"
    PIC_PHOTO_OR_ALBUM = "pic_photo_or_album"
    PIC_WEIXIN = "pic_weixin"
    LOCATION_SELECT = "location_select"
    MINIPROGRAM = "miniprogram"
    MEDIA_ID = "media_id"
    ARTICLE_ID = "article_id"
    ARTICLE_VIEW_LIMITED = "article_view_limited"


# Which field each button type needs besides its name, as WeChat's menu API requires.
KEYED = {
    ButtonType.CLICK,
    ButtonType.SCANCODE_PUSH,
    ButtonType.SCANCODE_WAITMSG,
    ButtonType.PIC_SYSPHOTO,
    ButtonType.PIC_PHOTO_OR_ALBUM,
    ButtonType.PIC_WEIXIN,
    ButtonType.LOCATION_SELECT,
}
REQUIRED: dict[ButtonType, tuple[str, ...]] = {
    **{kind: ("key",) for kind in KEYED},
    ButtonType.VIEW: ("url",),
    ButtonType.MINIPROGRAM: ("url", "appid", "pagepath"),
    ButtonType.MEDIA_ID: ("media_id",),
    ButtonType.ARTICLE_ID: ("article_id",),
    ButtonType.ARTICLE_VIEW_LIMITED: ("article_id",),
}
# WeChat counts a button's name in bytes: 16 on the bar (4 Chinese characters), 60 below it.
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$"), Len(1, 1000)]


class _Button(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Line, Len(1, 60)]
    key: Annotated[str, Verbatim, Len(1, 128)] | None = None
    url: Url | None = None
    appid: Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")] | None = None
    pagepath: Annotated[str, Verbatim, Len(1, 256)] | None = None
    media_id: Annotated[str, Verbatim, Len(1, 128)] | None = None
    article_id: Annotated[str, Verbatim, Len(1, 128)] | None = None

    def _check(self, kind: ButtonType | None, name_bytes: int) -> None:
        if len(self.name.encode()) > name_bytes:
            raise ValueError(f"name is longer than {name_bytes} bytes")
        if kind is None:
            raise ValueError("type is required on a button without sub_button")
        missing = [field for field in REQUIRED[kind] if getattr(self, field) is None]
        if missing:
            raise ValueError(f"a {kind.value} button needs {', '.join(missing)}")
        if self.key is not None and len(self.key.encode()) > KEY_BYTES:
            raise ValueError(f"key is longer than {KEY_BYTES} bytes")


class SubButton(_Button):
    type: ButtonType

    @model_validator(mode="after")
    def _fits_its_type(self) -> SubButton:
        self._check(self.type, SUB_NAME_BYTES)
        return self


class MenuButton(_Button):
    type: ButtonType | None = None
    sub_button: Annotated[list[SubButton], Field(min_length=1, max_length=5)] | None = None

    @model_validator(mode="after")
    def _fits_its_type(self) -> MenuButton:
        if self.sub_button is None:
            self._check(self.type, TOP_NAME_BYTES)
        elif len(self.name.encode()) > TOP_NAME_BYTES:
            raise ValueError(f"name is longer than {TOP_NAME_BYTES} bytes")
        elif self.type is not None or any(
            getattr(self, field) is not None
            for field in ("key", "url", "appid", "pagepath", "media_id", "article_id")
        ):
            raise ValueError("a button with sub_button has a name only")
        return self


class MenuIn(BaseModel):
    """A menu in WeChat's form: at most 3 buttons on the bar, at most 5 under each."""

    model_config = ConfigDict(extra="forbid", strict=True)

    button: Annotated[list[MenuButton], Field(min_length=1, max_length=3)]

    def wechat(self) -> list[dict[str, Any]]:
        """The buttons as WeChat's menu API takes them."""
        return [button.model_dump(mode="json", exclude_none=True) for button in self.button]


class MenuOut(BaseModel):
    kind: MenuKind
    button: list[dict[str, Any]]
    defined: bool  # false: nothing saved, the default shown (the staff menu) or none (consumer)
    published_at: datetime | None


class MenusOut(BaseModel):
    appid: str
    staff_tag_id: int | None
    items: list[MenuOut]


# Staff on the official account -----------------------------------------------------------------


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    appid: Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")] | None = None


class InviteOut(BaseModel):
    invite_id: int
    staff_id: int
    appid: str
    scene: str
    ticket: str
    url: str
    qr_png_base64: str
    expires_at: datetime


class BindingOut(BaseModel):
    appid: str
    openid: str
    bound_at: datetime

    @classmethod
    def of(cls, row: StaffWechatBinding) -> BindingOut:
        return cls(appid=row.appid, openid=row.openid, bound_at=row.bound_at)


class BindingList(BaseModel):
    staff_id: int
    items: list[BindingOut]
